package controllers_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/controllers"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

const (
	appNamespace = "apps"
	crNamespace  = "kyma-system"
	timeout      = 3 * time.Minute
)

var crKey = client.ObjectKey{Namespace: crNamespace, Name: "default"}

// keepRunning makes kwok keep a Job's pod Running (see hack/test-cluster.sh).
var keepRunning = map[string]string{"kwok.istio-module.io/keep-running": "true"}

func podTemplate(app string, annotations map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
}

func newDeployment(name string, annotations map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, annotations),
		},
	}
}

func newStatefulSet(name string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, nil),
		},
	}
}

// newOnDeleteStatefulSet is a StatefulSet whose pods only change when they
// are deleted: the restarter evicts its stale pods instead of patching it.
func newOnDeleteStatefulSet(name string) *appsv1.StatefulSet {
	sts := newStatefulSet(name)
	sts.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	return sts
}

func newDaemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name, nil),
		},
	}
}

func newJob(name string) *batchv1.Job {
	tmpl := podTemplate(name, nil)
	tmpl.Labels = map[string]string{"app": name, "kwok.istio-module.io/keep-running": "true"}
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace},
		Spec:       batchv1.JobSpec{Template: tmpl},
	}
}

func newPod(name string) *corev1.Pod {
	tmpl := podTemplate(name, nil)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace, Labels: tmpl.Labels}, Spec: tmpl.Spec}
}

// expectProxies waits until every live, running pod of app carries a proxy
// of the given layout and version, and there is at least one.
func expectProxies(ctx context.Context, app string, layout sidecarmode.Layout, version string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(env.Client.List(ctx, &pods, client.InNamespace(appNamespace), client.MatchingLabels{"app": app})).To(Succeed())
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			live++
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
			proxy := sidecarmode.Inspect(p.ObjectMeta, p.Spec)
			g.Expect(proxy.Layout).To(Equal(layout), "pod %s", p.Name)
			g.Expect(proxy.Version).To(Equal(version), "pod %s", p.Name)
		}
		g.Expect(live).To(BeNumerically(">", 0))
	}).WithTimeout(timeout).Should(Succeed())
}

// generation of a workload: each pod-template change, and so each rollout
// the operator starts, adds one. (Counting ReplicaSets would not do: a
// template changed back to an earlier one reuses its old ReplicaSet.)
func generation(ctx context.Context, obj client.Object) int64 {
	GinkgoHelper()
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj.GetGeneration()
}

// generations of the workloads the operator restarts by a pod-template
// patch: plain, pinned, legacy, db, agent.
func generations(ctx context.Context) []int64 {
	GinkgoHelper()
	return []int64{
		generation(ctx, newDeployment("plain", nil)),
		generation(ctx, newDeployment("pinned", nil)),
		generation(ctx, newDeployment("legacy", nil)),
		generation(ctx, newStatefulSet("db")),
		generation(ctx, newDaemonSet("agent")),
	}
}

// podUIDs of app's live pods, sorted: an OnDelete StatefulSet's pods are
// replaced (same name, new UID) only when deleted.
func podUIDs(ctx context.Context, app string) []string {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(env.Client.List(ctx, &pods, client.InNamespace(appNamespace), client.MatchingLabels{"app": app})).To(Succeed())
	var uids []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			uids = append(uids, string(p.UID))
		}
	}
	slices.Sort(uids)
	return uids
}

// livePods of app.
func livePods(ctx context.Context, app string) []corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(env.Client.List(ctx, &pods, client.InNamespace(appNamespace), client.MatchingLabels{"app": app})).To(Succeed())
	return slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

// installPrevious installs the real Istio 1.29.2 from its own charts, as an
// operator of module 1.27.3 would, and waits until istiod 1.29.2 serves with
// the decision's setting.
func installPrevious(ctx context.Context, d sidecarmode.Decision) {
	GinkgoHelper()
	previous, err := env.Installer(istiod, testenv.PreviousIstioVersion)
	Expect(err).NotTo(HaveOccurred())
	_, err = previous.Install(ctx, v1alpha2.IstioSpec{}, d, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	Eventually(func(g Gomega) {
		ready, msg, err := previous.ControlPlaneReady(ctx, v1alpha2.IstioSpec{}, d)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ready).To(BeTrue(), msg)
		g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal(d.EnableNativeSidecars))
	}).WithTimeout(timeout).Should(Succeed())
}

