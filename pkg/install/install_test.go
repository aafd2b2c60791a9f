package install_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

const (
	appNamespace = "apps"
	timeout      = 2 * time.Minute
)

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		env.KeepLogs()
	}
})

// decide is the Decision for a module release of the version table on this cluster.
func decide(module string, compatibilityMode bool) sidecarmode.Decision {
	d, err := sidecarmode.Decide(module, compatibilityMode, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
	Expect(err).NotTo(HaveOccurred())
	return d
}

// Policies no release of Istio 1.30.2 has, for the switches between the
// container types: real charts, the real istiod and an explicit setting, only
// the row is the test's own.
var (
	regularRow = sidecarmode.Release{Module: "test-regular", Istio: testenv.IstioVersion,
		Default: sidecarmode.Regular, CompatibilityDefault: sidecarmode.Regular, Note: "regular containers"}
	toggleRow = sidecarmode.Release{Module: "test-toggle", Istio: testenv.IstioVersion,
		Default: sidecarmode.Native, CompatibilityDefault: sidecarmode.Regular, Note: "native unless compatibilityMode"}
)

func decideFor(row sidecarmode.Release, compatibilityMode bool) sidecarmode.Decision {
	return sidecarmode.DecideFor(row, compatibilityMode, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
}

// thisBuild is the decision of this build's module release.
func thisBuild() sidecarmode.Decision { return decide(sidecarmode.ModuleVersion, false) }

// installReady installs and waits until the control plane runs the target.
func installReady(ctx context.Context, spec v1alpha2.IstioSpec, d sidecarmode.Decision) {
	GinkgoHelper()
	installReadyWith(ctx, installer, spec, d)
}

func installReadyWith(ctx context.Context, installer *install.Installer, spec v1alpha2.IstioSpec, d sidecarmode.Decision) {
	GinkgoHelper()
	_, err := installer.Install(ctx, spec, d, time.Hour)
	Expect(err).NotTo(HaveOccurred())
	Eventually(func(g Gomega) {
		ready, msg, err := installer.ControlPlaneReady(ctx, spec, d)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ready).To(BeTrue(), msg)
	}).WithTimeout(timeout).Should(Succeed())
}

// istiodEnv is the value of an env var on istiod's discovery container.
func istiodEnv(ctx context.Context, name string) string {
	GinkgoHelper()
	var deploy appsv1.Deployment
	Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: "istiod"}, &deploy)).To(Succeed())
	for _, c := range deploy.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			for _, e := range c.Env {
				if e.Name == name {
					return e.Value
				}
			}
		}
	}
	return ""
}

// meshConfig is the mesh config istiod reads, from the istio ConfigMap.
func meshConfig(ctx context.Context) map[string]any {
	GinkgoHelper()
	var cm corev1.ConfigMap
	Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: "istio"}, &cm)).To(Succeed())
	var mesh map[string]any
	Expect(yaml.Unmarshal([]byte(cm.Data["mesh"]), &mesh)).To(Succeed())
	return mesh
}

func deployment(name string, annotations map[string]string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: appNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
			},
		},
	}
}

// expectPods waits until the Deployment's running pods all carry a proxy of
// the given layout and version.
func expectPods(ctx context.Context, name string, layout sidecarmode.Layout, version string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		var pods corev1.PodList
		g.Expect(env.Client.List(ctx, &pods, client.InNamespace(appNamespace), client.MatchingLabels{"app": name})).To(Succeed())
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			live++
			proxy := sidecarmode.Inspect(p.ObjectMeta, p.Spec)
			g.Expect(proxy.Layout).To(Equal(layout), "pod %s", p.Name)
			g.Expect(proxy.Version).To(Equal(version), "pod %s", p.Name)
		}
		g.Expect(live).To(Equal(1))
	}).WithTimeout(timeout).Should(Succeed())
}

// runningIstiod is the istiod process the harness runs now.
func runningIstiod() testenv.IstiodRun {
	runs := istiod.Runs()
	if len(runs) == 0 || !runs[len(runs)-1].Stopped.IsZero() {
		return testenv.IstiodRun{}
	}
	return runs[len(runs)-1]
}

func crdNames(ctx context.Context) []string {
	GinkgoHelper()
	var crds apiextensionsv1.CustomResourceDefinitionList
	Expect(env.Client.List(ctx, &crds)).To(Succeed())
	var names []string
	for _, c := range crds.Items {
		names = append(names, c.Name)
	}
	return names
}

