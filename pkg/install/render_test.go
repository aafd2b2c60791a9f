package install

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// testDecision is the decision of module 1.30 without compatibility mode.
func testDecision() sidecarmode.Decision {
	return sidecarmode.Decision{
		ModuleVersion:        "1.30.0",
		IstioVersion:         "1.30.2",
		DefaultType:          sidecarmode.Native,
		EnableNativeSidecars: "true",
	}
}

func testOptions() Options {
	return Options{KubeVersion: "v1.37.2"}
}

// specFrom reads a CR spec from YAML, strictly, as the API server would
// store it.
func specFrom(g Gomega, y string) v1alpha2.IstioSpec {
	var spec v1alpha2.IstioSpec
	g.Expect(yaml.UnmarshalStrict([]byte(y), &spec)).To(Succeed())
	return spec
}

func render(g Gomega, spec v1alpha2.IstioSpec, d sidecarmode.Decision, opts Options) []*unstructured.Unstructured {
	objs, err := renderAll(spec, d, opts)
	g.Expect(err).NotTo(HaveOccurred())
	return objs
}

// find returns the rendered object of a kind and name; it fails when there is
// none or more than one.
func find(g Gomega, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	g.Expect(found).To(HaveLen(1), "rendered %s %s", kind, name)
	return found[0]
}

func has(objs []*unstructured.Unstructured, kind, name string) bool {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return true
		}
	}
	return false
}

// field reads a field of a rendered object (or of any nested map); nil when
// it is not there.
func field(obj map[string]any, path ...string) any {
	v, ok, err := unstructured.NestedFieldNoCopy(obj, path...)
	if err != nil || !ok {
		return nil
	}
	return v
}

// meshOf is the mesh config istiod reads: the istio ConfigMap's mesh key.
func meshOf(g Gomega, objs []*unstructured.Unstructured) map[string]any {
	cm := find(g, objs, "ConfigMap", "istio")
	var mesh map[string]any
	g.Expect(yaml.Unmarshal([]byte(field(cm.Object, "data", "mesh").(string)), &mesh)).To(Succeed())
	return mesh
}

// injectorValues are the chart values the injector templates read: the
// istio-sidecar-injector ConfigMap's values key.
func injectorValues(g Gomega, objs []*unstructured.Unstructured) map[string]any {
	cm := find(g, objs, "ConfigMap", "istio-sidecar-injector")
	var values map[string]any
	g.Expect(json.Unmarshal([]byte(field(cm.Object, "data", "values").(string)), &values)).To(Succeed())
	return values
}

// container returns a container of a workload's pod template.
func container(g Gomega, obj *unstructured.Unstructured, name string) map[string]any {
	containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		if m := c.(map[string]any); m["name"] == name {
			return m
		}
	}
	g.Expect(name).To(BeEmpty(), "no container %s in %s %s", name, obj.GetKind(), obj.GetName())
	return nil
}

// envOf returns a container's plain environment variables.
func envOf(c map[string]any) map[string]string {
	env := map[string]string{}
	list, _ := c["env"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		if v, ok := m["value"].(string); ok {
			env[m["name"].(string)] = v
		}
	}
	return env
}

func discoveryEnv(g Gomega, objs []*unstructured.Unstructured) map[string]string {
	return envOf(container(g, find(g, objs, "Deployment", IstiodName), "discovery"))
}

func objectKeyOf(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s/%s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}

func indexOf(objs []*unstructured.Unstructured, kind, name string) int {
	for i, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return i
		}
	}
	return -1
}

func TestRenderAllOrderAndLabels(t *testing.T) {
	g := NewWithT(t)
	spec := specFrom(g, `components: {egressGateway: {enabled: true}}`)
	objs := render(g, spec, testDecision(), testOptions())

	for _, o := range objs {
		g.Expect(o.GetLabels()).To(HaveKeyWithValue(ManagedByLabel, ManagedByValue), objectKeyOf(o))
		g.Expect(o.GetKind()).NotTo(Equal("List"))
	}

	// base (CRDs), istiod, istio-cni, ingress, egress.
	lastCRD := -1
	crds := 0
	for i, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			lastCRD, crds = i, crds+1
		}
	}
	g.Expect(crds).To(BeNumerically(">=", 15))
	order := []int{
		lastCRD,
		indexOf(objs, "Deployment", IstiodName),
		indexOf(objs, "DaemonSet", "istio-cni-node"),
		indexOf(objs, "Deployment", IngressGatewayName),
		indexOf(objs, "Deployment", EgressGatewayName),
	}
	g.Expect(order).NotTo(ContainElement(-1))
	g.Expect(sort.IntsAreSorted(order)).To(BeTrue(), "objects in release order: %v", order)
}

