package sidecarmode

import (
	"fmt"

	"github.com/istio-module/operator/pkg/version"
)

// MinNativeKubeletMinor is the oldest kubelet minor (1.x) that runs native
// sidecars: the SidecarContainers feature is beta and on by default from
// Kubernetes 1.29.
const MinNativeKubeletMinor = 29

// ClusterFacts are the facts about the cluster that the decision depends on.
// The caller gathers them; this package never reads the cluster.
type ClusterFacts struct {
	// MinKubeletVersion is the lowest parseable kubelet version among the
	// nodes, e.g. "v1.28.3" (see LowestKubeletVersion). Empty means unknown:
	// no nodes, or none with a parseable version (kwok's fake nodes report
	// "kwok-0.8.0"). An unknown version never forces regular containers.
	MinKubeletVersion string
}

// Decision is the container type and Istio version the cluster should run.
// Both the installer (istiod's settings) and the restarter (its expectation)
// read it, so they cannot disagree.
type Decision struct {
	// ModuleVersion is the module version the decision was made for.
	ModuleVersion string
	// IstioVersion is the exact target Istio version, e.g. "1.30.2".
	IstioVersion string
	// DefaultType is the container type of pods without the
	// sidecar.istio.io/nativeSidecar annotation.
	DefaultType ContainerType
	// EnableNativeSidecars is exactly what istiod's ENABLE_NATIVE_SIDECARS gets:
	// "true" when DefaultType is Native, else "false"; never "auto", so the
	// expectation never depends on istiod's own guess.
	EnableNativeSidecars string
	// CompatibilityVersion is "" or, with compatibilityMode, the previous Istio
	// minor, e.g. "1.29" (the compatibilityVersion chart value / profile).
	CompatibilityVersion string
	// NativeUnsupported is true when the kubelet gate forced regular
	// containers although the release defaults to native.
	NativeUnsupported bool
	// Reason is a sentence for humans and for the CR status.
	Reason string
	// Proxy are the proxy settings of the CR that running proxies take when
	// they start; the zero value when unknown (then only the container type
	// and version are checked). Decide leaves it zero: the caller fills it
	// in from the CR.
	Proxy ProxySettings
}

// Decide makes the cluster-wide decision for a module version: the target
// Istio version, the default container type and the settings istiod gets.
//
// With compatibilityMode, Istio runs with the profile of its previous minor
// and the default type is the row's CompatibilityDefault. If the oldest
// kubelet is older than 1.29, native sidecars cannot run: the default becomes
// regular and NativeUnsupported is set. An unknown module version is an error.
func Decide(moduleVersion string, compatibilityMode bool, facts ClusterFacts) (Decision, error) {
	rel, err := LookupRelease(moduleVersion)
	if err != nil {
		return Decision{}, err
	}
	return DecideFor(rel, compatibilityMode, facts), nil
}

// DecideFor makes the decision for one release row. Decide looks the row up
// by module version; tests that need a policy no release has (a row of their
// own, with this build's Istio) call this directly.
func DecideFor(rel Release, compatibilityMode bool, facts ClusterFacts) Decision {
	moduleVersion := rel.Module
	d := Decision{
		ModuleVersion: moduleVersion,
		IstioVersion:  rel.Istio,
		DefaultType:   rel.TypeFor(compatibilityMode),
	}
	if compatibilityMode {
		d.CompatibilityVersion = rel.CompatibilityVersion()
	}

	installs := fmt.Sprintf("Module %s installs Istio %s", moduleVersion, rel.Istio)
	if d.CompatibilityVersion != "" {
		installs += fmt.Sprintf(" in compatibility mode (Istio %s behaviour)", d.CompatibilityVersion)
	}

	if d.DefaultType == Native && kubeletTooOld(facts.MinKubeletVersion) {
		d.DefaultType = Regular
		d.NativeUnsupported = true
		d.Reason = fmt.Sprintf("%s with regular containers: native sidecars need kubelet 1.%d or newer "+
			"and the oldest node runs %s", installs, MinNativeKubeletMinor, facts.MinKubeletVersion)
	} else {
		d.Reason = fmt.Sprintf("%s with %s by default", installs, typePhrase(d.DefaultType))
	}
	d.EnableNativeSidecars = enableNativeSidecarsValue(d.DefaultType)
	return d
}

// Target is a compact id of the target proxy, "<istio version>/<default
// type>", e.g. "1.30.2/native", followed by "/<fingerprint>" of the proxy
// settings when they are known. The restarter stores it on the pod templates
// it rolled out, so it never rolls a workload out twice for one target; a
// change of the proxy settings is a new target.
func (d Decision) Target() string {
	t := d.IstioVersion + "/" + string(d.DefaultType)
	if f := d.Proxy.Fingerprint(); f != "" {
		t += "/" + f
	}
	return t
}

// LowestKubeletVersion returns the lowest parseable version among the kubelet
// versions of the nodes (node.status.nodeInfo.kubeletVersion), as written
// there; "" when none parses. It is what ClusterFacts.MinKubeletVersion wants.
func LowestKubeletVersion(versions []string) string {
	lowest := ""
	var lv version.Version
	for _, s := range versions {
		v, err := version.ParseKubelet(s)
		if err != nil {
			continue
		}
		if lowest == "" || v.Less(lv) {
			lowest, lv = s, v
		}
	}
	return lowest
}

// kubeletTooOld reports whether a known kubelet version cannot run native
// sidecars. Unknown or unparseable versions are not too old.
func kubeletTooOld(kubelet string) bool {
	v, err := version.ParseKubelet(kubelet)
	return err == nil && v.OlderMinorThan(1, MinNativeKubeletMinor)
}

func enableNativeSidecarsValue(t ContainerType) string {
	if t == Native {
		return "true"
	}
	return "false"
}

func typePhrase(t ContainerType) string {
	if t == Native {
		return "native sidecars"
	}
	return "regular containers"
}

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