// podCreated is when the Deployment's live pod was created.
func podCreated(ctx context.Context, name string) time.Time {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(env.Client.List(ctx, &pods, client.InNamespace(appNamespace), client.MatchingLabels{"app": name})).To(Succeed())
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			return p.CreationTimestamp.Time
		}
	}
	Fail("no live pod of " + name)
	return time.Time{}
}

func restartDeployment(ctx context.Context, name, marker string) {
	GinkgoHelper()
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"test/restart":%q}}}}}`, marker)
	Expect(env.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: appNamespace, Name: name}},
		client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
}

// userNetworkPolicy is a policy with the operator's name prefix that the
// operator did not create.
func userNetworkPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: install.KymaSystemNamespace, Name: install.NetworkPolicyPrefix + "users-own"},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "mine"}}},
	}
}

// managedNetworkPolicies names the NetworkPolicies carrying the operator's
// label, in all namespaces.
func managedNetworkPolicies(ctx context.Context, g Gomega) []string {
	var list networkingv1.NetworkPolicyList
	g.Expect(env.Client.List(ctx, &list, client.MatchingLabels{install.ManagedByLabel: install.ManagedByValue})).To(Succeed())
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Namespace+"/"+p.Name)
		}
	}
	return names
}

// expectNetworkPolicies checks the policies in the cluster against
// testdata/networkpolicies.yaml, with the API server's port from the
// kubernetes Service: exactly those, spec for spec.
func expectNetworkPolicies(ctx context.Context) {
	GinkgoHelper()
	var svc corev1.Service
	Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &svc)).To(Succeed())
	apiPort := ""
	for _, p := range svc.Spec.Ports {
		if p.Name == "https" {
			apiPort = p.TargetPort.String()
		}
	}
	Expect(apiPort).NotTo(BeEmpty())
	data, err := os.ReadFile("testdata/networkpolicies.yaml")
	Expect(err).NotTo(HaveOccurred())
	var want []networkingv1.NetworkPolicy
	Expect(yaml.UnmarshalStrict([]byte(strings.ReplaceAll(string(data), "API_PORT", apiPort)), &want)).To(Succeed())
	Expect(want).To(HaveLen(7))

	var names []string
	for _, w := range want {
		names = append(names, w.Namespace+"/"+w.Name)
		var got networkingv1.NetworkPolicy
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(&w), &got)).To(Succeed())
		Expect(got.Spec).To(Equal(w.Spec), "spec of %s", w.Name)
		Expect(got.Labels).To(HaveKeyWithValue("kyma-project.io/module", "istio"))
		Expect(got.OwnerReferences).To(BeEmpty())
	}
	Eventually(func(g Gomega) []string { return managedNetworkPolicies(ctx, g) }).Should(ConsistOf(names))
}

// componentGenerations are the generations of the components the network
// policies toggle restarts: istiod, the ingress gateway and the CNI node agent.
func componentGenerations(ctx context.Context) []int64 {
	GinkgoHelper()
	var out []int64
	for _, obj := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: install.IstiodName}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: install.IngressGatewayName}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-cni-node"}},
	} {
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		out = append(out, obj.GetGeneration())
	}
	return out
}

func plusOne(gens []int64) []int64 {
	out := make([]int64, len(gens))
	for i, g := range gens {
		out[i] = g + 1
	}
	return out
}

var _ = Describe("Installer", Ordered, func() {
	minimal := v1alpha2.IstioSpec{}

	BeforeAll(func(ctx context.Context) {
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: appNamespace, Labels: map[string]string{"istio-injection": "enabled"},
		}})).To(Succeed())
	})

	It("installs the real Istio 1.29.2 from its own charts, as module 1.27.3 left it, with istiod 1.29.2 injecting", func(ctx context.Context) {
		previous, err := env.Installer(istiod, testenv.PreviousIstioVersion)
		Expect(err).NotTo(HaveOccurred())
		d := decide("1.27.3", false)
		Expect(d.IstioVersion).To(Equal(testenv.PreviousIstioVersion))
		installReadyWith(ctx, previous, minimal, d)
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		Eventually(func() string { return runningIstiod().Version }).WithTimeout(timeout).Should(Equal("1.29.2"))
		Expect(crdNames(ctx)).NotTo(ContainElement("trafficextensions.extensions.istio.io"), "Istio 1.29.2 has 14 CRDs")

		Expect(env.Client.Create(ctx, deployment("plain", nil))).To(Succeed())
		Expect(env.Client.Create(ctx, deployment("pinned", map[string]string{"sidecar.istio.io/nativeSidecar": "false"}))).To(Succeed())
		expectPods(ctx, "plain", sidecarmode.LayoutNative, "1.29.2")
		expectPods(ctx, "pinned", sidecarmode.LayoutRegular, "1.29.2")
	})

	It("reads the installed Istio 1.29.2 from istiod's image, so the guard refuses to skip to 1.31 whatever a CR records", func(ctx context.Context) {
		installed, err := installer.InstalledVersion(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(installed).To(Equal("1.29.2"))
		var refused *install.VersionUpdateError
		Expect(errors.As(install.CheckVersionUpdate(installed, "1.31.0"), &refused)).To(BeTrue())
		Expect(install.CheckVersionUpdate(installed, thisBuild().IstioVersion)).To(Succeed())
	})

	It("upgrades it to this build's Istio 1.30.2: takes over its objects, upgrades the CRDs, replaces istiod", func(ctx context.Context) {
		installReady(ctx, minimal, thisBuild())
		Eventually(func() string { return runningIstiod().Version }).WithTimeout(timeout).Should(Equal("1.30.2"))
		runs := istiod.Runs()
		Expect(runs[len(runs)-2].Version).To(Equal("1.29.2"))
		Expect(runs[len(runs)-2].Stopped).NotTo(BeZero(), "the 1.29.2 istiod is stopped")

		// Istio 1.30.2 adds one CRD and changes the schema of others.
		Expect(crdNames(ctx)).To(ContainElement("trafficextensions.extensions.istio.io"))
		var authz apiextensionsv1.CustomResourceDefinition
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: "authorizationpolicies.security.istio.io"}, &authz)).To(Succeed())
		schema, err := json.Marshal(authz.Spec.Versions)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(schema)).To(ContainSubstring("trustDomains"))

		// Server-side apply took over 1.29.2's objects: a rule the 1.30.2
		// chart no longer renders is gone from istiod's ClusterRole.
		var role rbacv1.ClusterRole
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: "istiod-clusterrole-istio-system"}, &role)).To(Succeed())
		var resources []string
		for _, r := range role.Rules {
			resources = append(resources, r.Resources...)
		}
		Expect(resources).To(ContainElement("listenersets/status"))
		Expect(resources).NotTo(ContainElement("xlistenersets/status"))

		// New pods get the 1.30.2 proxy from istiod 1.30.2, the only one
		// running since istiod 1.29.2 stopped.
		stopped := runs[len(runs)-2].Stopped
		restartDeployment(ctx, "plain", "upgraded")
		restartDeployment(ctx, "pinned", "upgraded")
		expectPods(ctx, "plain", sidecarmode.LayoutNative, "1.30.2")
		expectPods(ctx, "pinned", sidecarmode.LayoutRegular, "1.30.2")
		for _, name := range []string{"plain", "pinned"} {
			Expect(podCreated(ctx, name)).To(BeTemporally(">=", stopped.Truncate(time.Second)), name)
		}
	})

	It("reads the upgraded Istio 1.30.2 from istiod's image, so the guard refuses the downgrade back to 1.29.2", func(ctx context.Context) {
		installed, err := installer.InstalledVersion(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(installed).To(Equal("1.30.2"))
		var refused *install.VersionUpdateError
		Expect(errors.As(install.CheckVersionUpdate(installed, testenv.PreviousIstioVersion), &refused)).To(BeTrue())
	})

	It("installs a regular row: istiod injects regular containers, the pinned pod stays regular", func(ctx context.Context) {
		d := decideFor(regularRow, false)
		installReady(ctx, minimal, d)
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))

		restartDeployment(ctx, "plain", "regular")
		restartDeployment(ctx, "pinned", "regular")
		expectPods(ctx, "plain", sidecarmode.LayoutRegular, d.IstioVersion)
		expectPods(ctx, "pinned", sidecarmode.LayoutRegular, d.IstioVersion)
	})

	It("switches to a native row: after a rollout pods are native, the pinned one stays regular", func(ctx context.Context) {
		d := thisBuild()
		installReady(ctx, minimal, d)
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		Eventually(istiod.Running).Should(BeTrue())

		restartDeployment(ctx, "plain", "native")
		restartDeployment(ctx, "pinned", "native")
		expectPods(ctx, "plain", sidecarmode.LayoutNative, d.IstioVersion)
		expectPods(ctx, "pinned", sidecarmode.LayoutRegular, d.IstioVersion)
	})

	It("prunes nothing a controller made from its objects: its Services' EndpointSlices, which carry their labels, stay", func(ctx context.Context) {
		var slices discoveryv1.EndpointSliceList
		Eventually(func(g Gomega) {
			g.Expect(env.Client.List(ctx, &slices, client.InNamespace("istio-system"),
				client.MatchingLabels{install.ManagedByLabel: install.ManagedByValue})).To(Succeed())
			g.Expect(slices.Items).NotTo(BeEmpty())
		}).WithTimeout(timeout).Should(Succeed())
		before := map[string]types.UID{}
		for _, sl := range slices.Items {
			before[sl.Name] = sl.UID
		}
		installer.Forget()
		installReady(ctx, minimal, thisBuild())
		for name, uid := range before {
			var sl discoveryv1.EndpointSlice
			Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: name}, &sl)).To(Succeed())
			Expect(sl.UID).To(Equal(uid), "EndpointSlice %s was deleted and recreated", name)
		}
	})

	It("flips ENABLE_NATIVE_SIDECARS with compatibilityMode on a row whose compatibility mode is regular", func(ctx context.Context) {
		compat := v1alpha2.IstioSpec{CompatibilityMode: true}
		installReady(ctx, compat, decideFor(toggleRow, true))
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))
		restartDeployment(ctx, "plain", "compat")
		expectPods(ctx, "plain", sidecarmode.LayoutRegular, "1.30.2")

		installReady(ctx, minimal, decideFor(toggleRow, false))
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		restartDeployment(ctx, "plain", "native-again")
		expectPods(ctx, "plain", sidecarmode.LayoutNative, "1.30.2")
	})

	It("maps a CR field to the mesh config and removes its effect when the field is removed", func(ctx context.Context) {
		d := thisBuild()
		spec := v1alpha2.IstioSpec{Config: v1alpha2.Config{NumTrustedProxies: ptr.To(2), TrustDomain: ptr.To("example.org")}}
		installReady(ctx, spec, d)
		mesh := meshConfig(ctx)
		Expect(mesh).To(HaveKeyWithValue("trustDomain", "example.org"))
		Expect(mesh).To(HaveKeyWithValue("defaultConfig", HaveKeyWithValue("gatewayTopology", HaveKeyWithValue("numTrustedProxies", BeNumerically("==", 2)))))

		installReady(ctx, minimal, d)
		mesh = meshConfig(ctx)
		Expect(mesh).NotTo(HaveKeyWithValue("trustDomain", "example.org"))
		Expect(mesh["defaultConfig"]).NotTo(HaveKey("gatewayTopology"))
	})

	It("prunes the egress gateway once it is disabled", func(ctx context.Context) {
		d := thisBuild()
		egress := v1alpha2.IstioSpec{Components: &v1alpha2.Components{EgressGateway: &v1alpha2.EgressGateway{Enabled: ptr.To(true)}}}
		installReady(ctx, egress, d)
		key := client.ObjectKey{Namespace: "istio-system", Name: install.EgressGatewayName}
		Expect(env.Client.Get(ctx, key, &appsv1.Deployment{})).To(Succeed())

		installReady(ctx, minimal, d)
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, key, &appsv1.Deployment{}))
		}).WithTimeout(timeout).Should(BeTrue())
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, key, &corev1.Service{}))).To(BeTrue())
	})

	It("keeps what a failed pass applied: with 30% of writes refused (409), one try per object, passes add up to an install", func(ctx context.Context) {
		backoff := install.RetryBackoff
		install.RetryBackoff.Steps = 1
		DeferCleanup(func() { install.RetryBackoff = backoff })
		proxy, err := env.StartFaultProxy(testenv.FaultOptions{Rate: 0.3, Seed: 17, Faults: []testenv.Fault{testenv.FaultConflict}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		flaky, err := client.New(proxy.Config(), client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		// A new installer: it applies every object once, as after an operator
		// restart. With 30% of writes failing, a pass of about 50 objects
		// that started over each time would almost never get through
		// (0.7^50 < 1e-7); reads pass, so the prune after the last object does.
		fresh := install.New(flaky, install.Options{KubeVersion: testenv.KubeletVersion, IstiodRemoteURL: istiod.URL()})
		passes, failed := 0, 0
		for ; passes < 100; passes++ {
			_, err := fresh.Install(ctx, minimal, thisBuild(), time.Hour)
			if err == nil {
				break
			}
			failed++
			Expect(install.IsTransient(err)).To(BeTrue(), "%v", err)
			if strings.Contains(err.Error(), "objects applied") {
				Expect(err.Error()).To(ContainSubstring("the next attempt continues with the rest"))
			}
		}
		Expect(passes).To(BeNumerically("<", 100), "no install after 100 passes: %s", proxy.Stats())
		Expect(failed).To(BeNumerically(">", 0), "no pass failed: %s", proxy.Stats())
		applied, err := fresh.Install(ctx, minimal, thisBuild(), time.Hour)
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeFalse(), "a completed install is not applied again until the resync")
	})

	It("writes nothing when asked to install the same thing again", func(ctx context.Context) {
		d := thisBuild()
		applied, err := installer.Install(ctx, minimal, d, time.Hour)
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeFalse())
	})

	It("keeps Kyma's network policies while enabled, rolls istiod, the ingress gateway and CNI once per toggle, and removes only its own", func(ctx context.Context) {
		d := thisBuild()
		withPolicies := v1alpha2.IstioSpec{NetworkPoliciesEnabled: true}
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: install.KymaSystemNamespace}})).To(Succeed())
		users := userNetworkPolicy()
		Expect(env.Client.Create(ctx, users)).To(Succeed())
		before := componentGenerations(ctx)

		installReady(ctx, withPolicies, d)
		expectNetworkPolicies(ctx)
		Expect(componentGenerations(ctx)).To(Equal(plusOne(before)))
		// Applying the same again (a resync) rolls nothing out.
		_, err := installer.Install(ctx, withPolicies, d, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(componentGenerations(ctx)).To(Equal(plusOne(before)))

		installReady(ctx, minimal, d)
		Eventually(func(g Gomega) {
			g.Expect(managedNetworkPolicies(ctx, g)).To(BeEmpty())
		}).WithTimeout(timeout).Should(Succeed())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(users), &networkingv1.NetworkPolicy{})).To(Succeed(), "a policy the operator did not create is kept")
		Expect(componentGenerations(ctx)).To(Equal(plusOne(plusOne(before))))

		// On for the uninstall below, which must remove them too.
		installReady(ctx, withPolicies, d)
		expectNetworkPolicies(ctx)
	})

	It("refuses to uninstall while a user's VirtualService exists, then removes everything", func(ctx context.Context) {
		vs := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": "reviews", "namespace": appNamespace},
			"spec":     map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews"}}}}}},
		}}
		// istiod's validating webhook checks it, so the real istiod must serve.
		Eventually(func() error { return env.Client.Create(ctx, vs) }).WithTimeout(timeout).Should(Succeed())

		_, err := installer.Uninstall(ctx)
		var dangling *install.DanglingResourcesError
		Expect(errors.As(err, &dangling)).To(BeTrue(), "error: %v", err)
		Expect(err.Error()).To(ContainSubstring("VirtualService apps/reviews"))
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: "istiod"}, &appsv1.Deployment{})).To(Succeed())

		Expect(env.Client.Delete(ctx, vs)).To(Succeed())
		Eventually(func(g Gomega) {
			res, err := installer.Uninstall(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res.Done).To(BeTrue())
			g.Expect(res.ProxyPods).To(BeNumerically(">=", 2))
		}).WithTimeout(timeout).Should(Succeed())
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: "istiod"}, &appsv1.Deployment{}))).To(BeTrue())
		Eventually(func(g Gomega) {
			g.Expect(managedNetworkPolicies(ctx, g)).To(BeEmpty())
		}).WithTimeout(timeout).Should(Succeed())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(userNetworkPolicy()), &networkingv1.NetworkPolicy{})).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Name: "virtualservices.networking.istio.io"}, &apiextensionsv1.CustomResourceDefinition{}))
		}).WithTimeout(timeout).Should(BeTrue())
		// The installer created the namespace in this suite, so it goes too.
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Name: "istio-system"}, &corev1.Namespace{}))
		}).WithTimeout(timeout).Should(BeTrue())
	})

	It("reads no installed Istio once istiod is gone: a fresh install is not guarded", func(ctx context.Context) {
		Expect(installer.InstalledVersion(ctx)).To(BeEmpty())
	})
})
