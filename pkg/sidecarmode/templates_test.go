package sidecarmode

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestExpectedTypeByTemplate is the template half of the expectation, for
// both defaults: the injected testdata (injected_test.go) shows the same
// for every built-in template as Istio's injector produces it.
func TestExpectedTypeByTemplate(t *testing.T) {
	native := Decision{IstioVersion: "1.30.2", DefaultType: Native}
	regular := Decision{IstioVersion: "1.30.2", DefaultType: Regular}
	tests := []struct {
		name        string
		annotations map[string]string
		// wantNative and wantRegular are the expected types under each default.
		wantNative, wantRegular ContainerType
		wantUnknown             []string
		wantGateway             bool
	}{
		{name: "no annotation: the default sidecar template",
			wantNative: Native, wantRegular: Regular},
		{name: "sidecar named", annotations: map[string]string{AnnotationInjectTemplates: "sidecar"},
			wantNative: Native, wantRegular: Regular},
		{name: "sidecar, annotation false", annotations: map[string]string{AnnotationInjectTemplates: "sidecar", AnnotationNativeSidecar: "false"},
			wantNative: Regular, wantRegular: Regular},
		{name: "grpc-agent", annotations: map[string]string{AnnotationInjectTemplates: "grpc-agent"},
			wantNative: Regular, wantRegular: Regular},
		{name: "grpc-agent, annotation true: the template wins",
			annotations: map[string]string{AnnotationInjectTemplates: "grpc-agent", AnnotationNativeSidecar: "true"},
			wantNative:  Regular, wantRegular: Regular},
		{name: "grpc-simple: no proxy", annotations: map[string]string{AnnotationInjectTemplates: "grpc-simple"},
			wantNative: "", wantRegular: ""},
		{name: "gateway", annotations: map[string]string{AnnotationInjectTemplates: "gateway"},
			wantNative: Regular, wantRegular: Regular, wantGateway: true},
		{name: "spaces are trimmed", annotations: map[string]string{AnnotationInjectTemplates: " grpc-agent "},
			wantNative: Regular, wantRegular: Regular},
		{name: "grpc-simple then sidecar: the sidecar decides",
			annotations: map[string]string{AnnotationInjectTemplates: "grpc-simple,sidecar"},
			wantNative:  Native, wantRegular: Regular},
		{name: "sidecar and grpc-agent both write the proxy: ambiguous",
			annotations: map[string]string{AnnotationInjectTemplates: "sidecar,grpc-agent"},
			wantNative:  TypeUnknown, wantRegular: TypeUnknown},
		{name: "custom template", annotations: map[string]string{AnnotationInjectTemplates: "custom"},
			wantNative: TypeUnknown, wantRegular: TypeUnknown, wantUnknown: []string{"custom"}},
		{name: "custom beside sidecar", annotations: map[string]string{AnnotationInjectTemplates: "sidecar,custom"},
			wantNative: TypeUnknown, wantRegular: TypeUnknown, wantUnknown: []string{"custom"}},
		{name: "empty annotation names the empty template, which the injector does not have",
			annotations: map[string]string{AnnotationInjectTemplates: ""},
			wantNative:  TypeUnknown, wantRegular: TypeUnknown, wantUnknown: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(ExpectedType(tt.annotations, native)).To(Equal(tt.wantNative))
			g.Expect(ExpectedType(tt.annotations, regular)).To(Equal(tt.wantRegular))
			in := InjectionOf(tt.annotations)
			g.Expect(in.Unknown).To(Equal(tt.wantUnknown))
			g.Expect(in.Gateway).To(Equal(tt.wantGateway))
			g.Expect(in.UnknownTemplatesPhrase() != "").To(Equal(!in.Known()))
		})
	}
}

