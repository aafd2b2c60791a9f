package advisor

import (
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// ID names a kind of finding. The values are stable: they are the "id" of
// the command's JSON output.
type ID string

const (
	// IDQuitQuitQuit: a container calls istio-proxy's /quitquitquit.
	IDQuitQuitQuit ID = "quitquitquit"
	// IDUID1337: a user init container runs as user 1337 to bypass capture.
	IDUID1337 ID = "uid-1337"
	// IDExcludeOutbound: excludeOutboundIPRanges / excludeOutboundPorts on a
	// pod with init containers of its own.
	IDExcludeOutbound ID = "exclude-outbound"
	// IDHoldIgnored: holdApplicationUntilProxyStarts on a native sidecar.
	IDHoldIgnored ID = "hold-ignored"
	// IDJobRegularSidecar: a Job or CronJob whose pods run a regular sidecar.
	IDJobRegularSidecar ID = "job-regular-sidecar"
	// IDOptOutReview: a pod template pinned to regular containers.
	IDOptOutReview ID = "opt-out-review"
)

// IDs lists every finding ID in the order reports show them.
var IDs = []ID{IDQuitQuitQuit, IDUID1337, IDExcludeOutbound, IDHoldIgnored, IDJobRegularSidecar, IDOptOutReview}

// When says which layout a finding is about.
type When string

const (
	// WhenNow: the layout the pod runs now.
	WhenNow When = "now"
	// WhenAfterSwitch: the layout istiod injects under the target, once the
	// workload's pods are (re)created.
	WhenAfterSwitch When = "after-switch"
)

// Finding is one thing to act on, with its evidence. The JSON keys are part
// of the command's interface.
type Finding struct {
	ID   ID   `json:"id"`
	When When `json:"when"`
	// Container is the container the evidence is in; "" for pod-level
	// evidence (annotations, the target).
	Container string `json:"container"`
	// Field is where the evidence is: "args[1]", "securityContext.runAsUser",
	// "metadata.annotations[traffic.sidecar.istio.io/excludeOutboundPorts]".
	Field string `json:"field"`
	// Value is the evidence's value as found.
	Value string `json:"value"`
	// Advice is what to do, in a sentence or two.
	Advice string `json:"advice"`
}

// Input is what Advise looks at.
type Input struct {
	// Kind is the kind of the workload the pod spec belongs to: "Job",
	// "CronJob", "Deployment", "Pod", ... A Pod whose controller is a Job
	// counts as a Job's pod whatever Kind says.
	Kind string
	// Meta and Spec are the pod's, or the pod template's.
	Meta metav1.ObjectMeta
	Spec corev1.PodSpec
	// Decision is the target: the expected container type comes from it.
	Decision sidecarmode.Decision
	// MeshHoldApplication is the mesh-wide
	// defaultConfig.holdApplicationUntilProxyStarts, when known.
	MeshHoldApplication bool
}

// Result is the outcome of Advise for one pod or pod template.
type Result struct {
	// Proxy is the pod's istio-proxy as it is.
	Proxy sidecarmode.Proxy
	// Now is the container type the pod runs: "" without a native or
	// regular istio-proxy.
	Now sidecarmode.ContainerType
	// After is the container type expected under the target; "" for
	// gateways and pods opted out of injection.
	After sidecarmode.ContainerType
	// Findings are sorted: those of now first, then by ID (in the order of
	// IDs), container and field. Never nil.
	Findings []Finding
}

// Annotations and labels the rules read, besides sidecarmode's.
const (
	AnnotationProxyConfig             = "proxy.istio.io/config"
	AnnotationExcludeOutboundIPRanges = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
	AnnotationExcludeOutboundPorts    = "traffic.sidecar.istio.io/excludeOutboundPorts"
	// LabelInject "false" (label or, in older manifests, annotation) keeps
	// the injector away from a pod.
	LabelInject = "sidecar.istio.io/inject"
)

// ProxyUID is the user istio-proxy runs as; traffic of this user is not
// captured.
const ProxyUID = 1337

// istioContainers are the containers the injector adds; the rules look only
// at the user's containers.
var istioContainers = []string{sidecarmode.ProxyContainerName, "istio-init", "istio-validation"}

// Advise returns the findings for one pod or pod template under the target.
func Advise(in Input) Result {
	p := sidecarmode.Inspect(in.Meta, in.Spec)
	r := Result{Proxy: p, Now: p.Type(), Findings: []Finding{}}
	if p.Layout == sidecarmode.LayoutGateway || (p.Layout == sidecarmode.LayoutNone && injectionDisabled(in.Meta)) {
		return r
	}
	r.After = sidecarmode.ExpectedType(in.Meta.Annotations, in.Decision)

	c := checker{in: in, after: r.After}
	if r.Now != "" {
		r.Findings = append(r.Findings, c.check(r.Now, WhenNow)...)
	}
	if r.After != r.Now {
		r.Findings = append(r.Findings, c.check(r.After, WhenAfterSwitch)...)
	}
	if pinnedBack(in, r.After) {
		// The pin alone keeps the pod on regular containers. Its workarounds
		// for regular sidecars are unnecessary once the pin goes, so they
		// are reported after-switch: the pin and the workaround are
		// removed together, not the pin first and the workaround forgotten.
		pc := checker{in: in, after: sidecarmode.Native, pinned: true}
		for _, f := range pc.check(sidecarmode.Native, WhenAfterSwitch) {
			if slices.Contains(pinWorkarounds, f.ID) {
				r.Findings = append(r.Findings, f)
			}
		}
	}
	if in.Meta.Annotations[sidecarmode.AnnotationNativeSidecar] == "false" {
		when := WhenNow
		if r.Now == "" {
			when = WhenAfterSwitch
		}
		r.Findings = append(r.Findings, c.optOutReview(when))
	}
	sortFindings(r.Findings)
	return r
}

// pinWorkarounds are the findings reported after-switch for a pod pinned
// to regular containers: the workarounds a regular sidecar needed.
var pinWorkarounds = []ID{IDQuitQuitQuit, IDUID1337, IDExcludeOutbound}

// pinnedBack reports whether only the sidecar.istio.io/nativeSidecar: "false"
// annotation keeps the pod on regular containers: the target's default is
// native and no injection template fixes the type.
func pinnedBack(in Input, after sidecarmode.ContainerType) bool {
	if in.Meta.Annotations[sidecarmode.AnnotationNativeSidecar] != "false" || after != sidecarmode.Regular ||
		in.Decision.DefaultType != sidecarmode.Native {
		return false
	}
	inj := sidecarmode.InjectionOf(in.Meta.Annotations)
	return inj.Known() && inj.Proxy && inj.Fixed == ""
}

// injectionDisabled reports whether the injector skips the pod.
func injectionDisabled(meta metav1.ObjectMeta) bool {
	return meta.Labels[LabelInject] == "false" || meta.Annotations[LabelInject] == "false"
}

// IsJob reports whether the pod spec of in belongs to a Job or CronJob.
func IsJob(in Input) bool {
	if in.Kind == "Job" || in.Kind == "CronJob" {
		return true
	}
	if ref := metav1.GetControllerOfNoCopy(&in.Meta); ref != nil {
		return ref.Kind == "Job" || ref.Kind == "CronJob"
	}
	return false
}

// checker evaluates the rules of one layout.
type checker struct {
	in    Input
	after sidecarmode.ContainerType
	// pinned: the findings are about the pod once its pin to regular
	// containers is removed (pinnedBack).
	pinned bool
}

func (c checker) check(t sidecarmode.ContainerType, when When) []Finding {
	var out []Finding
	switch t {
	case sidecarmode.Native:
		out = append(out, c.quitQuitQuit(when)...)
		out = append(out, c.uid1337(when)...)
		out = append(out, c.excludeOutbound(when)...)
		out = append(out, c.holdIgnored(when)...)
	case sidecarmode.Regular:
		out = append(out, c.jobRegularSidecar(when)...)
	}
	return out
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.When != b.When {
			return a.When == WhenNow
		}
		if a.ID != b.ID {
			return slices.Index(IDs, a.ID) < slices.Index(IDs, b.ID)
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		return a.Field < b.Field
	})
}

// userContainers are the pod's init containers and containers (in that
// order), without the ones the injector adds.
func userContainers(spec corev1.PodSpec) (initContainers, containers []*corev1.Container) {
	for i := range spec.InitContainers {
		if !slices.Contains(istioContainers, spec.InitContainers[i].Name) {
			initContainers = append(initContainers, &spec.InitContainers[i])
		}
	}
	for i := range spec.Containers {
		if !slices.Contains(istioContainers, spec.Containers[i].Name) {
			containers = append(containers, &spec.Containers[i])
		}
	}
	return initContainers, containers
}