func TestRenderAllDeterministic(t *testing.T) {
	g := NewWithT(t)
	spec := specFrom(g, fullSpecYAML)
	serialize := func() []byte {
		b, err := json.Marshal(render(g, spec, testDecision(), testOptions()))
		g.Expect(err).NotTo(HaveOccurred())
		return b
	}
	first := serialize()
	g.Expect(serialize()).To(Equal(first))
}

func TestRenderAllNeedsKubeVersion(t *testing.T) {
	g := NewWithT(t)
	_, err := renderAll(v1alpha2.IstioSpec{}, testDecision(), Options{})
	g.Expect(err).To(MatchError(ContainSubstring("Kubernetes version")))
}

func TestReleasesRejectBadDecision(t *testing.T) {
	for name, d := range map[string]sidecarmode.Decision{
		"auto":       {IstioVersion: "1.30.2", EnableNativeSidecars: "auto"},
		"empty":      {IstioVersion: "1.30.2"},
		"no version": {EnableNativeSidecars: "true"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := releases(v1alpha2.IstioSpec{}, d, testOptions())
			g.Expect(err).To(HaveOccurred())
		})
	}
}

func TestDecisionValues(t *testing.T) {
	g := NewWithT(t)
	opts := testOptions()
	opts.Hub = "registry.example.com/istio"
	opts.Namespace = "mesh-system"
	objs := render(g, v1alpha2.IstioSpec{}, testDecision(), opts)

	istiod := find(g, objs, "Deployment", IstiodName)
	g.Expect(istiod.GetNamespace()).To(Equal("mesh-system"))
	g.Expect(container(g, istiod, "discovery")["image"]).To(Equal("registry.example.com/istio/pilot:1.30.2"))
	cni := find(g, objs, "DaemonSet", "istio-cni-node")
	g.Expect(cni.GetNamespace()).To(Equal("mesh-system"))
	g.Expect(container(g, cni, "install-cni")["image"]).To(Equal("registry.example.com/istio/install-cni:1.30.2"))

	values := injectorValues(g, objs)
	g.Expect(field(values, "global", "hub")).To(Equal("registry.example.com/istio"))
	g.Expect(field(values, "global", "tag")).To(Equal("1.30.2"))
	g.Expect(field(values, "global", "istioNamespace")).To(Equal("mesh-system"))
	// CNI is installed, so the injector adds istio-validation, not istio-init.
	g.Expect(field(values, "pilot", "cni", "enabled")).To(BeTrue())

	for _, o := range objs {
		if o.GetNamespace() != "" {
			g.Expect(o.GetNamespace()).To(Equal("mesh-system"), objectKeyOf(o))
		}
	}
}

func TestEnableNativeSidecars(t *testing.T) {
	for _, value := range []string{"true", "false"} {
		t.Run(value, func(t *testing.T) {
			g := NewWithT(t)
			d := testDecision()
			d.EnableNativeSidecars = value
			if value == "false" {
				d.DefaultType = sidecarmode.Regular
			}
			objs := render(g, v1alpha2.IstioSpec{}, d, testOptions())
			g.Expect(discoveryEnv(g, objs)).To(HaveKeyWithValue("ENABLE_NATIVE_SIDECARS", value))
			g.Expect(field(injectorValues(g, objs), "pilot", "env", "ENABLE_NATIVE_SIDECARS")).To(Equal(value))
		})
	}
}

