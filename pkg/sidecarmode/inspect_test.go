package sidecarmode

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInspect(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	const img = "docker.io/istio/proxyv2:1.26.4"
	proxy := func(mod ...func(*corev1.Container)) corev1.Container {
		c := corev1.Container{Name: "istio-proxy", Image: img, Args: []string{"proxy", "sidecar"}}
		for _, m := range mod {
			m(&c)
		}
		return c
	}
	app := corev1.Container{Name: "app", Image: "nginx"}
	tests := []struct {
		name string
		meta metav1.ObjectMeta
		spec corev1.PodSpec
		want Proxy
	}{
		{
			name: "no containers",
			want: Proxy{Layout: LayoutNone},
		},
		{
			name: "app only, injected status without proxy",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationSidecarStatus: "{}"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{app}},
			want: Proxy{Layout: LayoutNone, Injected: true},
		},
		{
			name: "native",
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "istio-validation"}, proxy(func(c *corev1.Container) { c.RestartPolicy = &always }), {Name: "user-init"}},
				Containers:     []corev1.Container{app},
			},
			want: Proxy{Layout: LayoutNative, Image: img, Version: "1.26.4"},
		},
		{
			name: "init container without restartPolicy",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{proxy()}, Containers: []corev1.Container{app}},
			want: Proxy{Layout: LayoutInitNotSidecar, Image: img, Version: "1.26.4"},
		},
		{
			name: "regular",
			spec: corev1.PodSpec{Containers: []corev1.Container{app, proxy()}},
			want: Proxy{Layout: LayoutRegular, Image: img, Version: "1.26.4"},
		},
		{
			name: "regular, proxy first",
			spec: corev1.PodSpec{Containers: []corev1.Container{proxy(), app}},
			want: Proxy{Layout: LayoutRegular, Image: img, Version: "1.26.4"},
		},
		{
			name: "gateway by args",
			spec: corev1.PodSpec{Containers: []corev1.Container{proxy(func(c *corev1.Container) { c.Args = []string{"proxy", "router", "--domain", "x"} })}},
			want: Proxy{Layout: LayoutGateway, Image: img, Version: "1.26.4"},
		},
		{
			name: "gateway template not injected yet",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationInjectTemplates: "gateway"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{proxy(func(c *corev1.Container) { c.Image, c.Args = "auto", nil })}},
			want: Proxy{Layout: LayoutGateway, Image: "auto", Version: VersionUnknown},
		},
		{
			name: "gateway among several templates",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationInjectTemplates: "custom, gateway"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{proxy(func(c *corev1.Container) { c.Args = nil })}},
			want: Proxy{Layout: LayoutGateway, Image: img, Version: "1.26.4"},
		},
		{
			name: "sidecar template is not a gateway",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationInjectTemplates: "sidecar,gateway-like"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{app, proxy()}},
			want: Proxy{Layout: LayoutRegular, Image: img, Version: "1.26.4"},
		},
		{
			name: "router args on a native proxy do not make a gateway",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{proxy(func(c *corev1.Container) {
				c.RestartPolicy = &always
				c.Args = []string{"proxy", "router"}
			})}},
			want: Proxy{Layout: LayoutNative, Image: img, Version: "1.26.4"},
		},
		{
			name: "custom proxy image",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationProxyImage: "my.registry/proxy:1.26.4"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{app, proxy(func(c *corev1.Container) { c.Image = "my.registry/proxy:1.26.4" })}},
			want: Proxy{Layout: LayoutRegular, Image: "my.registry/proxy:1.26.4", Version: "1.26.4", CustomImage: true},
		},
		{
			name: "proxyImage without a slash is ignored by Istio",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationProxyImage: "proxy:1.26.4"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{app, proxy()}},
			want: Proxy{Layout: LayoutRegular, Image: img, Version: "1.26.4"},
		},
		{
			name: "proxyImage annotation added after injection",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationProxyImage: "my.registry/proxy:1.30.2"}},
			spec: corev1.PodSpec{Containers: []corev1.Container{app, proxy()}},
			want: Proxy{Layout: LayoutRegular, Image: img, Version: "1.26.4"},
		},
		{
			name: "other containers named like the proxy",
			spec: corev1.PodSpec{Containers: []corev1.Container{app, {Name: "istio-proxy-exporter", Image: img}}},
			want: Proxy{Layout: LayoutNone},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Inspect(tt.meta, tt.spec)).To(Equal(tt.want))
		})
	}
}

func TestStaleDetails(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	native := Decision{IstioVersion: "1.30.2", DefaultType: Native}
	regularPod := func(image string) corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "istio-proxy", Image: image}}}
	}
	tests := []struct {
		name string
		meta metav1.ObjectMeta
		spec corev1.PodSpec
		d    Decision
		want []StaleReason
	}{
		{
			name: "fresh native",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-proxy", Image: "istio/proxyv2:1.30.2", RestartPolicy: &always}}},
			d:    native,
		},
		{
			name: "wrong type and version",
			spec: regularPod("istio/proxyv2:1.26.4-distroless"),
			d:    native,
			want: []StaleReason{
				{Kind: ReasonWrongType, Message: "regular, expected native"},
				{Kind: ReasonWrongVersion, Message: "1.26.4, expected 1.30.2"},
			},
		},
		{
			name: "regular by annotation, old version",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationNativeSidecar: "false"}},
			spec: regularPod("istio/proxyv2:1.26.4"),
			d:    native,
			want: []StaleReason{{Kind: ReasonWrongVersion, Message: "1.26.4, expected 1.30.2"}},
		},
		{
			name: "pre-release differs from the release",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationNativeSidecar: "false"}},
			spec: regularPod("istio/proxyv2:1.30.2-rc.1"),
			d:    native,
			want: []StaleReason{{Kind: ReasonWrongVersion, Message: "1.30.2-rc.1, expected 1.30.2"}},
		},
		{
			name: "decision without a version checks only the type",
			spec: regularPod("istio/proxyv2:1.26.4"),
			d:    Decision{DefaultType: Regular},
		},
		{
			name: "init container, not a sidecar, expected regular",
			meta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationNativeSidecar: "false"}},
			spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "istio-proxy", Image: "istio/proxyv2:1.30.2"}}},
			d:    native,
			want: []StaleReason{{Kind: ReasonWrongType, Message: "init container without restartPolicy Always, expected regular"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := Stale(tt.meta, tt.spec, tt.d)
			g.Expect(got).To(Equal(tt.want))
			if tt.want == nil {
				g.Expect(got).To(BeNil())
			}
		})
	}
}
