package sidecarmode

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Layout is where istio-proxy sits in a pod, as it is (not as it should be).
type Layout string

const (
	// LayoutNative: istio-proxy in spec.initContainers with restartPolicy Always.
	LayoutNative Layout = "native"
	// LayoutRegular: istio-proxy in spec.containers beside the application.
	LayoutRegular Layout = "regular"
	// LayoutGateway: istio-proxy is the pod's workload, e.g. an ingress
	// gateway (args "proxy router", or the "gateway" injection template).
	LayoutGateway Layout = "gateway"
	// LayoutInitNotSidecar: istio-proxy in spec.initContainers without
	// restartPolicy Always. It is not a sidecar: it blocks the pod's start.
	// This is what a native injection becomes where the API server drops the
	// field (no SidecarContainers feature).
	LayoutInitNotSidecar Layout = "init-not-sidecar"
	// LayoutNone: no istio-proxy container.
	LayoutNone Layout = "none"
	// LayoutCustomization: an istio-proxy in spec.containers of an object
	// the injector has not injected (no sidecar.istio.io/status) whose
	// image is "auto" (or missing), so it cannot run by itself: a manifest
	// that declares the container only to customise the one the injector
	// adds, which Istio merges into what it injects (its image "auto"
	// stands for the injector's). Its layout is whatever the injector
	// makes of it (ExpectedType), never "regular" by itself. A
	// customisation that pins a real image is not told from a hand-made
	// regular proxy.
	LayoutCustomization Layout = "customization"
)

// Proxy is the istio-proxy of a pod or pod template as it is.
type Proxy struct {
	// Layout is where the proxy sits.
	Layout Layout
	// Image is the proxy container's image; "" when there is no proxy.
	Image string
	// Version is the Istio version of the image (see VersionOf): "1.26.4",
	// VersionUnknown, or "" when there is no proxy.
	Version string
	// CustomImage is true when the image was set by the annotation
	// sidecar.istio.io/proxyImage: the annotation names a full image (Istio
	// ignores values without "/") and the container runs exactly that image.
	CustomImage bool
	// Injected is true when the injector's sidecar.istio.io/status annotation
	// is present.
	Injected bool
}

// Type is the container type of a native or regular proxy, "" for other layouts.
func (p Proxy) Type() ContainerType {
	switch p.Layout {
	case LayoutNative:
		return Native
	case LayoutRegular:
		return Regular
	}
	return ""
}

// Inspect reads the proxy of a pod, or of a pod template, from its metadata
// and spec. It looks at init containers first: a pod with istio-proxy in both
// lists (not something the injector produces) is reported by the init
// container.
func Inspect(meta metav1.ObjectMeta, spec corev1.PodSpec) Proxy {
	p := Proxy{Layout: LayoutNone}
	_, p.Injected = meta.Annotations[AnnotationSidecarStatus]

	var c *corev1.Container
	if c = findContainer(spec.InitContainers, ProxyContainerName); c != nil {
		p.Layout = LayoutInitNotSidecar
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			p.Layout = LayoutNative
		}
	} else if c = findContainer(spec.Containers, ProxyContainerName); c != nil {
		p.Layout = LayoutRegular
		switch {
		case isGateway(meta, c):
			p.Layout = LayoutGateway
		case !p.Injected && (c.Image == "auto" || c.Image == ""):
			p.Layout = LayoutCustomization
		}
	} else {
		return p
	}

	p.Image = c.Image
	p.Version = VersionOf(c.Image)
	custom := meta.Annotations[AnnotationProxyImage]
	p.CustomImage = strings.Contains(custom, "/") && custom == c.Image
	return p
}

// isGateway reports whether the istio-proxy container is the workload itself:
// Istio starts gateways with "proxy router" and waypoints (deployed by
// istiod for the Gateway API) with "proxy waypoint", and the gateway chart's
// pod template (image "auto", no args yet) asks for the "gateway" template.
func isGateway(meta metav1.ObjectMeta, c *corev1.Container) bool {
	if len(c.Args) >= 2 && c.Args[0] == "proxy" && (c.Args[1] == "router" || c.Args[1] == "waypoint") {
		return true
	}
	for _, t := range strings.Split(meta.Annotations[AnnotationInjectTemplates], ",") {
		if strings.TrimSpace(t) == "gateway" {
			return true
		}
	}
	return false
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}