// TestStaleByTemplate: what the templates change in Stale.
func TestStaleByTemplate(t *testing.T) {
	d := Decision{IstioVersion: "1.30.2", DefaultType: Native}
	const old = "docker.io/istio/proxyv2:1.29.2"
	regularProxy := corev1.PodSpec{Containers: []corev1.Container{
		{Name: "app"}, {Name: ProxyContainerName, Image: old, Args: []string{"proxy", "sidecar"}},
	}}
	injected := map[string]string{AnnotationSidecarStatus: "{}"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range injected {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	gateway := func(args ...string) corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{{Name: ProxyContainerName, Image: old, Args: args}}}
	}
	version := StaleReason{Kind: ReasonWrongVersion, Message: "1.29.2, expected 1.30.2"}
	tests := []struct {
		name        string
		annotations map[string]string
		spec        corev1.PodSpec
		want        []StaleReason
	}{
		{name: "sidecar template, regular under native: wrong type and version",
			annotations: injected, spec: regularProxy,
			want: []StaleReason{{Kind: ReasonWrongType, Message: "regular, expected native"}, version}},
		{name: "grpc-agent, regular under native: only the version",
			annotations: with(AnnotationInjectTemplates, "grpc-agent"), spec: regularProxy,
			want: []StaleReason{version}},
		{name: "custom template: the type is not guessed, the version is checked",
			annotations: with(AnnotationInjectTemplates, "custom"), spec: regularProxy,
			want: []StaleReason{version}},
		{name: "gateway injected by the gateway template: version stale",
			annotations: with(AnnotationInjectTemplates, "gateway"), spec: gateway("proxy", "router"),
			want: []StaleReason{version}},
		{name: "gateway injected with a custom proxy image: never stale",
			annotations: with(AnnotationInjectTemplates, "gateway", AnnotationProxyImage, old), spec: gateway("proxy", "router")},
		{name: "gateway with its own image (not injected): never stale",
			annotations: map[string]string{}, spec: gateway("proxy", "router")},
		{name: "gateway args without the gateway template (istiod-deployed): never stale",
			annotations: injected, spec: gateway("proxy", "router")},
		{name: "waypoint deployed by istiod: a gateway, never stale",
			annotations: map[string]string{}, spec: gateway("proxy", "waypoint")},
		{name: "manifest customising the injected proxy (image auto): not a stale regular proxy",
			annotations: map[string]string{},
			spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app"}, {Name: ProxyContainerName, Image: "auto", Resources: corev1.ResourceRequirements{}},
			}}},
		{name: "customisation that pins an old image by sidecar.istio.io/proxyImage is not version-checked",
			annotations: map[string]string{AnnotationProxyImage: old},
			spec:        corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: ProxyContainerName, Image: "auto"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Stale(metav1.ObjectMeta{Annotations: tt.annotations}, tt.spec, d)).To(Equal(tt.want))
		})
	}
}

// TestInspectCustomization: a manifest's istio-proxy with image "auto" is
// what the injector will merge, not a proxy of its own.
func TestInspectCustomization(t *testing.T) {
	custom := corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: ProxyContainerName, Image: "auto"}}}
	tests := []struct {
		name       string
		meta       metav1.ObjectMeta
		spec       corev1.PodSpec
		wantLayout Layout
		wantType   ContainerType // ExpectedType under a native target
	}{
		{name: "customisation, native default", spec: custom, wantLayout: LayoutCustomization, wantType: Native},
		{name: "customisation pinned regular", spec: custom,
			meta:       metav1.ObjectMeta{Annotations: map[string]string{AnnotationNativeSidecar: "false"}},
			wantLayout: LayoutCustomization, wantType: Regular},
		{name: "customisation with the grpc-agent template", spec: custom,
			meta:       metav1.ObjectMeta{Annotations: map[string]string{AnnotationInjectTemplates: "grpc-agent"}},
			wantLayout: LayoutCustomization, wantType: Regular},
		{name: "injected pod with image auto left (not an injection): regular as it is", spec: custom,
			meta:       metav1.ObjectMeta{Annotations: map[string]string{AnnotationSidecarStatus: "{}"}},
			wantLayout: LayoutRegular, wantType: Native},
		{name: "a real image without the status annotation: a regular proxy",
			spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: ProxyContainerName, Image: "docker.io/istio/proxyv2:1.30.2"}}},
			wantLayout: LayoutRegular, wantType: Native},
	}
	d := Decision{IstioVersion: "1.30.2", DefaultType: Native}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			p := Inspect(tt.meta, tt.spec)
			g.Expect(p.Layout).To(Equal(tt.wantLayout))
			if tt.wantLayout == LayoutRegular {
				g.Expect(p.Type()).To(Equal(Regular))
				return
			}
			g.Expect(p.Type()).To(BeEmpty(), "a customisation has no type of its own")
			g.Expect(ExpectedType(tt.meta.Annotations, d)).To(Equal(tt.wantType))
			g.Expect(Stale(tt.meta, tt.spec, d)).To(BeNil())
		})
	}
}
