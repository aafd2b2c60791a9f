package restarter

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

const target = "1.30.2/native"

func TestDecide(t *testing.T) {
	ref := WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "a", Name: "web"}
	rollout := func(marker string, settled bool) *workload.Facts {
		return &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Marker: marker, Settled: settled, Progress: "1 of 2 replicas updated", Strategy: "RollingUpdate"}
	}
	evictW := func(marker string, settled bool) *workload.Facts {
		return &workload.Facts{Ref: ref, Mode: workload.ModeEvict, Marker: marker, Settled: settled, Progress: "1 of 2 pods ready", Strategy: "OnDelete", Desired: 2}
	}
	next := &podRef{Name: "web-0", UID: "u"}
	tests := []struct {
		name       string
		e          entry
		skip       bool
		action     Action
		inProgress bool
		why        string
	}{
		{name: "nothing stale", e: entry{w: rollout("", true)}, skip: true},
		{name: "nothing stale, restarted and settled", e: entry{w: rollout(target, true)}, skip: true},
		{name: "nothing stale, restarted for another target, rolling", e: entry{w: rollout("1.27.3/native", false)}, skip: true},
		{
			name: "nothing stale, restart still rolling", e: entry{w: rollout(target, false)},
			action: ActionPending, inProgress: true, why: "restarted for 1.30.2/native; waiting for the rollout: 1 of 2 replicas updated",
		},
		{
			name: "stale, never restarted", e: entry{w: rollout("", true), stale: 2, evict: next},
			action: ActionRolloutRestart, why: "2 stale pods (1.27.3, expected 1.30.2); roll it out by setting the pod-template annotation " + RestartAnnotation + "=1.30.2/native",
		},
		{
			name: "stale, restarted for an older target", e: entry{w: rollout("1.27.3/regular", true), stale: 1, evict: next},
			action: ActionRolloutRestart,
		},
		{
			name: "stale, restarted for another target and still rolling", e: entry{w: rollout("1.27.3/regular", false), stale: 1, evict: next},
			action: ActionRolloutRestart,
		},
		{
			name: "stale, restart rolling", e: entry{w: rollout(target, false), stale: 2, evict: next},
			action: ActionPending, inProgress: true, why: "restarted for 1.30.2/native; waiting for the rollout: 1 of 2 replicas updated",
		},
		{
			name: "stale after the restart settled", e: entry{w: rollout(target, true), stale: 2, staleAfterRestart: 2},
			action: ActionNotConverging,
			why: "restarted for 1.30.2/native and the rollout finished, but 2 stale pods (1.27.3, expected 1.30.2), 2 of them " +
				"created by the restart: the injector does not inject what the operator expects; not restarting it again",
		},
		{
			// The pods were listed before the workload was read: the old ones are leaving.
			name: "rollout finished, old pods listed a moment before", e: entry{w: rollout(target, true), stale: 2, evict: next},
			action: ActionPending, inProgress: true,
			why: "restarted for 1.30.2/native; waiting for the rollout: the rollout finished; its old pods are being replaced",
		},
		{
			name: "restart unsettled for too long", e: entry{w: rollout(target, false), stale: 2, evict: next, timedOut: true, waited: 16 * time.Minute},
			action: ActionNotConverging,
			why: "restarted for 1.30.2/native, but after 16m0s it has still not settled (1 of 2 replicas updated) and " +
				"2 stale pods (1.27.3, expected 1.30.2); not restarting it again",
		},
		{name: "nothing stale, restart unsettled for too long", e: entry{w: rollout(target, false), timedOut: true}, skip: true},
		{
			name: "evictions unsettled for too long", e: entry{w: evictW(target, true), stale: 1, evict: next, ready: 1, timedOut: true},
			action: ActionNotConverging,
		},
		{
			name:   "rollout finished, partition keeps old pods",
			e:      entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Marker: target, Settled: true, Keeps: "its RollingUpdate partition 1 keeps x"}, stale: 1, evict: next},
			action: ActionNotConverging,
			why:    "restarted for 1.30.2/native and the rollout finished, but 1 stale pod (1.27.3, expected 1.30.2): its RollingUpdate partition 1 keeps x; not restarting it again",
		},
		{
			name:   "rollout failed",
			e:      entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Marker: target, Settled: true, Failed: true, Progress: "the rollout exceeded its progress deadline: x"}, stale: 1, evict: next},
			action: ActionNotConverging, why: "restarted for 1.30.2/native, but the rollout exceeded its progress deadline: x; 1 stale pod (1.27.3, expected 1.30.2); not restarting it again",
		},
		{
			name: "marker reverted after our restart", e: entry{w: rollout("", true), stale: 2, evict: next, restartedBefore: true},
			action: ActionNotConverging,
		},
		{
			name:   "template marker stripped, the workload's own record says restarted (after an operator restart)",
			e:      entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Recorded: target, Settled: true, Strategy: "RollingUpdate"}, stale: 2, evict: next},
			action: ActionNotConverging,
			why: "restarted for 1.30.2/native before (the Deployment carries " + RestartAnnotation + "=1.30.2/native), but its pod template " +
				"no longer carries it (reverted by another tool?) and 2 stale pods (1.27.3, expected 1.30.2); not restarting it again",
		},
		{
			name: "the workload's record is of an older target", e: entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Recorded: "1.27.3/native", Settled: true}, stale: 2, evict: next},
			action: ActionRolloutRestart,
		},
		{
			name: "a restart whose answer was lost, found landed, settled at once", e: entry{w: rollout(target, true), confirmed: true},
			action: ActionPending, why: "restarted for 1.30.2/native; done",
		},
		{
			name: "only pods created by a restart for the target are stale, marker gone", e: entry{w: rollout("", true), stale: 2, staleAfterRestart: 2},
			action: ActionNotConverging,
		},
		{
			name: "namespace opted out", e: entry{w: rollout("", true), stale: 1, evict: next, nsOptedOut: true},
			action: ActionOptedOut, why: "1 stale pod (1.27.3, expected 1.30.2); namespace a is annotated " + OptOutAnnotation + "=disabled, so the restarter leaves it alone",
		},
		{
			name: "workload opted out", e: entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeRollout, OptedOut: true}, stale: 1, evict: next},
			action: ActionOptedOut,
		},
		{
			name: "opted out beats manual", e: entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeManual, OptedOut: true, Why: "a Job"}, stale: 1},
			action: ActionOptedOut,
		},
		{
			name: "namespace unreadable", e: entry{w: rollout("", true), stale: 1, evict: next, nsErr: errors.New("boom")},
			action: ActionPending,
		},
		{
			name: "manual", e: entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeManual, Why: "a Job: x"}, stale: 1},
			action: ActionManual, why: "manual restart required: 1 stale pod (1.27.3, expected 1.30.2); it is a Job: x",
		},
		{
			name: "owner gone", e: entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeUnresolved, Why: "gone"}, stale: 1},
			action: ActionPending, why: "gone",
		},
		{
			name: "evict, never restarted, ready", e: entry{w: evictW("", true), stale: 2, evict: next, ready: 2},
			action: ActionEvict,
			why: "2 stale pods (1.27.3, expected 1.30.2); its update strategy is OnDelete, so a template change replaces no pod: " +
				"evict the stale pods one at a time, starting with web-0",
		},
		{
			name: "evict, never restarted, not ready", e: entry{w: evictW("", false), stale: 2, evict: next, ready: 1},
			action: ActionPending,
		},
		{
			name: "evict, restarted, ready, stale left", e: entry{w: evictW(target, true), stale: 1, evict: next, ready: 2},
			action: ActionEvict, inProgress: true, why: "restarted for 1.30.2/native; 1 stale pods left, evicting web-0 next",
		},
		{
			// The status lags behind the last eviction; the pod list does not.
			name: "evict, restarted, status ready, a pod missing from the list", e: entry{w: evictW(target, true), stale: 1, evict: next, ready: 1},
			action: ActionPending, inProgress: true,
			why: "restarted for 1.30.2/native; waiting for the recreated pods before the next eviction: 1 of 2 pods running and ready",
		},
		{
			name: "evict, restarted, replacement not ready", e: entry{w: evictW(target, false), stale: 1, evict: next},
			action: ActionPending, inProgress: true,
		},
		{
			name: "evict, restarted, replacement stale", e: entry{w: evictW(target, true), stale: 2, staleAfterRestart: 1, evict: next, ready: 2},
			action: ActionNotConverging,
		},
		{
			name: "evict, restarted, replacement stale, not ready yet", e: entry{w: evictW(target, false), stale: 1, staleAfterRestart: 1},
			action: ActionPending, inProgress: true,
		},
		{
			name: "evict, restarted, nothing stale, last replacement not ready", e: entry{w: evictW(target, false)},
			action: ActionPending, inProgress: true, why: "restarted for 1.30.2/native; waiting for the recreated pods: 1 of 2 pods ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			e := tt.e
			e.reasons = nil
			if e.stale > 0 {
				e.reasons.add("1.27.3, expected 1.30.2")
			}
			e.layouts, e.versions = nil, nil
			wp, ok := decide(&e, target)
			g.Expect(ok).To(Equal(!tt.skip))
			if tt.skip {
				return
			}
			g.Expect(wp.Action).To(Equal(tt.action), wp.Why)
			g.Expect(wp.inProgress).To(Equal(tt.inProgress))
			if tt.why != "" {
				g.Expect(wp.Why).To(Equal(tt.why))
			}
			g.Expect(wp.Workload).To(Equal(ref))
			g.Expect(wp.StalePods).To(Equal(e.stale))
		})
	}
}

