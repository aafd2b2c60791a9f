package restarter_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// regular is the pod annotation that makes istiod inject a regular container.
var regular = map[string]string{sidecarmode.AnnotationNativeSidecar: "false"}

// decide is the Decision for a row of the version table on this cluster.
func decide(module string, compatibilityMode bool) sidecarmode.Decision {
	GinkgoHelper()
	d, err := sidecarmode.Decide(module, compatibilityMode, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
	Expect(err).NotTo(HaveOccurred())
	return d
}

// installIstio installs the control plane for d and waits until istiod
// injects what d says: the harness restarts istiod when the Deployment's
// template changed, and until then the old process serves.
func installIstio(ctx context.Context, d sidecarmode.Decision) {
	GinkgoHelper()
	spec := v1alpha2.IstioSpec{CompatibilityMode: d.CompatibilityVersion != ""}
	installer := installerFor(d)
	_, err := installer.Install(ctx, spec, d, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	Eventually(func(g Gomega) {
		ready, msg, err := installer.ControlPlaneReady(ctx, spec, d)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ready).To(BeTrue(), msg)
	}).Should(Succeed())
	expectInjection(ctx, d)
}

// installerFor installs the charts of d's Istio: this build's, or the real
// previous release's own charts that hack/test-cluster.sh provides.
func installerFor(d sidecarmode.Decision) *install.Installer {
	GinkgoHelper()
	if d.IstioVersion == testenv.IstioVersion {
		return installer
	}
	previous, err := env.Installer(istiod, d.IstioVersion)
	Expect(err).NotTo(HaveOccurred())
	return previous
}

// expectInjection waits until a pod created now (server-side dry run) gets
// the proxy d expects.
func expectInjection(ctx context.Context, d sidecarmode.Decision) {
	GinkgoHelper()
	createNamespace(ctx, "probe", nil)
	Eventually(func(g Gomega) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "probe", GenerateName: "probe-"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		}
		g.Expect(env.Client.Create(ctx, pod, client.DryRunAll)).To(Succeed())
		proxy := sidecarmode.Inspect(pod.ObjectMeta, pod.Spec)
		g.Expect(proxy.Type()).To(Equal(d.DefaultType))
		g.Expect(proxy.Version).To(Equal(d.IstioVersion))
	}).Should(Succeed())
}

// createNamespace creates an injection-enabled namespace (once) and waits
// for its default service account, which injected pods need.
func createNamespace(ctx context.Context, name string, annotations map[string]string) {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{"istio-injection": "enabled"}, Annotations: annotations,
	}}
	Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, ns))).To(Succeed())
	Eventually(func() error {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
	}).Should(Succeed())
}