// previousIstioRelease is the module release that installed Istio 1.29.2.
var previousIstioRelease = func() sidecarmode.Release {
	r, err := sidecarmode.LookupRelease("1.27.3")
	if err != nil {
		panic(err)
	}
	return r
}()

// toggleRow is a policy no release of Istio 1.30.2 has (native, regular
// under compatibilityMode), to switch the container type back and forth with
// the real charts and istiod: only the row is the test's own.
var toggleRow = sidecarmode.Release{Module: "1.30.0-toggle", Istio: "1.30.2",
	Default: sidecarmode.Native, CompatibilityDefault: sidecarmode.Regular, Note: "native unless compatibilityMode"}

func getIstio(ctx context.Context, g Gomega) *v1alpha2.Istio {
	var istio v1alpha2.Istio
	g.Expect(env.Client.Get(ctx, crKey, &istio)).To(Succeed())
	return &istio
}

func expectState(ctx context.Context, state v1alpha2.State) *v1alpha2.Istio {
	GinkgoHelper()
	var istio *v1alpha2.Istio
	Eventually(func(g Gomega) {
		istio = getIstio(ctx, g)
		g.Expect(istio.Status.State).To(Equal(state), "description: %s", istio.Status.Description)
		g.Expect(istio.Status.ObservedGeneration).To(Equal(istio.Generation))
	}).WithTimeout(timeout).Should(Succeed())
	return istio
}

func istiodEnv(ctx context.Context, g Gomega, name string) string {
	var deploy appsv1.Deployment
	g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: testenv.IstioNamespace, Name: install.IstiodName}, &deploy)).To(Succeed())
	for _, c := range deploy.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if c.Name == "discovery" && e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

func setCompatibilityMode(ctx context.Context, on bool) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		istio := getIstio(ctx, g)
		istio.Spec.CompatibilityMode = on
		g.Expect(env.Client.Update(ctx, istio)).To(Succeed())
	}).Should(Succeed())
}

// updateSpec changes the CR's spec, retrying on conflicts.
func updateSpec(ctx context.Context, change func(*v1alpha2.IstioSpec)) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		istio := getIstio(ctx, g)
		change(&istio.Spec)
		g.Expect(env.Client.Update(ctx, istio)).To(Succeed())
	}).Should(Succeed())
}