// TestCompatibilityVersionTurnsNativeOff renders Istio 1.30.2's charts with
// the 1.26 compatibility profile (which they still ship) and regular
// containers, as module 1.22 in compatibility mode asked of Istio 1.27: the
// profile turns native sidecars off by itself, and the explicit value agrees.
func TestCompatibilityVersionTurnsNativeOff(t *testing.T) {
	g := NewWithT(t)
	d := sidecarmode.Decision{
		IstioVersion:         "1.30.2",
		DefaultType:          sidecarmode.Regular,
		EnableNativeSidecars: "false",
		CompatibilityVersion: "1.26",
	}
	objs := render(g, v1alpha2.IstioSpec{}, d, testOptions())
	g.Expect(discoveryEnv(g, objs)).To(HaveKeyWithValue("ENABLE_NATIVE_SIDECARS", "false"))
	g.Expect(field(injectorValues(g, objs), "pilot", "env", "ENABLE_NATIVE_SIDECARS")).To(Equal("false"))

	// Without the explicit value, the profile alone sets it.
	rels, err := releases(v1alpha2.IstioSpec{}, d, testOptions())
	g.Expect(err).NotTo(HaveOccurred())
	istiod := rels[1]
	g.Expect(istiod.chart).To(Equal(chartIstiod))
	g.Expect(istiod.values).To(HaveKeyWithValue("compatibilityVersion", "1.26"))
	delete(field(istiod.values, "pilot", "env").(map[string]any), "ENABLE_NATIVE_SIDECARS")
	profileOnly, err := renderChart(EmbeddedCharts(), istiod.chart, istiod.release, DefaultNamespace, "v1.37.2", istiod.values)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(discoveryEnv(g, profileOnly)).To(HaveKeyWithValue("ENABLE_NATIVE_SIDECARS", "false"))

	// The CNI chart gets the profile too.
	g.Expect(rels[2].chart).To(Equal(chartCNI))
	g.Expect(rels[2].values).To(HaveKeyWithValue("compatibilityVersion", "1.26"))
}

// TestCompatibilityModeChangesOnlyTheProfile diffs the renders of module 1.30
// with and without compatibility mode: only istiod's Deployment and the
// injector's values change, by the 1.29 profile's one setting.
func TestCompatibilityModeChangesOnlyTheProfile(t *testing.T) {
	g := NewWithT(t)
	spec := specFrom(g, fullSpecYAML)
	off := testDecision()
	on := testDecision()
	on.CompatibilityVersion = "1.29"
	before := render(g, spec, off, testOptions())
	after := render(g, spec, on, testOptions())

	byKey := func(objs []*unstructured.Unstructured) map[string]string {
		m := map[string]string{}
		for _, o := range objs {
			b, err := json.Marshal(o.Object)
			g.Expect(err).NotTo(HaveOccurred())
			m[objectKeyOf(o)] = string(b)
		}
		return m
	}
	b, a := byKey(before), byKey(after)
	g.Expect(sets.KeySet(a)).To(Equal(sets.KeySet(b)), "same objects")
	changed := sets.New[string]()
	for k := range a {
		if a[k] != b[k] {
			changed.Insert(k)
		}
	}
	g.Expect(sets.List(changed)).To(ConsistOf(
		"Deployment/istio-system/istiod",
		"ConfigMap/istio-system/istio-sidecar-injector",
		// The chart's record of its input values, for debugging.
		"ConfigMap/istio-system/values",
	))

	originalValues := func(objs []*unstructured.Unstructured) map[string]any {
		cm := find(g, objs, "ConfigMap", "values")
		var v map[string]any
		g.Expect(json.Unmarshal([]byte(field(cm.Object, "data", "original-values").(string)), &v)).To(Succeed())
		return v
	}
	inputAfter := originalValues(after)
	g.Expect(inputAfter).To(HaveKeyWithValue("compatibilityVersion", "1.29"))
	delete(inputAfter, "compatibilityVersion")
	g.Expect(inputAfter).To(Equal(originalValues(before)))

	envBefore, envAfter := discoveryEnv(g, before), discoveryEnv(g, after)
	g.Expect(envAfter).To(HaveKeyWithValue("PILOT_SIDECAR_PICK_BEST_SERVICE_NAMESPACE", "false"))
	delete(envAfter, "PILOT_SIDECAR_PICK_BEST_SERVICE_NAMESPACE")
	g.Expect(envAfter).To(Equal(envBefore))
	// Compatibility mode of 1.30 keeps native sidecars.
	g.Expect(envAfter).To(HaveKeyWithValue("ENABLE_NATIVE_SIDECARS", "true"))

	injBefore, injAfter := injectorValues(g, before), injectorValues(g, after)
	envMap := field(injAfter, "pilot", "env").(map[string]any)
	g.Expect(envMap).To(HaveKeyWithValue("PILOT_SIDECAR_PICK_BEST_SERVICE_NAMESPACE", "false"))
	delete(envMap, "PILOT_SIDECAR_PICK_BEST_SERVICE_NAMESPACE")
	g.Expect(injAfter).To(Equal(injBefore))
}

