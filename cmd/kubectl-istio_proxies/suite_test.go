package main

import (
	"context"
	"testing"
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
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// The live suite runs status and advise against a real cluster (API server,
// controllers, kwok nodes) where the real istiod, installed by the
// installer, injects the pods. One cluster for the whole suite: BeforeSuite
// installs the real Istio 1.29.2 from its own charts with istiod told
// ENABLE_NATIVE_SIDECARS=false (regular containers, as module 1.21 had it),
// creates the "regular" fixtures, then installs this build's row (native sidecars,
// Istio 1.30.2) and creates the "native" ones, so both layouts and both
// versions are in the cluster when the specs run. No operator runs: nothing
// restarts the old pods.
func TestLive(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl-istio_proxies live suite")
}

const (
	// statusNS holds the status fixtures, adviseNS the advise ones; both
	// are injection-enabled. plainNS is not.
	statusNS = "apps"
	adviseNS = "advise"
	plainNS  = "plain"
	timeout  = 3 * time.Minute
)

var (
	env       *testenv.Env
	istiod    *testenv.Istiod
	installer *install.Installer
)

// fixture is an object the suite creates. Objects with pods carry the label
// app=<name> on them; BeforeSuite waits until they exist with the layout
// of the install they were created under (and are Running when running is
// set), so the next install cannot change them.
type fixture struct {
	obj     client.Object
	pods    bool
	running bool
}

var _ = BeforeSuite(func(ctx context.Context) {
	var err error
	env, err = testenv.StartCluster()
	Expect(err).NotTo(HaveOccurred())
	istiod, err = env.StartIstiod()
	Expect(err).NotTo(HaveOccurred())
	installer = install.New(env.Client, install.Options{KubeVersion: testenv.KubeletVersion, IstiodRemoteURL: istiod.URL()})

	for ns, labels := range map[string]map[string]string{
		statusNS: {"istio-injection": "enabled"},
		adviseNS: {"istio-injection": "enabled"},
		plainNS:  nil,
	} {
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}})).To(Succeed())
	}

	previous := decide("1.27.3", false)
	previous.DefaultType, previous.EnableNativeSidecars = sidecarmode.Regular, "false"
	installReady(ctx, previous)
	createFixtures(ctx, sidecarmode.LayoutRegular, append(statusFixtures(sidecarmode.Regular), adviseFixtures(sidecarmode.Regular)...))
	installReady(ctx, decide(sidecarmode.ModuleVersion, false))
	createFixtures(ctx, sidecarmode.LayoutNative, append(statusFixtures(sidecarmode.Native), adviseFixtures(sidecarmode.Native)...))
}, NodeTimeout(15*time.Minute))

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() && env != nil {
		env.KeepLogs()
	}
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// decide is the Decision for a row of the version table on the test cluster.
func decide(module string, compatibilityMode bool) sidecarmode.Decision {
	GinkgoHelper()
	d, err := sidecarmode.Decide(module, compatibilityMode, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
	Expect(err).NotTo(HaveOccurred())
	return d
}

// installReady installs d and waits until the control plane runs it.
func installReady(ctx context.Context, d sidecarmode.Decision) {
	GinkgoHelper()
	installer := installer
	if d.IstioVersion != testenv.IstioVersion {
		// A real earlier Istio, from its own charts.
		var err error
		installer, err = env.Installer(istiod, d.IstioVersion)
		Expect(err).NotTo(HaveOccurred())
	}
	_, err := installer.Install(ctx, v1alpha2.IstioSpec{}, d, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	Eventually(func(g Gomega) {
		ready, msg, err := installer.ControlPlaneReady(ctx, v1alpha2.IstioSpec{}, d)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ready).To(BeTrue(), msg)
	}).WithTimeout(timeout).Should(Succeed())
	// The harness restarts istiod when its Deployment changes; wait for the
	// injector of this install.
	Eventually(istiod.Running).WithTimeout(timeout).Should(BeTrue())
}

// createFixtures creates the objects and waits for their pods.
func createFixtures(ctx context.Context, layout sidecarmode.Layout, fixtures []fixture) {
	GinkgoHelper()
	for _, f := range fixtures {
		// The webhook may not answer for a moment after istiod restarted.
		Eventually(func() error { return env.Client.Create(ctx, f.obj) }).WithTimeout(timeout).Should(Succeed(), "create %s", f.obj.GetName())
	}
	for _, f := range fixtures {
		if !f.pods {
			continue
		}
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(env.Client.List(ctx, &pods, client.InNamespace(f.obj.GetNamespace()), client.MatchingLabels{"app": f.obj.GetName()})).To(Succeed())
			g.Expect(pods.Items).NotTo(BeEmpty())
			for _, p := range pods.Items {
				want := layout
				if p.Annotations[sidecarmode.AnnotationNativeSidecar] == "false" {
					want = sidecarmode.LayoutRegular
				}
				g.Expect(sidecarmode.Inspect(p.ObjectMeta, p.Spec).Layout).To(Equal(want), "pod %s", p.Name)
				if f.running {
					g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
				}
			}
		}).WithTimeout(timeout).Should(Succeed(), "pods of %s", f.obj.GetName())
	}
}

// keepRunning makes kwok keep a Job's pod Running (see hack/test-cluster.sh).
const keepRunningLabel = "kwok.istio-module.io/keep-running"

func podTemplate(name string, annotations map[string]string, spec corev1.PodSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: annotations},
		Spec:       spec,
	}
}

func appSpec(containers ...corev1.Container) corev1.PodSpec {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: "nginx"}}
	}
	return corev1.PodSpec{Containers: containers}
}

func newDeployment(ns, name string, annotations map[string]string, spec corev1.PodSpec) fixture {
	return fixture{pods: true, obj: &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, annotations, spec),
		},
	}}
}

func newJob(ns, name string, annotations map[string]string, spec corev1.PodSpec) fixture {
	tmpl := podTemplate(name, annotations, spec)
	tmpl.Labels[keepRunningLabel] = "true"
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return fixture{pods: true, obj: &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       batchv1.JobSpec{Template: tmpl},
	}}
}

func newPod(ns, name string, annotations map[string]string, spec corev1.PodSpec) fixture {
	return fixture{pods: true, obj: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}, Annotations: annotations},
		Spec:       spec,
	}}
}

// newCronJob is suspended: it never runs, so it has no pods.
func newCronJob(ns, name string, annotations map[string]string, spec corev1.PodSpec) fixture {
	tmpl := podTemplate(name, annotations, spec)
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return fixture{obj: &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.CronJobSpec{
			Schedule:    "0 3 * * *",
			Suspend:     ptr.To(true),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		},
	}}
}

func running(f fixture) fixture {
	f.running = true
	return f
}
