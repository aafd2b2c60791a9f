package restarter

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// twoDeployments are web and api in namespace m, each with one stale pod.
func twoDeployments() []client.Object {
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "m"}}}
	for _, name := range []string{"api", "web"} {
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
		objs = append(objs,
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: name, UID: types.UID("m/" + name), Generation: 1},
				Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: sel},
				Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}},
			&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: name + "-1", UID: types.UID("m/" + name + "-1"), OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: types.UID("m/" + name), Controller: ptr.To(true),
			}}}, Spec: appsv1.ReplicaSetSpec{Selector: sel}},
			testPod("m", name+"-1-a", "native", "1.27.3", ownedBy("apps/v1", "ReplicaSet", name+"-1")),
		)
	}
	return objs
}

// recorded counts Events by reason and workload.
type recorded struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *recorded) Eventf(regarding, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	ref := regarding.(*corev1.ObjectReference)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[reason+" "+ref.Kind+" "+ref.Namespace+"/"+ref.Name]++
}

func (r *recorded) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

func fakeClient(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	base := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	return interceptor.NewClient(base, funcs)
}

func TestLostPatchAnswerIsReportedOnceOnTheNextRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	d := decision(t, "1.30.0", false)
	lose := true
	c := fakeClient(t, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			if lose && obj.GetName() == "web" {
				// Carried out, the answer lost on the way.
				return io.ErrUnexpectedEOF
			}
			return nil
		},
	}, twoDeployments()...)
	events := &recorded{}
	r := New(c, events, Options{})

	s, err := r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred(), "one workload's failed patch is not the run's error")
	g.Expect(s.Restarted.Names).To(Equal([]string{"Deployment m/api"}))
	g.Expect(s.Pending.Names).To(Equal([]string{"Deployment m/web"}))
	g.Expect(s.ErrorCount).To(Equal(1))
	g.Expect(s.LastError()).To(ContainSubstring("patch the pod template of Deployment m/web"))
	g.Expect(s.InProgress).To(BeTrue())
	g.Expect(events.count(EventRolloutRestarted + " Deployment m/web")).To(BeZero())

	lose = false
	s, err = r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Names).To(Equal([]string{"Deployment m/web"}), "the marker is there: the restart began")
	g.Expect(s.ErrorCount).To(BeZero())
	g.Expect(events.count(EventRolloutRestarted + " Deployment m/web")).To(Equal(1))

	s, err = r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Count).To(BeZero(), "reported once")
	g.Expect(events.count(EventRolloutRestarted + " Deployment m/web")).To(Equal(1))
	g.Expect(events.count(EventRolloutRestarted + " Deployment m/api")).To(Equal(1))

	var web appsv1.Deployment
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: "m", Name: "web"}, &web)).To(Succeed())
	g.Expect(web.Annotations).To(HaveKeyWithValue(RestartAnnotation, d.Target()), "the record on the workload itself")
	g.Expect(web.Spec.Template.Annotations).To(HaveKeyWithValue(RestartAnnotation, d.Target()))
}

func TestFailedPatchThatDidNotLandIsRestartedOnTheNextRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	d := decision(t, "1.30.0", false)
	fail := true
	c := fakeClient(t, interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if fail {
				return apierrors.NewInternalError(errors.New("etcd is down"))
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}, twoDeployments()...)
	events := &recorded{}
	r := New(c, events, Options{})
	s, err := r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Count).To(BeZero())
	g.Expect(s.Pending.Count).To(Equal(2))
	g.Expect(s.ErrorCount).To(Equal(2))

	fail = false
	s, err = r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Names).To(Equal([]string{"Deployment m/api", "Deployment m/web"}))
	g.Expect(events.count(EventRolloutRestarted + " Deployment m/web")).To(Equal(1))
}

func TestUnreadableOwnerIsThatWorkloadsProblem(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	d := decision(t, "1.30.0", false)
	c := fakeClient(t, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if key.Name == "web-1" || key.Name == "web" {
				return apierrors.NewTooManyRequests("slow down", 1)
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, pods := list.(*corev1.PodList); !pods {
				// No owner listings: every owner is read by name.
				return apierrors.NewTooManyRequests("slow down", 1)
			}
			return c.List(ctx, list, opts...)
		},
	}, twoDeployments()...)
	s, err := New(c, &recorded{}, Options{}).Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Names).To(Equal([]string{"Deployment m/api"}))
	g.Expect(s.Pending.Count).To(Equal(1))
	g.Expect(s.ErrorCount).To(BeNumerically(">=", 1))
	g.Expect(s.LastError()).To(ContainSubstring("web-1"))
}

func TestLostEvictionAnswerIsReportedOnTheNextRun(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	d := decision(t, "1.30.0", false)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "q"}}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "m"}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "q", UID: "m/q", Generation: 1},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: sel,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2}},
		testPod("m", "q-0", "regular", "1.30.2", ownedBy("apps/v1", "StatefulSet", "q")),
		testPod("m", "q-1", "regular", "1.30.2", ownedBy("apps/v1", "StatefulSet", "q")),
	}
	lose := true
	c := fakeClient(t, interceptor.Funcs{
		SubResourceCreate: func(ctx context.Context, c client.Client, sub string, obj, subObj client.Object, opts ...client.SubResourceCreateOption) error {
			if err := c.SubResource(sub).Create(ctx, obj, subObj, opts...); err != nil {
				return err
			}
			if lose {
				return io.ErrUnexpectedEOF
			}
			return nil
		},
	}, objs...)
	events := &recorded{}
	r := New(c, events, Options{})
	s, err := r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.Restarted.Names).To(Equal([]string{"StatefulSet m/q"}), "marked: the restart began")
	g.Expect(s.ErrorCount).To(Equal(1))
	g.Expect(events.count(EventPodEvicted + " StatefulSet m/q")).To(BeZero())
	var pod corev1.Pod
	g.Expect(apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Namespace: "m", Name: "q-0"}, &pod))).To(BeTrue(), "evicted all the same")

	lose = false
	_, err = r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(events.count(EventPodEvicted+" StatefulSet m/q")).To(Equal(1), "reported on the next run")
	_, err = r.Run(ctx, d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(events.count(EventPodEvicted+" StatefulSet m/q")).To(Equal(1), "once")
}