func TestEgressGatewayOnlyWhenEnabled(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want bool
	}{
		{spec: `{}`},
		{spec: `components: {egressGateway: {}}`},
		{spec: `components: {egressGateway: {enabled: false, k8s: {hpaSpec: {maxReplicas: 3}}}}`},
		{spec: `components: {egressGateway: {enabled: true}}`, want: true},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			g := NewWithT(t)
			objs := render(g, specFrom(g, tc.spec), testDecision(), testOptions())
			g.Expect(has(objs, "Deployment", EgressGatewayName)).To(Equal(tc.want))
			g.Expect(has(objs, "Service", EgressGatewayName)).To(Equal(tc.want))
			g.Expect(has(objs, "Deployment", IngressGatewayName)).To(BeTrue())
			if !tc.want {
				return
			}
			svc := find(g, objs, "Service", EgressGatewayName)
			g.Expect(field(svc.Object, "spec", "type")).To(Equal("ClusterIP"))
			g.Expect(field(svc.Object, "spec", "selector")).To(Equal(map[string]any{
				"app": "istio-egressgateway", "istio": "egressgateway",
			}))
		})
	}
}

func TestGatewayPodTemplate(t *testing.T) {
	g := NewWithT(t)
	objs := render(g, v1alpha2.IstioSpec{}, testDecision(), testOptions())
	deploy := find(g, objs, "Deployment", IngressGatewayName)
	g.Expect(deploy.GetNamespace()).To(Equal(DefaultNamespace))

	annotations := field(deploy.Object, "spec", "template", "metadata", "annotations")
	g.Expect(annotations).To(Equal(map[string]any{
		IstioVersionAnnotation:      "1.30.2",
		"inject.istio.io/templates": "gateway",
		"sidecar.istio.io/inject":   "true",
		"prometheus.io/port":        "15020",
		"prometheus.io/scrape":      "true",
		"prometheus.io/path":        "/stats/prometheus",
	}))
	labels := field(deploy.Object, "spec", "template", "metadata", "labels").(map[string]any)
	g.Expect(labels).To(HaveKeyWithValue("app", "istio-ingressgateway"))
	g.Expect(labels).To(HaveKeyWithValue("istio", "ingressgateway"))
	g.Expect(field(deploy.Object, "spec", "selector", "matchLabels")).To(Equal(map[string]any{
		"app": "istio-ingressgateway", "istio": "ingressgateway",
	}))
	g.Expect(container(g, deploy, "istio-proxy")["image"]).To(Equal("auto"))

	svc := find(g, objs, "Service", IngressGatewayName)
	g.Expect(field(svc.Object, "spec", "type")).To(Equal("LoadBalancer"))
	g.Expect(field(svc.Object, "spec", "selector")).To(Equal(map[string]any{
		"app": "istio-ingressgateway", "istio": "ingressgateway",
	}))

	// Another Istio release changes the gateway's pod template, so it rolls
	// out: Istio 1.29.2's own charts, which hack/test-cluster.sh provides.
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: the render of Istio 1.29.2's charts runs in make test")
	}
	d := testDecision()
	d.IstioVersion = "1.29.2"
	opts := testOptions()
	opts.Charts = ChartsFromDir(filepath.Join(assets, "istio-1.29.2", "manifests"), "1.29.2")
	prev := find(g, render(g, v1alpha2.IstioSpec{}, d, opts), "Deployment", IngressGatewayName)
	g.Expect(field(prev.Object, "spec", "template", "metadata", "annotations", IstioVersionAnnotation)).To(Equal("1.29.2"))
}

// The charts render only for the decision's Istio: one release's charts with
// another release's images is never a real install.
func TestRenderRefusesAnotherIstio(t *testing.T) {
	g := NewWithT(t)
	d := testDecision()
	d.IstioVersion = "1.29.2"
	_, err := renderAll(v1alpha2.IstioSpec{}, d, testOptions())
	g.Expect(err).To(MatchError(ContainSubstring("the target Istio 1.29.2 is not the Istio of the charts at hand (1.30.2)")))
}