func TestPace(t *testing.T) {
	wl := func(name string, a Action, inProgress bool) WorkloadPlan {
		return WorkloadPlan{Workload: WorkloadRef{Kind: "Deployment", Namespace: "a", Name: name}, Action: a, inProgress: inProgress}
	}
	tests := []struct {
		name         string
		max          int
		in           []WorkloadPlan
		want         []Action
		wantInFlight int
	}{
		{
			name: "free slots", max: 3,
			in:   []WorkloadPlan{wl("a", ActionRolloutRestart, false), wl("b", ActionEvict, false), wl("c", ActionManual, false)},
			want: []Action{ActionRolloutRestart, ActionEvict, ActionManual},
		},
		{
			name: "limit", max: 2,
			in: []WorkloadPlan{
				wl("a", ActionRolloutRestart, false), wl("b", ActionRolloutRestart, false),
				wl("c", ActionRolloutRestart, false), wl("d", ActionEvict, false),
			},
			want: []Action{ActionRolloutRestart, ActionRolloutRestart, ActionPending, ActionPending},
		},
		{
			name: "rollouts in progress hold slots", max: 2,
			in: []WorkloadPlan{
				wl("a", ActionRolloutRestart, false), wl("b", ActionPending, true), wl("c", ActionRolloutRestart, false),
			},
			want:         []Action{ActionRolloutRestart, ActionPending, ActionPending},
			wantInFlight: 1,
		},
		{
			name: "continuing evictions are not paced again", max: 1,
			in:           []WorkloadPlan{wl("a", ActionEvict, true), wl("b", ActionEvict, true), wl("c", ActionRolloutRestart, false)},
			want:         []Action{ActionEvict, ActionEvict, ActionPending},
			wantInFlight: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			plan := &Plan{MaxConcurrentRollouts: tt.max, Workloads: tt.in}
			pace(plan)
			var got []Action
			for _, wp := range plan.Workloads {
				got = append(got, wp.Action)
			}
			g.Expect(got).To(Equal(tt.want))
			g.Expect(plan.RolloutsInProgress).To(Equal(tt.wantInFlight))
			for _, wp := range plan.Workloads {
				if wp.Action == ActionPending && !wp.inProgress {
					g.Expect(wp.Why).To(ContainSubstring(fmt.Sprintf("waiting for a free rollout slot (%d of %d in use)", tt.max, tt.max)))
				}
			}
		})
	}
}

