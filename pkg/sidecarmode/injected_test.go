package sidecarmode

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The files in testdata/injected were produced by Istio's injector
// (istioctl kube-inject built from the istio.io/istio module, see
// testdata/README.md). These tests check Inspect, ExpectedType and Stale
// against what Istio really injects.

// injectorProfile is how one file of testdata/injected was generated.
type injectorProfile struct {
	native     bool   // ENABLE_NATIVE_SIDECARS of the injector
	tag        string // global.tag
	cni        bool
	hold       bool // holdApplicationUntilProxyStarts
	distroless bool
}

var injectorProfiles = map[string]injectorProfile{
	"native":             {native: true, tag: "1.30.2"},
	"native-cni":         {native: true, tag: "1.30.2", cni: true},
	"native-hold":        {native: true, tag: "1.30.2", hold: true},
	"native-distroless":  {native: true, tag: "1.30.2", distroless: true},
	"regular":            {native: false, tag: "1.26.4"},
	"regular-cni":        {native: false, tag: "1.26.4", cni: true},
	"regular-hold":       {native: false, tag: "1.26.4", hold: true},
	"regular-distroless": {native: false, tag: "1.26.4", distroless: true},
}

// injectedWorkloads are the objects of testdata/input/workloads.yaml.
var injectedWorkloads = []string{
	"Deployment/web", "Deployment/web-with-init", "StatefulSet/db", "Job/test-job", "CronJob/nightly",
	"Pod/annotation-false", "Pod/annotation-true", "Pod/annotation-capital-false", "Pod/annotation-empty",
	"Deployment/custom-proxy-image", "Deployment/istio-ingressgateway",
	"Deployment/template-sidecar", "Deployment/template-grpc-agent", "Deployment/template-grpc-agent-annotated-native",
	"Deployment/template-grpc-simple", "Deployment/template-sidecar-grpc-agent",
}

// templateWorkloads are the workloads that ask for injection templates
// other than the default, with what Istio's injector made of them under
// both defaults (the files show it) and what the model expects.
var templateWorkloads = map[string]struct {
	native, regular Layout // the layout injected with each default
	expected        ContainerType
}{
	// grpc-agent puts istio-proxy in spec.containers whatever the default
	// and the annotation.
	"Deployment/template-grpc-agent":                  {native: LayoutRegular, regular: LayoutRegular, expected: Regular},
	"Deployment/template-grpc-agent-annotated-native": {native: LayoutRegular, regular: LayoutRegular, expected: Regular},
	// grpc-simple injects no proxy, only a bootstrap init container.
	"Deployment/template-grpc-simple": {native: LayoutNone, regular: LayoutNone, expected: ""},
	// sidecar then grpc-agent: with native sidecars the injector leaves
	// istio-proxy in both lists (a pod the API server refuses); with
	// regular containers the two merge. The model does not predict it.
	"Deployment/template-sidecar-grpc-agent": {native: LayoutNative, regular: LayoutRegular, expected: TypeUnknown},
}

const (
	gatewayWorkload     = "Deployment/istio-ingressgateway"
	customImageWorkload = "Deployment/custom-proxy-image"
	customProxyImage    = "registry.example.com/mesh/proxyv2:1.28.0"
)