func TestIstiodRemoteURL(t *testing.T) {
	g := NewWithT(t)
	opts := testOptions()
	opts.IstiodRemoteURL = "https://127.0.0.1:15017"
	objs := render(g, v1alpha2.IstioSpec{}, testDecision(), opts)
	local := render(g, v1alpha2.IstioSpec{}, testDecision(), testOptions())

	clientConfigs := func(objs []*unstructured.Unstructured, kind string) []map[string]any {
		var out []map[string]any
		for _, o := range objs {
			if o.GetKind() != kind {
				continue
			}
			hooks, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
			for _, h := range hooks {
				out = append(out, field(h.(map[string]any), "clientConfig").(map[string]any))
			}
		}
		return out
	}

	mutating := clientConfigs(objs, "MutatingWebhookConfiguration")
	g.Expect(mutating).NotTo(BeEmpty())
	for _, cc := range mutating {
		g.Expect(cc).To(HaveKeyWithValue("url", "https://127.0.0.1:15017/inject"))
		g.Expect(cc).NotTo(HaveKey("service"))
	}
	g.Expect(has(objs, "ValidatingWebhookConfiguration", "istiod-default-validator")).To(BeTrue())
	g.Expect(has(objs, "ValidatingWebhookConfiguration", "istio-validator-istio-system")).To(BeTrue())
	validating := clientConfigs(objs, "ValidatingWebhookConfiguration")
	g.Expect(validating).To(HaveLen(2))
	for _, cc := range validating {
		g.Expect(cc).To(HaveKeyWithValue("url", "https://127.0.0.1:15017/validate"))
		g.Expect(cc).NotTo(HaveKey("service"))
	}

	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		for _, cc := range clientConfigs(local, kind) {
			g.Expect(cc).NotTo(HaveKey("url"))
			g.Expect(cc).To(HaveKey("service"))
		}
	}
}

func TestFlattenList(t *testing.T) {
	item := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a"}}
	for _, tc := range []struct {
		name string
		obj  map[string]any
		want []string
	}{
		{name: "object", obj: item, want: []string{"ConfigMap/a"}},
		{name: "list", obj: map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{item}}, want: []string{"ConfigMap/a"}},
		{name: "empty list", obj: map[string]any{"apiVersion": "v1", "kind": "List", "items": []any{}}},
		{name: "list without items", obj: map[string]any{"apiVersion": "v1", "kind": "List"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := flattenList(&unstructured.Unstructured{Object: tc.obj})
			g.Expect(err).NotTo(HaveOccurred())
			var names []string
			for _, o := range got {
				names = append(names, o.GetKind()+"/"+o.GetName())
			}
			g.Expect(names).To(Equal(tc.want))
		})
	}
}

func TestProtoDuration(t *testing.T) {
	g := NewWithT(t)
	for in, want := range map[string]string{"2s": "2s", "500ms": "0.5s", "1m30s": "90s", "1.25s": "1.25s", "1ns": "0.000000001s"} {
		spec := specFrom(g, `config: {authorizers: [{name: a, service: s, port: 1, timeout: "`+in+`"}]}`)
		g.Expect(protoDuration(spec.Config.Authorizers[0].Timeout.Duration)).To(Equal(want), in)
	}
}

// fullSpecYAML sets every field of the CR.
var fullSpecYAML = strings.TrimSpace(`
config:
  numTrustedProxies: 2
  forwardClientCertDetails: APPEND_FORWARD
  gatewayExternalTrafficPolicy: Cluster
  trustDomain: example.org
  enableDNSProxying: true
  telemetry: {metrics: {prometheusMerge: true}}
  proxyStatsMatcher: {inclusionRegexps: [".*upstream_rq.*"]}
  authorizers:
  - name: ext-authz
    service: ext-authz.auth.svc.cluster.local
    port: 8080
    pathPrefix: /check
    timeout: 2s
    headers:
      inCheck: {include: [x-user], add: {x-from: istio}}
      toUpstream: {onAllow: [x-auth-user]}
      toDownstream: {onAllow: [x-auth-ok], onDeny: [x-auth-reason]}
components:
  pilot:
    k8s:
      resources: {limits: {cpu: "2", memory: 2Gi}, requests: {cpu: 500m, memory: 1Gi}}
      hpaSpec: {minReplicas: 2, maxReplicas: 4}
      strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  ingressGateway:
    k8s:
      resources: {limits: {cpu: "1", memory: 1Gi}}
      hpaSpec: {minReplicas: 3, maxReplicas: 9}
      strategy: {rollingUpdate: {maxSurge: 50%, maxUnavailable: 0}}
  egressGateway:
    enabled: true
    k8s:
      hpaSpec: {minReplicas: 2, maxReplicas: 2}
  cni:
    k8s:
      resources: {requests: {cpu: 50m}}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: mesh, operator: In, values: ["yes"]}]
  proxy:
    k8s:
      resources: {requests: {cpu: 20m, memory: 64Mi}}
`)