// TestPlanResolvesOwners plans against a fake client: one entry per
// workload, owners resolved through the chain, each kind to its action.
func TestPlanResolvesOwners(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	old := "1.27.3"
	uid := func(ns, name string) types.UID { return types.UID(ns + "/" + name) }
	meta := func(name string, owner ...metav1.OwnerReference) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: "a", Name: name, UID: uid("a", name), OwnerReferences: owner, Generation: 1}
	}
	ctrlRef := func(apiVersion, kind, name string) metav1.OwnerReference {
		return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid("a", name), Controller: ptr.To(true)}
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}
	two := ptr.To[int32](2)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quiet", Annotations: map[string]string{OptOutAnnotation: OptOutDisabled}}},
		&appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: two, Selector: sel},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}},
		&appsv1.ReplicaSet{ObjectMeta: meta("web-1", ctrlRef("apps/v1", "Deployment", "web")), Spec: appsv1.ReplicaSetSpec{Selector: sel}},
		&appsv1.ReplicaSet{ObjectMeta: meta("web-2", ctrlRef("apps/v1", "Deployment", "web")), Spec: appsv1.ReplicaSetSpec{Selector: sel}},
		&appsv1.Deployment{ObjectMeta: meta("paused"), Spec: appsv1.DeploymentSpec{Paused: true, Selector: sel}},
		&appsv1.ReplicaSet{ObjectMeta: meta("paused-1", ctrlRef("apps/v1", "Deployment", "paused")), Spec: appsv1.ReplicaSetSpec{Selector: sel}},
		&appsv1.ReplicaSet{ObjectMeta: meta("lonely"), Spec: appsv1.ReplicaSetSpec{Replicas: two, Selector: sel},
			Status: appsv1.ReplicaSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2}},
		&appsv1.ReplicaSet{ObjectMeta: meta("argo-1", ctrlRef("argoproj.io/v1alpha1", "Rollout", "argo")), Spec: appsv1.ReplicaSetSpec{Selector: sel}},
		&appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{Replicas: two, Selector: sel,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2}},
		&batchv1.CronJob{ObjectMeta: meta("nightly")},
		&batchv1.Job{ObjectMeta: meta("nightly-1", ctrlRef("batch/v1", "CronJob", "nightly"))},
		&batchv1.Job{ObjectMeta: meta("once")},
	}
	pods := []*corev1.Pod{
		testPod("a", "web-1-a", "native", old, ownedBy("apps/v1", "ReplicaSet", "web-1")),
		testPod("a", "web-2-a", "regular", old, ownedBy("apps/v1", "ReplicaSet", "web-2"), annotated(sidecarmode.AnnotationNativeSidecar, "false")),
		testPod("a", "paused-1-a", "native", old, ownedBy("apps/v1", "ReplicaSet", "paused-1")),
		testPod("a", "lonely-b", "native", old, ownedBy("apps/v1", "ReplicaSet", "lonely")),
		testPod("a", "lonely-a", "native", old, ownedBy("apps/v1", "ReplicaSet", "lonely")),
		testPod("a", "argo-1-a", "native", old, ownedBy("apps/v1", "ReplicaSet", "argo-1")),
		testPod("a", "db-0", "regular", "1.30.2", ownedBy("apps/v1", "StatefulSet", "db")),
		testPod("a", "db-1", "native", "1.30.2", ownedBy("apps/v1", "StatefulSet", "db")),
		testPod("a", "nightly-1-a", "native", old, ownedBy("batch/v1", "Job", "nightly-1")),
		testPod("a", "once-a", "native", old, ownedBy("batch/v1", "Job", "once")),
		testPod("a", "gone-1-a", "native", old, ownedBy("apps/v1", "ReplicaSet", "gone-1")),
		testPod("a", "bare", "native", old),
		testPod("a", "fresh", "native", "1.30.2"),
		testPod("quiet", "bare", "native", old),
	}
	for _, p := range pods {
		objs = append(objs, p)
	}
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()

	r := New(c, nil, Options{})
	plan, err := r.Plan(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Target).To(Equal("1.30.2/native"))
	g.Expect(plan.PodsListed).To(Equal(14))
	g.Expect(plan.PodsScanned).To(Equal(14))
	g.Expect(plan.StalePods).To(Equal(12))

	got := map[string]WorkloadPlan{}
	var order []string
	for _, wp := range plan.Workloads {
		got[wp.Workload.String()] = wp
		order = append(order, wp.Workload.String())
	}
	g.Expect(order).To(Equal([]string{
		"CronJob a/nightly", "Deployment a/paused", "Deployment a/web", "Job a/once", "Pod a/bare",
		"ReplicaSet a/gone-1", "ReplicaSet a/lonely", "Rollout a/argo", "StatefulSet a/db", "Pod quiet/bare",
	}))
	web := got["Deployment a/web"]
	g.Expect(web.Action).To(Equal(ActionRolloutRestart))
	g.Expect(web.StalePods).To(Equal(2))
	g.Expect(web.Layouts).To(Equal([]sidecarmode.Layout{sidecarmode.LayoutNative, sidecarmode.LayoutRegular}))
	g.Expect(web.ProxyVersions).To(Equal([]string{old}))
	g.Expect(web.Reasons).To(Equal([]string{"1.27.3, expected 1.30.2"}))
	g.Expect(web.Strategy).To(Equal(""))

	lonely := got["ReplicaSet a/lonely"]
	g.Expect(lonely.Action).To(Equal(ActionEvict))
	g.Expect(lonely.evict.Name).To(Equal("lonely-a"))
	g.Expect(got["StatefulSet a/db"].Action).To(Equal(ActionEvict))
	g.Expect(got["StatefulSet a/db"].Reasons).To(Equal([]string{"regular, expected native"}))

	for name, why := range map[string]string{
		"Deployment a/paused": "a paused Deployment",
		"CronJob a/nightly":   "a CronJob (its Job nightly-1 runs pods with stale proxies)",
		"Job a/once":          "a Job",
		"Pod a/bare":          "a bare Pod",
		"Rollout a/argo":      "its ReplicaSet argo-1 is owned by a Rollout",
	} {
		g.Expect(got[name].Action).To(Equal(ActionManual), name)
		g.Expect(got[name].Why).To(ContainSubstring(why), name)
	}
	g.Expect(got["Rollout a/argo"].Workload.APIVersion).To(Equal("argoproj.io/v1alpha1"))
	g.Expect(got["ReplicaSet a/gone-1"].Action).To(Equal(ActionPending))
	g.Expect(got["Pod quiet/bare"].Action).To(Equal(ActionOptedOut))

	s := summarize(plan, nil)
	g.Expect(s.Restarted).To(Equal(Category{Count: 3, Names: []string{"Deployment a/web", "ReplicaSet a/lonely", "StatefulSet a/db"}}))
	g.Expect(s.ManualRestart.Count).To(Equal(5))
	g.Expect(s.Pending.Names).To(Equal([]string{"ReplicaSet a/gone-1"}))
	g.Expect(s.OptedOut.Names).To(Equal([]string{"Pod quiet/bare"}))
	g.Expect(s.InProgress).To(BeTrue())
}

