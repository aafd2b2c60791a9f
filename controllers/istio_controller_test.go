package controllers_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// generations of the three restartable demo workloads: plain, pinned, db.
func generations(ctx context.Context) []int64 {
	GinkgoHelper()
	return []int64{
		generation(ctx, newDeployment("plain", nil)),
		generation(ctx, newDeployment("pinned", nil)),
		generation(ctx, newStatefulSet("db")),
	}
}

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

var _ = Describe("Istio operator", Ordered, func() {
	var mgr *runningManager

	AfterAll(func() {
		if mgr != nil {
			mgr.stop()
		}
	})

	BeforeAll(func(ctx context.Context) {
		for _, ns := range []*corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: appNamespace, Labels: map[string]string{"istio-injection": "enabled"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: crNamespace}}, // the operator's, from config/default
		} {
			Expect(client.IgnoreAlreadyExists(env.Client.Create(ctx, ns))).To(Succeed())
		}
		// Workloads from before: Istio 1.27 with regular proxies, installed
		// without the operator.
		d, err := sidecarmode.Decide("1.21.0", false, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
		Expect(err).NotTo(HaveOccurred())
		previous := install.New(env.Client, install.Options{KubeVersion: testenv.KubeletVersion, IstiodRemoteURL: istiod.URL()})
		_, err = previous.Install(ctx, v1alpha2.IstioSpec{}, d, time.Hour)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			ready, msg, err := previous.ControlPlaneReady(ctx, v1alpha2.IstioSpec{}, d)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ready).To(BeTrue(), msg)
		}).WithTimeout(timeout).Should(Succeed())

		objs := []client.Object{
			newDeployment("plain", nil),
			newDeployment("pinned", map[string]string{"sidecar.istio.io/nativeSidecar": "false"}),
			newStatefulSet("db"),
			newJob("batch"),
			newPod("lonely"),
		}
		for _, obj := range objs {
			// Until istiod serves, its fail-closed webhook rejects bare pods.
			Eventually(func() error { return env.Client.Create(ctx, obj) }).WithTimeout(timeout).Should(Succeed())
		}
		for _, app := range []string{"plain", "pinned", "db", "batch", "lonely"} {
			expectProxies(ctx, app, sidecarmode.LayoutRegular, "1.27.1")
		}
	})

	It("installs the newest row with native sidecars, rolls stale workloads once and reports what it cannot restart", func(ctx context.Context) {
		Expect(env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}})).To(Succeed())
		mgr = startManager("1.30.0")

		Eventually(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		}).WithTimeout(timeout).Should(Succeed())
		expectProxies(ctx, "plain", sidecarmode.LayoutNative, "1.30.2")
		expectProxies(ctx, "pinned", sidecarmode.LayoutRegular, "1.30.2")
		expectProxies(ctx, "db", sidecarmode.LayoutNative, "1.30.2")

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

		// Rolled exactly once: one pod-template change each.
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).Should(Equal([]int64{2, 2, 2}))

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
		}).WithTimeout(timeout).WithPolling(2 * time.Second).Should(Succeed())

		Expect(env.Client.Delete(ctx, binding)).To(Succeed())
		Expect(env.Client.Delete(ctx, policy)).To(Succeed())
		expectState(ctx, v1alpha2.StateReady)
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

	It("on the module-1.22 row, rolls every affected workload exactly once per compatibilityMode toggle", func(ctx context.Context) {
		Expect(env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}})).To(Succeed())
		mgr = startManager("1.22.0")
		expectProxies(ctx, "plain", sidecarmode.LayoutNative, "1.27.3")
		expectProxies(ctx, "pinned", sidecarmode.LayoutRegular, "1.27.3")
		expectProxies(ctx, "db", sidecarmode.LayoutNative, "1.27.3")
		expectState(ctx, v1alpha2.StateReady)
		before := generations(ctx)

		setCompatibilityMode(ctx, true)
		Eventually(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))
		}).WithTimeout(timeout).Should(Succeed())
		expectProxies(ctx, "plain", sidecarmode.LayoutRegular, "1.27.3")
		expectProxies(ctx, "db", sidecarmode.LayoutRegular, "1.27.3")
		istio := expectState(ctx, v1alpha2.StateReady)
		Expect(istio.Status.SidecarType).To(Equal("regular"))
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).
			Should(Equal([]int64{before[0] + 1, before[1], before[2] + 1}))

		setCompatibilityMode(ctx, false)
		Eventually(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		}).WithTimeout(timeout).Should(Succeed())
		expectProxies(ctx, "plain", sidecarmode.LayoutNative, "1.27.3")
		expectProxies(ctx, "db", sidecarmode.LayoutNative, "1.27.3")
		expectState(ctx, v1alpha2.StateReady)
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).
			Should(Equal([]int64{before[0] + 2, before[1], before[2] + 2}))
	})

	It("upgrades Istio 1.27 to 1.28 and restarts every proxy once, after the control plane runs 1.28", func(ctx context.Context) {
		before := generations(ctx)
		mgr.stop()
		mgr = startManager("1.23.0")
		expectProxies(ctx, "plain", sidecarmode.LayoutNative, "1.28.2")
		expectProxies(ctx, "pinned", sidecarmode.LayoutRegular, "1.28.2")
		expectProxies(ctx, "db", sidecarmode.LayoutNative, "1.28.2")
		istio := expectState(ctx, v1alpha2.StateReady)
		Expect(istio.Status.IstioVersion).To(Equal("1.28.2"))
		Consistently(func() []int64 { return generations(ctx) }).WithTimeout(3 * time.Second).
			Should(Equal([]int64{before[0] + 1, before[1] + 1, before[2] + 1}))
	})

	It("refuses a jump of two Istio minors and leaves the installed Istio untouched", func(ctx context.Context) {
		mgr.stop()
		mgr = startManager("1.30.0")
		Eventually(func(g Gomega) {
			istio := getIstio(ctx, g)
			g.Expect(istio.Status.State).To(Equal(v1alpha2.StateWarning))
			g.Expect(istio.Condition(v1alpha2.ConditionTypeReady).Reason).To(Equal(string(v1alpha2.ReasonVersionUpdateNotAllowed)))
			g.Expect(istio.Status.Description).To(ContainSubstring("1.29"))
		}).WithTimeout(timeout).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(istiodEnv(ctx, g, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
			var deploy appsv1.Deployment
			g.Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: testenv.IstioNamespace, Name: install.IstiodName}, &deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Spec.Containers[0].Image).To(HaveSuffix(":1.28.2"))
		}).WithTimeout(3 * time.Second).Should(Succeed())
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