// setNamespaceOptOut adds or removes the opt-out annotation of a namespace.
func setNamespaceOptOut(ctx context.Context, name string, optOut bool) {
	GinkgoHelper()
	value := "null"
	if optOut {
		value = fmt.Sprintf("%q", restarter.OptOutDisabled)
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%s}}}`, restarter.OptOutAnnotation, value)
	Expect(env.Client.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}},
		client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
}

func labels(name string) map[string]string { return map[string]string{"app": name} }

func template(name string, annotations map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels(name), Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
}

func deployment(ns, name string, replicas int32, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels(name)},
			Template: template(name, annotations),
		},
	}
}

// gatewayDeployment is a gateway shaped like the Deployment of Istio's
// gateway chart: one istio-proxy container with image "auto" that the
// injector's gateway template fills in.
func gatewayDeployment(ns, name string) *appsv1.Deployment {
	d := deployment(ns, name, 1, map[string]string{sidecarmode.AnnotationInjectTemplates: sidecarmode.TemplateGateway})
	d.Spec.Template.Labels["sidecar.istio.io/inject"] = "true"
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: sidecarmode.ProxyContainerName, Image: "auto"}}
	return d
}

func statefulSet(ns, name string, replicas int32, strategy appsv1.StatefulSetUpdateStrategyType, annotations map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:       ptr.To(replicas),
			ServiceName:    name,
			Selector:       &metav1.LabelSelector{MatchLabels: labels(name)},
			Template:       template(name, annotations),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: strategy},
		},
	}
}

func daemonSet(ns, name string, strategy appsv1.DaemonSetUpdateStrategyType, annotations map[string]string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: labels(name)},
			Template:       template(name, annotations),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy},
		},
	}
}

func replicaSet(ns, name string, replicas int32, annotations map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels(name)},
			Template: template(name, annotations),
		},
	}
}

func replicationController(ns, name string, replicas int32) *corev1.ReplicationController {
	t := template(name, nil)
	return &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(replicas), Selector: labels(name), Template: &t},
	}
}

// schedulingGate keeps Job pods away from the scheduler and kwok: kwok
// completes every Running pod of a Job at once, so the test marks the
// (really created, really injected) pod Running itself, as a kubelet running
// a long Job would.
const schedulingGate = "restarter.test/hold"

func jobSpec(name string) batchv1.JobSpec {
	t := template(name, nil)
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	t.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: schedulingGate}}
	return batchv1.JobSpec{Template: t, BackoffLimit: ptr.To[int32](0)}
}

func job(ns, name string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: jobSpec(name)}
}

func barePod(ns, name string, annotations map[string]string) *corev1.Pod {
	t := template(name, annotations)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: t.Labels, Annotations: t.Annotations}, Spec: t.Spec}
}

// runJobPods marks the gated pods of a workload Running and Ready.
func runJobPods(ctx context.Context, ns, app string, n int) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels(app)))).To(Succeed())
		g.Expect(pods.Items).To(HaveLen(n))
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning {
				continue
			}
			patch := []byte(`{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`)
			g.Expect(env.Client.Status().Patch(ctx, p, client.RawPatch("application/strategic-merge-patch+json", patch))).To(Succeed())
		}
	}).Should(Succeed())
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// livePods lists the pods of an app that are not terminating.
func livePods(ctx context.Context, g Gomega, ns, app string) []corev1.Pod {
	var pods corev1.PodList
	g.Expect(env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels(app)))).To(Succeed())
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// expectPods waits until an app has n Running, Ready pods, all with the
// proxy d expects for them.
func expectPods(ctx context.Context, ns, app string, n int, d sidecarmode.Decision) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		pods := livePods(ctx, g, ns, app)
		g.Expect(pods).To(HaveLen(n), "%s/%s", ns, app)
		for _, p := range pods {
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s/%s", ns, p.Name)
			proxy := sidecarmode.Inspect(p.ObjectMeta, p.Spec)
			g.Expect(proxy.Layout).NotTo(Equal(sidecarmode.LayoutNone), "pod %s/%s", ns, p.Name)
			g.Expect(sidecarmode.StaleProxy(proxy, p.Annotations, d)).To(BeEmpty(), "pod %s/%s", ns, p.Name)
		}
	}).Should(Succeed())
}

// podUIDs returns the UIDs of an app's live pods.
func podUIDs(ctx context.Context, ns, app string) map[string]bool {
	GinkgoHelper()
	uids := map[string]bool{}
	for _, p := range livePods(ctx, Default, ns, app) {
		uids[string(p.UID)] = true
	}
	return uids
}

// rollingDeployments counts the Deployments of a namespace that carry the
// restart marker for target and have not finished rolling out, judged as
// `kubectl rollout status` does, independently of the restarter.
func rollingDeployments(ctx context.Context, ns, target string) (int, error) {
	var list appsv1.DeploymentList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	n := 0
	for _, d := range list.Items {
		if d.Spec.Template.Annotations[restarter.RestartAnnotation] != target {
			continue
		}
		st := d.Status
		want := ptr.Deref(d.Spec.Replicas, 1)
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas ||
			st.AvailableReplicas < st.UpdatedReplicas {
			n++
		}
	}
	return n, nil
}