func TestInjectedFilesAreComplete(t *testing.T) {
	g := NewWithT(t)
	files, err := filepath.Glob("testdata/injected/*.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	var profiles []string
	for _, f := range files {
		profiles = append(profiles, trimExt(filepath.Base(f)))
	}
	var want []string
	for p := range injectorProfiles {
		want = append(want, p)
	}
	g.Expect(profiles).To(ConsistOf(want))
}

func TestInjectedPods(t *testing.T) {
	for profileName, profile := range injectorProfiles {
		objs := loadInjected(t, "testdata/injected/"+profileName+".yaml")
		injector := Decision{IstioVersion: profile.tag, DefaultType: Regular, EnableNativeSidecars: "false"}
		if profile.native {
			injector.DefaultType, injector.EnableNativeSidecars = Native, "true"
		}

		if got := sortedKeys(objs); !slices.Equal(got, sortedStrings(injectedWorkloads)) {
			t.Fatalf("%s: objects %v, want %v", profileName, got, injectedWorkloads)
		}

		for _, name := range injectedWorkloads {
			obj := objs[name]
			t.Run(profileName+"/"+name, func(t *testing.T) {
				g := NewWithT(t)
				meta, spec, ok := PodTemplateOf(obj)
				g.Expect(ok).To(BeTrue())
				p := Inspect(meta, spec)

				// kube-inject writes sidecar.istio.io/status on the pod
				// template, except for a CronJob, where it lands on
				// jobTemplate.metadata (the webhook writes it on the pod).
				g.Expect(p.Injected).To(Equal(name != "CronJob/nightly"))
				// A pod injected under a decision is never stale against it:
				// the restarter cannot loop on freshly injected pods.
				g.Expect(Stale(meta, spec, injector)).To(BeNil())

				if tw, ok := templateWorkloads[name]; ok {
					want := tw.regular
					if profile.native {
						want = tw.native
					}
					g.Expect(p.Layout).To(Equal(want))
					g.Expect(ExpectedType(meta.Annotations, injector)).To(Equal(tw.expected))
					checkTemplateStructure(g, profile, name, spec)
					return
				}

				wantVersion, wantCustom := profile.tag, false
				if name == customImageWorkload {
					wantVersion, wantCustom = "1.28.0", true
					g.Expect(p.Image).To(Equal(customProxyImage))
				} else if profile.distroless {
					g.Expect(p.Image).To(Equal("docker.io/istio/proxyv2:" + profile.tag + "-distroless"))
				} else {
					g.Expect(p.Image).To(Equal("docker.io/istio/proxyv2:" + profile.tag))
				}
				g.Expect(p.Version).To(Equal(wantVersion))
				g.Expect(p.CustomImage).To(Equal(wantCustom))

				if name == gatewayWorkload {
					g.Expect(p.Layout).To(Equal(LayoutGateway))
					g.Expect(spec.Containers).To(HaveLen(1))
					g.Expect(spec.InitContainers).To(BeEmpty())
					return
				}

				// The layout the real injector chose follows Istio's rule
				// for the annotation, written out here independently...
				want := Regular
				if profile.native {
					want = Native
				}
				if v := meta.Annotations[AnnotationNativeSidecar]; v == "false" {
					want = Regular
				} else if v != "" {
					want = Native
				}
				g.Expect(string(p.Layout)).To(Equal(string(want)))
				// ...and so does ExpectedType.
				g.Expect(ExpectedType(meta.Annotations, injector)).To(Equal(want))

				checkInjectedStructure(g, profile, name, p, spec)
			})
		}
	}
}

// checkTemplateStructure checks what the injector made of the template
// workloads, independently of Inspect.
func checkTemplateStructure(g Gomega, profile injectorProfile, name string, spec corev1.PodSpec) {
	initNames := containerNames(spec.InitContainers)
	names := containerNames(spec.Containers)
	switch name {
	case "Deployment/template-grpc-agent", "Deployment/template-grpc-agent-annotated-native":
		g.Expect(initNames).To(BeEmpty())
		// holdApplicationUntilProxyStarts moves the proxy first, here too.
		want := []string{"app", ProxyContainerName}
		if profile.hold {
			want = []string{ProxyContainerName, "app"}
		}
		g.Expect(names).To(Equal(want))
		proxy := spec.Containers[slices.Index(names, ProxyContainerName)]
		g.Expect(proxy.Args[:2]).To(Equal([]string{"proxy", "sidecar"}))
	case "Deployment/template-grpc-simple":
		g.Expect(initNames).To(Equal([]string{"grpc-bootstrap-init"}))
		g.Expect(names).To(Equal([]string{"app"}))
	case "Deployment/template-sidecar-grpc-agent":
		g.Expect(names).To(ContainElement(ProxyContainerName))
		if profile.native {
			g.Expect(initNames).To(ContainElement(ProxyContainerName), "in both lists")
		} else {
			g.Expect(initNames).NotTo(ContainElement(ProxyContainerName))
		}
	}
}

// checkInjectedStructure checks the container order the injector produced.
func checkInjectedStructure(g Gomega, profile injectorProfile, name string, p Proxy, spec corev1.PodSpec) {
	initNames := containerNames(spec.InitContainers)
	names := containerNames(spec.Containers)
	trafficInit := "istio-init"
	if profile.cni {
		trafficInit = "istio-validation"
	}
	var userInit []string
	if name == "Deployment/web-with-init" {
		userInit = []string{"migrate", "fetch-config"}
	}

	switch p.Layout {
	case LayoutNative:
		// istio-init (or istio-validation), then istio-proxy, then the user's
		// init containers, which therefore have the mesh.
		g.Expect(initNames).To(Equal(append([]string{trafficInit, ProxyContainerName}, userInit...)))
		g.Expect(names).NotTo(ContainElement(ProxyContainerName))
		proxy := spec.InitContainers[1]
		g.Expect(proxy.StartupProbe).NotTo(BeNil())
		// Native drops the holdApplicationUntilProxyStarts postStart hook.
		g.Expect(proxy.Lifecycle == nil || proxy.Lifecycle.PostStart == nil).To(BeTrue())
	case LayoutRegular:
		// The regular template appends istio-init after the user's init
		// containers (they run before the traffic redirect and outside the
		// mesh); with CNI, istio-validation comes first.
		if profile.cni {
			g.Expect(initNames).To(Equal(append([]string{trafficInit}, userInit...)))
		} else {
			g.Expect(initNames).To(Equal(append(slices.Clone(userInit), trafficInit)))
		}
		g.Expect(names).To(ContainElement(ProxyContainerName))
		if profile.hold {
			g.Expect(names[0]).To(Equal(ProxyContainerName), "hold puts the proxy first")
			g.Expect(spec.Containers[0].Lifecycle.PostStart).NotTo(BeNil())
		} else {
			g.Expect(names[len(names)-1]).To(Equal(ProxyContainerName))
		}
	default:
		g.Expect(p.Layout).To(BeElementOf(LayoutNative, LayoutRegular))
	}
}

// TestInjectedAgainstDecide joins the two halves: what Decide tells istiod
// (ENABLE_NATIVE_SIDECARS, Istio version) produces pods that the same
// Decision finds fresh, and pods injected for another release are stale with
// the expected reasons.
// oldRegularVersion is why a regular pod of the testdata is stale for module 1.21.0.
var oldRegularVersion = []StaleReason{{Kind: ReasonWrongVersion, Message: "1.26.4, expected 1.27.1"}}

func TestInjectedAgainstDecide(t *testing.T) {
	// The native profiles are this build's injection; the regular ones stand
	// for pods of a release that injects regular containers (module 1.21.0,
	// Istio 1.27.1), with the 1.26.4 tag of the testdata: only their version
	// is stale, never their layout.
	tests := []struct {
		module      string
		profile     string
		wantReasons []StaleReason
	}{
		{module: "1.30.0", profile: "native"},
		{module: "1.30.0", profile: "native-cni"},
		{module: "1.30.0", profile: "native-hold"},
		{module: "1.30.0", profile: "native-distroless"},
		{module: "1.21.0", profile: "regular", wantReasons: oldRegularVersion},
		{module: "1.21.0", profile: "regular-cni", wantReasons: oldRegularVersion},
		{module: "1.21.0", profile: "regular-hold", wantReasons: oldRegularVersion},
		{module: "1.21.0", profile: "regular-distroless", wantReasons: oldRegularVersion},
	}
	for _, tt := range tests {
		t.Run(tt.module+"/"+tt.profile, func(t *testing.T) {
			g := NewWithT(t)
			d, err := Decide(tt.module, false, ClusterFacts{MinKubeletVersion: "v1.33.1"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.EnableNativeSidecars).To(Equal(map[bool]string{true: "true", false: "false"}[injectorProfiles[tt.profile].native]))
			for name, obj := range loadInjected(t, "testdata/injected/"+tt.profile+".yaml") {
				meta, spec, _ := PodTemplateOf(obj)
				p := Inspect(meta, spec)
				want := tt.wantReasons
				// A gateway the gateway template filled in is stale by
				// version like any sidecar (InjectedGateway).
				if p.Layout == LayoutNone || p.CustomImage {
					want = nil
				}
				g.Expect(Stale(meta, spec, d)).To(Equal(want), name)
			}
		})
	}

	// Upgrading module 1.20 (Istio 1.26.4, regular) to this build (1.30.2, native).
	g := NewWithT(t)
	d, err := Decide("1.30.0", false, ClusterFacts{})
	g.Expect(err).NotTo(HaveOccurred())
	wrongBoth := []StaleReason{
		{Kind: ReasonWrongType, Message: "regular, expected native"},
		{Kind: ReasonWrongVersion, Message: "1.26.4, expected 1.30.2"},
	}
	versionOnly := []StaleReason{{Kind: ReasonWrongVersion, Message: "1.26.4, expected 1.30.2"}}
	want := map[string][]StaleReason{
		"Deployment/web":                  wrongBoth,
		"Deployment/web-with-init":        wrongBoth,
		"StatefulSet/db":                  wrongBoth,
		"Job/test-job":                    wrongBoth,
		"CronJob/nightly":                 wrongBoth,
		"Pod/annotation-false":            versionOnly, // stays regular by annotation
		"Pod/annotation-true":             versionOnly, // already native by annotation
		"Pod/annotation-capital-false":    versionOnly, // "False" is not "false": native
		"Pod/annotation-empty":            wrongBoth,   // empty means the default
		"Deployment/custom-proxy-image":   {{Kind: ReasonWrongType, Message: "regular, expected native"}},
		"Deployment/istio-ingressgateway": versionOnly, // injected by the gateway template: its version only
		"Deployment/template-sidecar":     wrongBoth,
		// grpc-agent is regular whatever the default: only its version.
		"Deployment/template-grpc-agent":                  versionOnly,
		"Deployment/template-grpc-agent-annotated-native": versionOnly,
		"Deployment/template-grpc-simple":                 nil, // no proxy
		// The model cannot tell the layout: only the version is checked.
		"Deployment/template-sidecar-grpc-agent": versionOnly,
	}
	for name, obj := range loadInjected(t, "testdata/injected/regular.yaml") {
		meta, spec, _ := PodTemplateOf(obj)
		g.Expect(Stale(meta, spec, d)).To(Equal(want[name]), name)
	}
}

// loadInjected reads a multi-document YAML file of injected workloads into
// typed objects keyed by "Kind/name".
func loadInjected(t *testing.T, path string) map[string]runtime.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with testdata/generate.sh)", err)
	}
	objs := map[string]runtime.Object{}
	r := utilyaml.NewYAMLReader(bufioReader(b))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var h struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &h); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var obj runtime.Object
		switch h.Kind {
		case "":
			continue
		case "Pod":
			obj = &corev1.Pod{}
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "Job":
			obj = &batchv1.Job{}
		case "CronJob":
			obj = &batchv1.CronJob{}
		default:
			t.Fatalf("%s: unexpected kind %s", path, h.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: %s/%s: %v", path, h.Kind, h.Metadata.Name, err)
		}
		objs[h.Kind+"/"+h.Metadata.Name] = obj
	}
}

func containerNames(cs []corev1.Container) []string {
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func sortedKeys(m map[string]runtime.Object) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sortedStrings(keys)
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func trimExt(name string) string { return name[:len(name)-len(filepath.Ext(name))] }

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