// TestStuckRolloutReleasesItsSlot shows the rollout timeout: a restart that
// does not settle holds its slot, until the timeout turns it into a report.
func TestStuckRolloutReleasesItsSlot(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web", UID: "a/web", Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: sel, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{RestartAnnotation: d.Target()}},
		}},
		// The new pod never becomes available.
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1},
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-1", UID: "a/web-1", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "a/web", Controller: ptr.To(true),
	}}}, Spec: appsv1.ReplicaSetSpec{Selector: sel}}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, deploy, rs,
		testPod("a", "web-1-a", "native", "1.27.3", ownedBy("apps/v1", "ReplicaSet", "web-1")),
	}
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()

	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	r := New(c, nil, Options{RolloutTimeout: 10 * time.Minute})
	r.now = func() time.Time { return now }

	plan, err := r.Plan(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Workloads).To(HaveLen(1))
	g.Expect(plan.Workloads[0].Action).To(Equal(ActionPending))
	g.Expect(plan.RolloutsInProgress).To(Equal(1))

	now = now.Add(10 * time.Minute)
	plan, err = r.Plan(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Workloads[0].Action).To(Equal(ActionPending))

	now = now.Add(time.Second)
	plan, err = r.Plan(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Workloads[0].Action).To(Equal(ActionNotConverging))
	g.Expect(plan.Workloads[0].Why).To(ContainSubstring("after 10m1s it has still not settled (1 old replicas pending termination)"))
	g.Expect(plan.RolloutsInProgress).To(BeZero())
}