var _ = Describe("Istio operator", Ordered, func() {
	var mgr *runningManager

	AfterAll(func() {
		if mgr != nil {
			mgr.stop()
		}
	})

	// refuseDowngrade runs the operator of module 1.27.3 (Istio 1.29.2) over
	// the installed Istio 1.30.2, expects the CR to refuse the downgrade and
	// istiod to stay at 1.30.2, then runs this build's operator again.
	refuseDowngrade := func(ctx context.Context, check func(g Gomega, istio *v1alpha2.Istio)) {
		GinkgoHelper()
		charts, err := env.Charts(testenv.PreviousIstioVersion)
		Expect(err).NotTo(HaveOccurred())
		mgr = startManager("1.27.3", func(o *controllers.ManagerOptions) { o.Charts = charts })
		Eventually(func(g Gomega) {
			istio := getIstio(ctx, g)
			g.Expect(istio.Status.State).To(Equal(v1alpha2.StateWarning))
			g.Expect(istio.Condition(v1alpha2.ConditionTypeReady).Reason).To(Equal(string(v1alpha2.ReasonVersionUpdateNotAllowed)))
			check(g, istio)
		}).WithTimeout(timeout).Should(Succeed())
		Consistently(func(g Gomega) {
			var deploy appsv1.Deployment
			g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: testenv.IstioNamespace, Name: install.IstiodName}, &deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Spec.Containers[0].Image).To(HaveSuffix(":1.30.2"))
		}).WithTimeout(3 * time.Second).Should(Succeed())
		mgr.stop()
		mgr = startManager(sidecarmode.ModuleVersion)
		expectState(ctx, v1alpha2.StateReady)
	}

	BeforeAll(func(ctx context.Context) {
		for _, ns := range []*corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: appNamespace, Labels: map[string]string{"istio-injection": "enabled"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: crNamespace}}, // the operator's, from config/default
		} {
			Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, ns))).To(Succeed())
		}
		// Workloads from before, injected by the real istiod 1.29.2 of Istio
		// 1.29.2's own charts. First the time of module 1.21, when istiod was
		// told ENABLE_NATIVE_SIDECARS=false: its pods have regular proxies.
		legacyEra := previousIstioRelease
		legacyEra.Default, legacyEra.CompatibilityDefault = sidecarmode.Regular, sidecarmode.Regular
		installPrevious(ctx, sidecarmode.DecideFor(legacyEra, false, sidecarmode.ClusterFacts{}))
		// Until istiod serves, its fail-closed webhook rejects pods.
		Eventually(func() error { return env.Client.Create(ctx, newDeployment("legacy", nil)) }).WithTimeout(timeout).Should(Succeed())
		expectProxies(ctx, "legacy", sidecarmode.LayoutRegular, "1.29.2")

		// Then Istio 1.29.2 as module 1.27.3 left it: native sidecars.
		installPrevious(ctx, sidecarmode.DecideFor(previousIstioRelease, false, sidecarmode.ClusterFacts{}))
		objs := []client.Object{
			newDeployment("plain", nil),
			newDeployment("pinned", map[string]string{"sidecar.istio.io/nativeSidecar": "false"}),
			newStatefulSet("db"),
			newOnDeleteStatefulSet("db-ondelete"),
			newDaemonSet("agent"),
			newJob("batch"),
			newPod("lonely"),
		}
		for _, obj := range objs {
			Eventually(func() error { return env.Client.Create(ctx, obj) }).WithTimeout(timeout).Should(Succeed())
		}
		for _, app := range []string{"plain", "db", "db-ondelete", "agent", "batch", "lonely"} {
			expectProxies(ctx, app, sidecarmode.LayoutNative, "1.29.2")
		}
		expectProxies(ctx, "pinned", sidecarmode.LayoutRegular, "1.29.2")
		expectProxies(ctx, "legacy", sidecarmode.LayoutRegular, "1.29.2")
		Expect(istiod.Runs()).To(HaveEach(HaveField("Version", "1.29.2")))
	})

	It("upgrades a real Istio 1.29.2 to 1.30.2 and rolls every restartable workload once, with the new istiod injecting", func(ctx context.Context) {
		before := generations(ctx)
		onDeleteBefore := podUIDs(ctx, "db-ondelete")
		Expect(env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}})).To(Succeed())
		mgr = startManager(sidecarmode.ModuleVersion)

		for _, app := range []string{"plain", "legacy", "db", "db-ondelete", "agent"} {
			expectProxies(ctx, app, sidecarmode.LayoutNative, "1.30.2")
		}
		expectProxies(ctx, "pinned", sidecarmode.LayoutRegular, "1.30.2")

		istio := expectState(ctx, v1alpha2.StateWarning)
		Expect(istio.Status.IstioVersion).To(Equal("1.30.2"))
		Expect(istio.Status.SidecarType).To(Equal("native"))
		Expect(istio.Status.ProxyRestart).NotTo(BeNil())
		Expect(istio.Status.ProxyRestart.ManualRestartWorkloads).To(ContainElements(ContainSubstring("batch"), ContainSubstring("lonely")))
		Expect(istio.Status.Description).To(And(ContainSubstring("batch"), ContainSubstring("lonely")))
		Expect(finalizers(istio)).To(ContainElement("operator.kyma-project.io/istio-manager"))
		// Events are sent in the background.
		Eventually(func() []string { return eventReasons(ctx, "Deployment", "plain") }).
			Should(ContainElement(restarter.EventRolloutRestarted))
		Eventually(func() []string { return eventReasons(ctx, "Job", "batch") }).
			Should(ContainElement(restarter.EventManualRestartRequired))

		// Istio 1.30.2's charts took over: its new CRD is there, istiod 1.29.2
		// was stopped and 1.30.2 started in its place.
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: "trafficextensions.extensions.istio.io"}, &apiextensionsv1.CustomResourceDefinition{})).To(Succeed())
		runs := istiod.Runs()
		last := runs[len(runs)-1]
		Expect(last.Version).To(Equal("1.30.2"))
		var previousStopped time.Time
		for _, r := range runs[:len(runs)-1] {
			Expect(r.Version).To(Equal("1.29.2"))
			Expect(r.Stopped).NotTo(BeZero())
			previousStopped = r.Stopped
		}

		// Rolled exactly once: one pod-template change each, and each pod of
		// the OnDelete StatefulSet replaced once.
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).
			Should(Equal([]int64{before[0] + 1, before[1] + 1, before[2] + 1, before[3] + 1, before[4] + 1}))
		onDeleteAfter := podUIDs(ctx, "db-ondelete")
		Expect(onDeleteAfter).To(HaveLen(len(onDeleteBefore)))
		Expect(onDeleteAfter).NotTo(ContainElements(onDeleteBefore))
		Consistently(func() []string { return podUIDs(ctx, "db-ondelete") }).WithTimeout(3 * time.Second).Should(Equal(onDeleteAfter))

		// Every new pod was created after istiod 1.29.2 had stopped: the
		// 1.30.2 istiod, the only one running, injected it.
		for _, app := range []string{"plain", "pinned", "legacy", "db", "db-ondelete", "agent"} {
			for _, p := range livePods(ctx, app) {
				Expect(p.CreationTimestamp.Time).To(BeTemporally(">=", previousStopped.Truncate(time.Second)), "pod %s", p.Name)
			}
		}

		Expect(env.Client.Delete(ctx, newJob("batch"), client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Expect(env.Client.Delete(ctx, newPod("lonely"))).To(Succeed())
		istio = expectState(ctx, v1alpha2.StateReady)
		Expect(istio.Status.ProxyRestart.ManualRestart).To(BeZero())
	})

	It("serves metrics over HTTPS only to callers allowed to read them", func(ctx context.Context) {
		clientset, err := kubernetes.NewForConfig(env.Config)
		Expect(err).NotTo(HaveOccurred())
		// Two callers in a namespace of their own: one bound to the
		// metrics-reader role of config/rbac, one without any rights.
		const ns = "monitoring"
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		token := func(name string) string {
			GinkgoHelper()
			Expect(env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
			tr, err := clientset.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			return tr.Status.Token
		}
		prometheus, nobody := token("prometheus"), token("nobody")
		Expect(env.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "prometheus-reads-istio-module-metrics"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "istio-module-metrics-reader"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "prometheus"}},
		})).To(Succeed())

		// The certificate is self-signed: this test checks who may read,
		// not whom to trust.
		httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		scrape := func(g Gomega, token string) (int, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, mgr.metricsURL, nil)
			g.Expect(err).NotTo(HaveOccurred())
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := httpClient.Do(req)
			g.Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			g.Expect(err).NotTo(HaveOccurred())
			return resp.StatusCode, string(body)
		}
		Eventually(func(g Gomega) {
			code, _ := scrape(g, "")
			g.Expect(code).To(Equal(http.StatusUnauthorized))
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			code, _ := scrape(g, nobody)
			g.Expect(code).To(Equal(http.StatusForbidden))
			// controller-runtime's filter answers a token the API server
			// rejects with 500 "Authentication failed", not 401.
			code, body := scrape(g, "not-a-token")
			g.Expect(code).To(Equal(http.StatusInternalServerError))
			g.Expect(body).To(ContainSubstring("Authentication failed"))
		}).Should(Succeed())
		// RBAC takes effect when the API server's informer sees the binding.
		Eventually(func(g Gomega) {
			code, body := scrape(g, prometheus)
			g.Expect(code).To(Equal(http.StatusOK), body)
			g.Expect(body).To(ContainSubstring(`controller_runtime_reconcile_total{controller="istio"`))
		}).Should(Succeed())
	})

	It("writes nothing over 1000 reconciles when nothing changed", func(ctx context.Context) {
		expectState(ctx, v1alpha2.StateReady)
		writes.Store(0)
		for range 1000 {
			res, err := mgr.reconciler.Reconcile(ctx, reconcile.Request{NamespacedName: crKey})
			Expect(err).NotTo(HaveOccurred())
			Expect(res.RequeueAfter).To(Equal(time.Hour))
		}
		Expect(writes.Load()).To(BeZero())
	})

	It("warns while a user-created EnvoyFilter targets the ingress gateway, as Kyma's IngressTargetingUserResourceFound", func(ctx context.Context) {
		istio := expectState(ctx, v1alpha2.StateReady)
		Expect(istio.Condition(v1alpha2.ConditionTypeIngressTargetingUserResourceFound).Reason).To(Equal("IngressTargetingUserResourceNotFound"))

		envoyFilter := func(name string, selector, labels map[string]string) *unstructured.Unstructured {
			f := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "networking.istio.io/v1alpha3", "kind": "EnvoyFilter",
				"metadata": map[string]any{"namespace": testenv.IstioNamespace, "name": name},
				"spec": map[string]any{
					"workloadSelector": map[string]any{"labels": selector},
					"configPatches": []any{map[string]any{
						"applyTo": "NETWORK_FILTER",
						"match":   map[string]any{"context": "GATEWAY"},
						"patch":   map[string]any{"operation": "MERGE", "value": map[string]any{}},
					}},
				},
			}}
			f.SetLabels(labels)
			return f
		}
		users := envoyFilter("users-patch", map[string]string{"istio": "ingressgateway"}, nil)
		others := []*unstructured.Unstructured{
			envoyFilter("kyma-module-patch", map[string]string{"istio": "ingressgateway"}, map[string]string{"kyma-project.io/module": "api-gateway"}),
			envoyFilter("sidecar-patch", map[string]string{"app": "plain"}, nil),
		}
		for _, f := range others {
			// istiod's validating webhook checks it, so the real istiod must serve.
			Eventually(func() error { return env.Client.Create(ctx, f) }).WithTimeout(timeout).Should(Succeed())
		}
		Expect(env.Client.Create(ctx, users)).To(Succeed())
		// EnvoyFilters are not watched: the next periodic reconcile (every
		// hour here) finds them. Run one now.
		_, err := mgr.reconciler.Reconcile(ctx, reconcile.Request{NamespacedName: crKey})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			istio := getIstio(ctx, g)
			g.Expect(istio.Status.State).To(Equal(v1alpha2.StateWarning))
			g.Expect(istio.Status.Description).To(ContainSubstring("istio-system/users-patch"))
			found := istio.Condition(v1alpha2.ConditionTypeIngressTargetingUserResourceFound)
			g.Expect(found.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(found.Reason).To(Equal("IngressTargetingUserResourceFound"))
			g.Expect(found.Message).To(ContainSubstring("istio-system/users-patch"))
			g.Expect(found.Message).NotTo(ContainSubstring("kyma-module-patch"))
		}).WithTimeout(timeout).Should(Succeed())

		for _, f := range append(others, users) {
			Expect(env.Client.Delete(ctx, f)).To(Succeed())
		}
		// Found again by the next periodic reconcile, run now.
		_, err = mgr.reconciler.Reconcile(ctx, reconcile.Request{NamespacedName: crKey})
		Expect(err).NotTo(HaveOccurred())
		istio = expectState(ctx, v1alpha2.StateReady)
		Expect(istio.Condition(v1alpha2.ConditionTypeIngressTargetingUserResourceFound).Status).To(Equal(metav1.ConditionFalse))
	})

	It("restarts each workload a proxy-setting change affects exactly once, the ingress gateway for its settings, and nothing for a default made explicit", func(ctx context.Context) {
		expectState(ctx, v1alpha2.StateReady)
		// Sets DNS proxying for itself: not affected by the CR's.
		selfDNS := newDeployment("self-dns", map[string]string{"proxy.istio.io/config": "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"false\"\n"})
		Expect(env.Client.Create(ctx, selfDNS)).To(Succeed())
		expectProxies(ctx, "self-dns", sidecarmode.LayoutNative, "1.30.2")
		expectState(ctx, v1alpha2.StateReady)

		gateway := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: testenv.IstioNamespace, Name: install.IngressGatewayName}}
		observe := func() []int64 {
			return append(generations(ctx), generation(ctx, selfDNS), generation(ctx, gateway))
		}
		for _, step := range []struct {
			name   string
			change func(*v1alpha2.IstioSpec)
			// restarted: plain, pinned, db, self-dns, ingress gateway;
			// legacy and agent go as plain does (see observe)
			restarted []bool
		}{
			{"enableDNSProxying", func(s *v1alpha2.IstioSpec) { s.Config.EnableDNSProxying = ptr.To(true) }, []bool{true, true, true, false, false}},
			{"prometheusMerge", func(s *v1alpha2.IstioSpec) { s.Config.Telemetry.Metrics.PrometheusMerge = true }, []bool{true, true, true, true, false}},
			{"proxyStatsMatcher", func(s *v1alpha2.IstioSpec) {
				s.Config.ProxyStatsMatcher = &v1alpha2.ProxyStatsMatcher{InclusionRegexps: []string{".*outlier_detection.*"}}
			}, []bool{true, true, true, true, true}},
			{"trustDomain", func(s *v1alpha2.IstioSpec) { s.Config.TrustDomain = ptr.To("example.org") }, []bool{true, true, true, true, true}},
			{"proxy resources", func(s *v1alpha2.IstioSpec) {
				s.Components = &v1alpha2.Components{Proxy: &v1alpha2.ProxyComponent{K8s: &v1alpha2.ProxyK8sConfig{Resources: &v1alpha2.Resources{
					Requests: &v1alpha2.ResourceClaims{CPU: ptr.To("50m"), Memory: ptr.To("64Mi")},
				}}}}
			}, []bool{true, true, true, true, false}},
			{"numTrustedProxies and forwardClientCertDetails", func(s *v1alpha2.IstioSpec) {
				s.Config.NumTrustedProxies = ptr.To(2)
				s.Config.ForwardClientCertDetails = ptr.To(v1alpha2.ForwardClientCertAppendForward)
			}, []bool{false, false, false, false, true}},
			{"defaults made explicit", func(s *v1alpha2.IstioSpec) {
				s.Config.EnableDNSProxying = ptr.To(true) // unchanged
				s.Config.GatewayExternalTrafficPolicy = ptr.To(v1alpha2.GatewayExternalTrafficPolicyLocal)
				s.CompatibilityMode = false
			}, []bool{false, false, false, false, false}},
		} {
			By("changing " + step.name)
			before := observe()
			updateSpec(ctx, step.change)
			// observe's order: plain, pinned, legacy, db, agent, self-dns, gateway.
			r := step.restarted
			restarted := []bool{r[0], r[1], r[0], r[2], r[0], r[3], r[4]}
			want := make([]int64, len(before))
			for i, g := range before {
				want[i] = g
				if restarted[i] {
					want[i] = g + 1
				}
			}
			Eventually(observe).WithTimeout(timeout).Should(Equal(want), step.name)
			istio := expectState(ctx, v1alpha2.StateReady)
			Expect(istio.Status.ProxyRestart.NotConverging).To(BeZero(), step.name)
			Consistently(observe).WithTimeout(3*time.Second).Should(Equal(want), "restarted once only for %s", step.name)
		}

		// A converged operator writes nothing.
		writes.Store(0)
		for range 20 {
			_, err := mgr.reconciler.Reconcile(ctx, reconcile.Request{NamespacedName: crKey})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(writes.Load()).To(BeZero())
		Expect(env.Client.Delete(ctx, selfDNS)).To(Succeed())
	})

	It("leaves a second Istio CR alone with a Warning naming the one in charge", func(ctx context.Context) {
		second := &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "second"}}
		Expect(env.Client.Create(ctx, second)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(second), second)).To(Succeed())
			g.Expect(second.Status.State).To(Equal(v1alpha2.StateWarning))
			g.Expect(second.Status.Description).To(ContainSubstring("kyma-system/default"))
			cond := second.Condition(v1alpha2.ConditionTypeReady)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(string(v1alpha2.ReasonOlderCRExists)))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(env.Client.Delete(ctx, second)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(second), second))
		}).WithTimeout(timeout).Should(BeTrue())
		expectState(ctx, v1alpha2.StateReady)
	})

	It("rejects a bad CR at admission", func(ctx context.Context) {
		bad := &v1alpha2.Istio{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad"},
			Spec:       v1alpha2.IstioSpec{Config: v1alpha2.Config{NumTrustedProxies: ptr.To(-1)}},
		}
		err := env.Client.Create(ctx, bad)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "error: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.config.numTrustedProxies"))
	})

	It("reports a failing install as Error with the API server's message, and recovers", func(ctx context.Context) {
		policy := &admissionv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "block-mesh-config"},
			Spec: admissionv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: ptr.To(admissionv1.Fail),
				MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionv1.RuleWithOperations{
						Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
						Rule:       admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
					},
				}}},
				Validations: []admissionv1.Validation{{
					Expression: "object.metadata.namespace != 'istio-system' || object.metadata.name != 'istio'",
					Message:    "the test blocks changes of the mesh config",
				}},
			},
		}
		binding := &admissionv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "block-mesh-config"},
			Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        policy.Name,
				ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			},
		}
		Expect(env.Client.Create(ctx, policy)).To(Succeed())
		Expect(env.Client.Create(ctx, binding)).To(Succeed())
		// The policy takes a moment to take effect: keep changing the spec
		// until an install is refused.
		trusted := 1
		Eventually(func(g Gomega) {
			istio := getIstio(ctx, g)
			if istio.Status.State != v1alpha2.StateError {
				trusted++
				istio.Spec.Config.NumTrustedProxies = ptr.To(trusted)
				g.Expect(env.Client.Update(ctx, istio)).To(Succeed())
			}
			istio = getIstio(ctx, g)
			g.Expect(istio.Status.State).To(Equal(v1alpha2.StateError))
			g.Expect(istio.Status.Description).To(ContainSubstring("the test blocks changes of the mesh config"))
			g.Expect(istio.Condition(v1alpha2.ConditionTypeInstalled).Reason).To(Equal(string(v1alpha2.ReasonInstallFailed)))
			g.Expect(istio.Condition(v1alpha2.ConditionTypeReady).Reason).To(Equal("IstioInstallUninstallFailed"))
		}).WithTimeout(timeout).WithPolling(2 * time.Second).Should(Succeed())

		Expect(env.Client.Delete(ctx, binding)).To(Succeed())
		Expect(env.Client.Delete(ctx, policy)).To(Succeed())
		expectState(ctx, v1alpha2.StateReady)
	})

	It("refuses to downgrade to Istio 1.29.2 and leaves the installed Istio untouched", func(ctx context.Context) {
		mgr.stop()
		refuseDowngrade(ctx, func(g Gomega, istio *v1alpha2.Istio) {
			g.Expect(istio.Status.Description).To(ContainSubstring("downgrade"))
		})
	})

	It("refuses the downgrade for a CR created anew over the installed Istio 1.30.2: the guard reads istiod, not the CR", func(ctx context.Context) {
		mgr.stop()
		// The CR goes without an uninstall (its finalizer dropped while no
		// operator runs); a new one, of the same spec, has no status.
		istio := getIstio(ctx, Default)
		spec := istio.Spec
		Eventually(func(g Gomega) {
			istio := getIstio(ctx, g)
			istio.Finalizers = nil
			g.Expect(env.Client.Update(ctx, istio)).To(Succeed())
		}).Should(Succeed())
		Expect(env.Client.Delete(ctx, istio)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(env.Client.Get(ctx, crKey, &v1alpha2.Istio{})) }).WithTimeout(timeout).Should(BeTrue())
		Expect(env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}, Spec: spec})).To(Succeed())

		refuseDowngrade(ctx, func(g Gomega, istio *v1alpha2.Istio) {
			g.Expect(istio.Status.Description).To(ContainSubstring("from 1.30.2 to 1.29.2"))
			g.Expect(istio.Status.IstioVersion).To(BeEmpty(), "nothing installed for this CR")
		})
	})

	It("passes the experimental pilot flags to istiod, refuses ambient without touching the install, and can still be deleted", func(ctx context.Context) {
		updateSpec(ctx, func(s *v1alpha2.IstioSpec) {
			s.Experimental = &v1alpha2.Experimental{Pilot: &v1alpha2.PilotFeatures{EnableAlphaGatewayAPI: true, EnableMultiNetworkDiscoverGatewayAPI: true}}
		})
		Eventually(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "PILOT_ENABLE_ALPHA_GATEWAY_API")).To(Equal("true"))
			g.Expect(istiodEnv(ctx, g, "PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API")).To(Equal("true"))
		}).WithTimeout(timeout).Should(Succeed())
		expectState(ctx, v1alpha2.StateReady)
		istiodGeneration := generation(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: testenv.IstioNamespace, Name: install.IstiodName}})

		updateSpec(ctx, func(s *v1alpha2.IstioSpec) {
			s.Experimental.Pilot.EnableAlphaGatewayAPI = false
			s.Experimental.EnableAmbient = ptr.To(true)
		})
		istio := expectState(ctx, v1alpha2.StateError)
		ready := istio.Condition(v1alpha2.ConditionTypeReady)
		Expect(ready.Reason).To(Equal(string(v1alpha2.ReasonValidationFailed)))
		Expect(ready.Message).To(ContainSubstring("spec.experimental.enableAmbient"))
		Expect(istio.Status.Description).To(ContainSubstring("sidecar data plane only"))
		// Nothing was applied: istiod keeps the flag that the refused spec turns off.
		Consistently(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "PILOT_ENABLE_ALPHA_GATEWAY_API")).To(Equal("true"))
			g.Expect(generation(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: testenv.IstioNamespace, Name: install.IstiodName}})).To(Equal(istiodGeneration))
		}).WithTimeout(3 * time.Second).Should(Succeed())
		// The next spec deletes the CR as it is, ambient requested.
	})

	It("uninstalls Istio when the CR is deleted and releases it", func(ctx context.Context) {
		Expect(env.Client.Delete(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}})).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, crKey, &v1alpha2.Istio{}))
		}).WithTimeout(timeout).Should(BeTrue())
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: testenv.IstioNamespace, Name: install.IstiodName}, &appsv1.Deployment{}))).To(BeTrue())
		mgr.stop()
		mgr = nil
		// Everything Istio's goes; wait so the next install starts clean. The
		// namespace stays: config/default made it, for the operator's Role,
		// which the next install needs.
		Eventually(func(g Gomega) {
			for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceAccountList{}, &corev1.ConfigMapList{}, &rbacv1.RoleList{}} {
				g.Expect(env.Client.List(ctx, list, client.InNamespace(testenv.IstioNamespace),
					client.MatchingLabels{install.ManagedByLabel: install.ManagedByValue})).To(Succeed())
				g.Expect(meta.LenList(list)).To(BeZero(), "%T", list)
			}
		}).WithTimeout(timeout).Should(Succeed())
		var ns corev1.Namespace
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: testenv.IstioNamespace}, &ns)).To(Succeed())
		Expect(ns.DeletionTimestamp).To(BeNil())
	})

	It("rolls every affected workload exactly once per compatibilityMode toggle, on a row whose compatibility mode is regular", func(ctx context.Context) {
		Expect(env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}})).To(Succeed())
		mgr = startManager("", func(o *controllers.ManagerOptions) { o.Release = &toggleRow })
		expectProxies(ctx, "plain", sidecarmode.LayoutNative, "1.30.2")
		expectProxies(ctx, "pinned", sidecarmode.LayoutRegular, "1.30.2")
		expectProxies(ctx, "db", sidecarmode.LayoutNative, "1.30.2")
		expectState(ctx, v1alpha2.StateReady)
		before := generations(ctx)

		setCompatibilityMode(ctx, true)
		Eventually(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))
		}).WithTimeout(timeout).Should(Succeed())
		expectProxies(ctx, "plain", sidecarmode.LayoutRegular, "1.30.2")
		expectProxies(ctx, "db", sidecarmode.LayoutRegular, "1.30.2")
		istio := expectState(ctx, v1alpha2.StateReady)
		Expect(istio.Status.SidecarType).To(Equal("regular"))
		// All but the pinned one change their type.
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).
			Should(Equal([]int64{before[0] + 1, before[1], before[2] + 1, before[3] + 1, before[4] + 1}))

		setCompatibilityMode(ctx, false)
		Eventually(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		}).WithTimeout(timeout).Should(Succeed())
		expectProxies(ctx, "plain", sidecarmode.LayoutNative, "1.30.2")
		expectProxies(ctx, "db", sidecarmode.LayoutNative, "1.30.2")
		expectState(ctx, v1alpha2.StateReady)
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).
			Should(Equal([]int64{before[0] + 2, before[1], before[2] + 2, before[3] + 2, before[4] + 2}))
	})

	It("elects itself leader with a lease in its own namespace, as deployed with --leader-elect", func(ctx context.Context) {
		mgr.stop()
		mgr = startManager("1.30.0", func(o *controllers.ManagerOptions) {
			o.LeaderElection = true
			// In a pod, controller-runtime reads its namespace from the
			// ServiceAccount's mount; here it is given.
			o.LeaderElectionNS = operator.Namespace
		})
		Eventually(mgr.elected).WithTimeout(timeout).Should(BeClosed())
		var lease coordinationv1.Lease
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: operator.Namespace, Name: "istio-module.operator.kyma-project.io"}, &lease)).To(Succeed())
		Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		Expect(*lease.Spec.HolderIdentity).NotTo(BeEmpty())
		Eventually(func(g Gomega) {
			var events corev1.EventList
			g.Expect(env.Client.List(ctx, &events, client.InNamespace(operator.Namespace))).To(Succeed())
			var reasons []string
			for _, e := range events.Items {
				if e.InvolvedObject.Kind == "Lease" && e.InvolvedObject.Name == lease.Name {
					reasons = append(reasons, e.Reason)
				}
			}
			g.Expect(reasons).To(ContainElement("LeaderElection"))
		}).Should(Succeed())
	})
})

func finalizers(o metav1.Object) []string { return o.GetFinalizers() }

// eventReasons are the reasons of the Events regarding an object in the
// apps namespace.
func eventReasons(ctx context.Context, kind, name string) []string {
	GinkgoHelper()
	var events eventsv1.EventList
	Expect(env.Client.List(ctx, &events, client.InNamespace(appNamespace))).To(Succeed())
	var reasons []string
	for _, e := range events.Items {
		if e.Regarding.Kind == kind && e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}
