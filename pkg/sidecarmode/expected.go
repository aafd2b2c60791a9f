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

// TypeUnknown is the expected type of a pod whose injection templates the
// model cannot predict (a custom template, or built-in ones that disagree):
// never a guess. Only the injector can answer for such a pod; the restarter
// asks it by a dry run before restarting anything.
const TypeUnknown ContainerType = "unknown"

// ExpectedType is the container type istiod injects into a pod with these
// annotations (pod or pod-template metadata) under decision d.
//
// The injection templates come first (see InjectionOf): grpc-agent and
// gateway always put istio-proxy in spec.containers (Regular); grpc-simple
// injects no proxy (""); a template the model does not know gives
// TypeUnknown. For the sidecar template, Istio's rule applies to the letter:
// the annotation sidecar.istio.io/nativeSidecar, when present and not empty,
// wins; only the exact string "false" means regular, and any other value
// ("true", "False", "no") means native. An absent or empty annotation means
// d.DefaultType (the template falls back to the injector's setting for an
// empty value).
//
// The kubelet gate of Decide changes only the default: a pod annotated "true"
// is expected native even on a cluster that cannot run native sidecars,
// because that is what istiod injects.
func ExpectedType(annotations map[string]string, d Decision) ContainerType {
	return expectedFor(InjectionOf(annotations), annotations, d)
}

func expectedFor(in Injection, annotations map[string]string, d Decision) ContainerType {
	switch {
	case !in.Known():
		return TypeUnknown
	case !in.Proxy:
		return ""
	case in.Fixed != "":
		return in.Fixed
	}
	switch v := annotations[AnnotationNativeSidecar]; v {
	case "":
		return d.DefaultType
	case "false":
		return Regular
	default:
		return Native
	}
}
