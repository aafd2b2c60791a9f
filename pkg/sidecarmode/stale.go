package sidecarmode

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReasonKind classifies why a pod is stale.
type ReasonKind string

const (
	// ReasonWrongType: the proxy's container type differs from the expected
	// one, or the proxy is an init container that is not a sidecar.
	ReasonWrongType ReasonKind = "WrongType"
	// ReasonWrongVersion: the proxy image's version differs from the target
	// Istio version.
	ReasonWrongVersion ReasonKind = "WrongVersion"
	// ReasonWrongSettings: the proxy was injected under other proxy settings
	// (DNS proxying, metrics merging, statistics, trust domain, resources)
	// than the decision's, as the pod's AnnotationProxySettings record says.
	ReasonWrongSettings ReasonKind = "WrongSettings"
)

// StaleReason is one reason a pod must be replaced.
type StaleReason struct {
	Kind ReasonKind
	// Message is short and human: "regular, expected native",
	// "1.26.4, expected 1.30.2".
	Message string
}

func (r StaleReason) String() string { return r.Message }

// Stale returns why a pod (or pod template) does not match decision d; nil
// when it matches. Pods are immutable, so a stale pod is fixed only by
// replacing it.
//
//   - Wrong type: a native or regular proxy whose type differs from
//     ExpectedType; an istio-proxy init container without restartPolicy Always
//     always (it is not a working sidecar). Not checked when ExpectedType is
//     TypeUnknown (templates the model does not know) or "" (templates that
//     inject no proxy).
//   - Wrong version: the image version is a release version that differs from
//     d.IstioVersion. Not checked for images set by sidecar.istio.io/proxyImage,
//     for unknown versions ("latest") or when d has no IstioVersion.
//   - Wrong settings: the proxy settings recorded on the pod at injection
//     (AnnotationProxySettings) differ from d.Proxy, for a setting the pod
//     does not override itself. Pods without a record are not checked.
//   - Gateways: only the version, and only for gateways deployed by injection
//     (InjectedGateway): their proxy image comes from the injector, so a
//     restart after an upgrade brings the new one, as Istio's upgrade guide
//     asks. Gateways that carry their own image are never stale.
//   - A customisation of the injected proxy (LayoutCustomization) is checked
//     for the version of an image it pins, never for its layout.
//   - Pods without a proxy are never stale.
func Stale(meta metav1.ObjectMeta, spec corev1.PodSpec, d Decision) []StaleReason {
	return StaleProxy(Inspect(meta, spec), meta.Annotations, d)
}

// InjectedGateway reports whether a gateway's proxy was filled in by the
// injector's gateway template (the pod asks for it with
// inject.istio.io/templates and carries the injector's status annotation),
// as Istio's gateway chart deploys gateways. Gateways that istiod deploys
// itself for the Gateway API (waypoints, kube-gateway) opt out of injection
// and carry their image in the Deployment istiod keeps up to date.
func InjectedGateway(p Proxy, annotations map[string]string) bool {
	return p.Layout == LayoutGateway && p.Injected && InjectionOf(annotations).Gateway
}

// StaleProxy is Stale for a proxy already read by Inspect, so callers that
// show both the proxy and the reasons inspect the pod once.
func StaleProxy(p Proxy, annotations map[string]string, d Decision) []StaleReason {
	var reasons []StaleReason
	switch p.Layout {
	case LayoutNone:
		return nil
	case LayoutCustomization:
		// The injector decides the layout; only an image the manifest pins
		// (it wins over the injector's) can be stale.
	case LayoutGateway:
		// A gateway's layout is its own; its version is stale only when a
		// restart would bring another one.
		if !InjectedGateway(p, annotations) {
			return nil
		}
	case LayoutNative, LayoutRegular:
		want := ExpectedType(annotations, d)
		if want != TypeUnknown && want != "" && p.Type() != want {
			reasons = append(reasons, StaleReason{Kind: ReasonWrongType,
				Message: fmt.Sprintf("%s, expected %s", p.Type(), want)})
		}
	case LayoutInitNotSidecar:
		reasons = append(reasons, StaleReason{Kind: ReasonWrongType,
			Message: fmt.Sprintf("init container without restartPolicy Always, expected %s",
				ExpectedType(annotations, d))})
	}
	if !p.CustomImage && d.IstioVersion != "" && IsReleaseVersion(p.Version) && p.Version != d.IstioVersion {
		reasons = append(reasons, StaleReason{Kind: ReasonWrongVersion,
			Message: fmt.Sprintf("%s, expected %s", p.Version, d.IstioVersion)})
	}
	if r := staleSettings(annotations, d.Proxy); r != nil {
		reasons = append(reasons, *r)
	}
	return reasons
}
