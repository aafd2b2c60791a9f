package sidecarmode

// Annotations and names Istio uses on injected pods.
const (
	// AnnotationNativeSidecar overrides the container type for one pod.
	AnnotationNativeSidecar = "sidecar.istio.io/nativeSidecar"
	// AnnotationProxyImage sets a custom proxy image for one pod.
	AnnotationProxyImage = "sidecar.istio.io/proxyImage"
	// AnnotationInjectTemplates selects the injection templates, e.g. "gateway".
	AnnotationInjectTemplates = "inject.istio.io/templates"
	// AnnotationSidecarStatus is written by the injector on injected pods.
	AnnotationSidecarStatus = "sidecar.istio.io/status"
	// ProxyContainerName is the name of the proxy container.
	ProxyContainerName = "istio-proxy"
)