// TestDecideRemembersTheInjectorsAnswer: a restart the injector vetoed is
// not planned again while its answer still matches the stale pods, so the
// workload does not take a rollout slot in every run.
func TestDecideRemembersTheInjectorsAnswer(t *testing.T) {
	ref := WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "a", Name: "web"}
	nativeAnswer := &sidecarmode.Proxy{Layout: sidecarmode.LayoutNative, Version: "1.30.2"}
	tests := []struct {
		name     string
		mode     workload.Mode
		marker   string
		answer   *sidecarmode.Proxy
		layouts  []sidecarmode.Layout
		versions []string
		settings bool // a stale pod was injected under other proxy settings
		want     Action
	}{
		{name: "no answer: restart", mode: workload.ModeRollout, layouts: []sidecarmode.Layout{sidecarmode.LayoutNative}, versions: []string{"1.30.2"},
			want: ActionRolloutRestart},
		{name: "answer equals the stale pods: same proxy", mode: workload.ModeRollout, answer: nativeAnswer,
			layouts: []sidecarmode.Layout{sidecarmode.LayoutNative}, versions: []string{"1.30.2"}, want: ActionSameProxy},
		{name: "answer equals the stale pods of an evicted workload: same proxy", mode: workload.ModeEvict, answer: nativeAnswer,
			layouts: []sidecarmode.Layout{sidecarmode.LayoutNative}, versions: []string{"1.30.2"}, want: ActionSameProxy},
		{name: "the pods changed since (another version among them): ask again", mode: workload.ModeRollout, answer: nativeAnswer,
			layouts: []sidecarmode.Layout{sidecarmode.LayoutNative}, versions: []string{"1.29.2", "1.30.2"}, want: ActionRolloutRestart},
		{name: "the pods have another layout than the answer: restart", mode: workload.ModeRollout, answer: nativeAnswer,
			layouts: []sidecarmode.Layout{sidecarmode.LayoutRegular}, versions: []string{"1.30.2"}, want: ActionRolloutRestart},
		{name: "stale for proxy settings, which the answer's layout and version do not show: restart", mode: workload.ModeRollout, answer: nativeAnswer,
			layouts: []sidecarmode.Layout{sidecarmode.LayoutNative}, versions: []string{"1.30.2"}, settings: true, want: ActionRolloutRestart},
		{name: "restarted for the target already: the answer does not matter", mode: workload.ModeRollout, marker: target, answer: nativeAnswer,
			layouts: []sidecarmode.Layout{sidecarmode.LayoutNative}, versions: []string{"1.30.2"}, want: ActionNotConverging},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			w := &workload.Facts{Ref: ref, Mode: tt.mode, Marker: tt.marker, Settled: true, Strategy: "RollingUpdate", Desired: 1}
			e := entry{w: w, stale: 1, ready: 1, evict: &podRef{Name: "web-0"}, answer: tt.answer, settingsStale: tt.settings}
			if tt.marker != "" {
				e.staleAfterRestart, e.evict = 1, nil
			}
			e.reasons.add("native, expected regular")
			for _, l := range tt.layouts {
				e.layouts.add(l)
			}
			for _, v := range tt.versions {
				e.versions.add(v)
			}
			wp, ok := decide(&e, target)
			g.Expect(ok).To(BeTrue())
			g.Expect(wp.Action).To(Equal(tt.want), wp.Why)
			if tt.want == ActionSameProxy {
				g.Expect(wp.Why).To(Equal("1 stale pod (native, expected regular), but the injector gives a new pod the same proxy " +
					"(native 1.30.2): a restart would change nothing; not restarting it"))
			}
		})
	}
}
