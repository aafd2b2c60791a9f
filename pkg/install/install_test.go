package install_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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

// decide is the Decision for a row of the version table on this cluster.
func decide(module string, compatibilityMode bool) sidecarmode.Decision {
	d, err := sidecarmode.Decide(module, compatibilityMode, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
	Expect(err).NotTo(HaveOccurred())
	return d
}

// installReady installs and waits until the control plane runs the target.
func installReady(ctx context.Context, spec v1alpha2.IstioSpec, d sidecarmode.Decision) {
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

func restartDeployment(ctx context.Context, name, marker string) {
	GinkgoHelper()
	patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{"test/restart":%q}}}}}`, marker)
	Expect(env.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: appNamespace, Name: name}},
		client.RawPatch("application/merge-patch+json", patch))).To(Succeed())
}

var _ = Describe("Installer", Ordered, func() {
	minimal := v1alpha2.IstioSpec{}

	BeforeAll(func(ctx context.Context) {
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: appNamespace, Labels: map[string]string{"istio-injection": "enabled"},
		}})).To(Succeed())
	})

	It("installs a regular row: istiod injects regular containers, and the annotation cannot make them native", func(ctx context.Context) {
		d := decide("1.21.0", false)
		installReady(ctx, minimal, d)
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))

		var crd apiextensionsv1.CustomResourceDefinition
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: "virtualservices.networking.istio.io"}, &crd)).To(Succeed())

		Expect(env.Client.Create(ctx, deployment("plain", nil))).To(Succeed())
		Expect(env.Client.Create(ctx, deployment("pinned", map[string]string{"sidecar.istio.io/nativeSidecar": "false"}))).To(Succeed())
		expectPods(ctx, "plain", sidecarmode.LayoutRegular, d.IstioVersion)
		expectPods(ctx, "pinned", sidecarmode.LayoutRegular, d.IstioVersion)
	})

	It("switches to a native row: after a rollout pods are native, the pinned one stays regular", func(ctx context.Context) {
		d := decide("1.22.0", false)
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
		installReady(ctx, minimal, decide("1.22.0", false))
		for name, uid := range before {
			var sl discoveryv1.EndpointSlice
			Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "istio-system", Name: name}, &sl)).To(Succeed())
			Expect(sl.UID).To(Equal(uid), "EndpointSlice %s was deleted and recreated", name)
		}
	})
	It("flips ENABLE_NATIVE_SIDECARS with compatibilityMode on the module-1.22 row", func(ctx context.Context) {
		compat := v1alpha2.IstioSpec{CompatibilityMode: true}
		installReady(ctx, compat, decide("1.22.0", true))
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))
		restartDeployment(ctx, "plain", "compat")
		expectPods(ctx, "plain", sidecarmode.LayoutRegular, "1.27.3")

		installReady(ctx, minimal, decide("1.22.0", false))
		Expect(istiodEnv(ctx, "ENABLE_NATIVE_SIDECARS")).To(Equal("true"))
		restartDeployment(ctx, "plain", "native-again")
		expectPods(ctx, "plain", sidecarmode.LayoutNative, "1.27.3")
	})

	It("maps a CR field to the mesh config and removes its effect when the field is removed", func(ctx context.Context) {
		d := decide("1.22.0", false)
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
		d := decide("1.22.0", false)
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

	It("writes nothing when asked to install the same thing again", func(ctx context.Context) {
		d := decide("1.22.0", false)
		applied, err := installer.Install(ctx, minimal, d, time.Hour)
		Expect(err).NotTo(HaveOccurred())
		Expect(applied).To(BeFalse())
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
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Name: "virtualservices.networking.istio.io"}, &apiextensionsv1.CustomResourceDefinition{}))
		}).WithTimeout(timeout).Should(BeTrue())
		// The installer created the namespace in this suite, so it goes too.
		Eventually(func() bool {
			return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Name: "istio-system"}, &corev1.Namespace{}))
		}).WithTimeout(timeout).Should(BeTrue())
	})
})
