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

// ExpectedType is the container type istiod injects into a pod with these
// annotations (pod or pod-template metadata) under decision d.
//
// It follows Istio's injection template to the letter: the annotation
// sidecar.istio.io/nativeSidecar, when present and not empty, wins; only the
// exact string "false" means regular, and any other value ("true", "False",
// "no") means native. An absent or empty annotation means d.DefaultType (the
// template falls back to the injector's setting for an empty value).
//
// The kubelet gate of Decide changes only the default: a pod annotated "true"
// is expected native even on a cluster that cannot run native sidecars,
// because that is what istiod injects.
func ExpectedType(annotations map[string]string, d Decision) ContainerType {
	switch v := annotations[AnnotationNativeSidecar]; v {
	case "":
		return d.DefaultType
	case "false":
		return Regular
	default:
		return Native
	}
}
