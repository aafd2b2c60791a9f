package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/shortlist"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// passOutcome is what one reconcile pass found and did, up to the step that
// stopped it. The pass only gathers it; statusOf alone turns it into the
// CR's state and conditions.
type passOutcome struct {
	// olderInCharge is "namespace/name" of the older CR in charge when it
	// is not this one; nothing else was done.
	olderInCharge string

	// deleting: the delete branch ran. dangling is the error of user
	// resources blocking the uninstall; uninstalled says it finished.
	deleting    bool
	dangling    error
	uninstalled bool

	// decision is the Decision of the pass, nil when the pass stopped
	// before it was made.
	decision *sidecarmode.Decision
	// refused is the upgrade guard's refusal; nothing was installed.
	refused *install.VersionUpdateError
	// installed: the control plane of decision is applied.
	installed bool
	// controlPlaneNotReady: the control plane does not run the target yet,
	// waitingFor says what it waits for; nothing was restarted.
	controlPlaneNotReady bool
	waitingFor           string
	// restart is the restarter's summary, nil when it did not run.
	restart *restarter.Summary
	// ingressChecked: the EnvoyFilters targeting the ingress gateway were
	// looked for; ingressFilters are those found.
	ingressChecked bool
	ingressFilters []string

	// failedStep and err: the step whose error stopped the pass.
	failedStep step
	err        error
	// failingFor is how long this CR's passes have been failing with
	// transient errors (see IstioReconciler.failingFor).
	failingFor time.Duration
}

// step names what a pass was doing when an error stopped it.
type step int

const (
	stepFindInCharge step = iota + 1
	stepFinalizer
	stepValidate
	stepReadInstalled
	stepInstall
	stepControlPlane
	stepRestart
	stepIngressFilters
	stepUninstall
)

// stepFailures is the one table of what a failed step shows: the Ready
// condition's reason and, for steps that own a condition, that condition's
// failure reason, both with the error as message.
var stepFailures = map[step]struct{ ready, own v1alpha2.ConditionReason }{
	stepFindInCharge:   {ready: v1alpha2.ReasonReconcileFailed},
	stepFinalizer:      {ready: v1alpha2.ReasonReconcileFailed},
	stepValidate:       {ready: v1alpha2.ReasonValidationFailed},
	stepReadInstalled:  {ready: v1alpha2.ReasonReconcileFailed},
	stepInstall:        {ready: v1alpha2.ReasonInstallUninstallFailed, own: v1alpha2.ReasonInstallFailed},
	stepControlPlane:   {ready: v1alpha2.ReasonReconcileFailed},
	stepRestart:        {ready: v1alpha2.ReasonReconcileFailed, own: v1alpha2.ReasonRestartFailed},
	stepIngressFilters: {ready: v1alpha2.ReasonReconcileFailed, own: v1alpha2.ReasonIngressTargetingUserResourceDetectionFailed},
	stepUninstall:      {ready: v1alpha2.ReasonInstallUninstallFailed, own: v1alpha2.ReasonUninstallFailed},
}

// failed records the step and error that stop the pass.
func (o passOutcome) failed(s step, err error) passOutcome {
	o.failedStep, o.err = s, err
	return o
}

// statusVerdict is the status a pass's outcome calls for.
type statusVerdict struct {
	state v1alpha2.State
	// ready is the Ready condition's reason; description its message and
	// the status' description ("" means the reason's default message).
	ready       v1alpha2.ConditionReason
	description string
	// conditions are the other conditions this pass evaluated.
	conditions []reasonMessage
	requeue    time.Duration
}

type reasonMessage struct {
	reason  v1alpha2.ConditionReason
	message string
}

func (v *statusVerdict) add(reason v1alpha2.ConditionReason, message string) {
	v.conditions = append(v.conditions, reasonMessage{reason, message})
}

func (v *statusVerdict) set(state v1alpha2.State, ready v1alpha2.ConditionReason, description string, requeue time.Duration) {
	v.state, v.ready, v.description, v.requeue = state, ready, description, requeue
}

// statusOf computes the CR's state, Ready condition, description and every
// other condition from one pass's outcome, and how soon to look again.
// A condition the pass did not evaluate is absent from the verdict, and
// setStatus removes it: a pass that stopped early never leaves a condition
// of an earlier pass beside its own, such as "every workload runs the
// expected proxy" for the previous target while the install fails.
func (r *IstioReconciler) statusOf(o passOutcome) statusVerdict {
	var v statusVerdict
	if o.decision != nil {
		v.add(nativeSidecarsVerdict(*o.decision))
	}
	if o.installed {
		v.add(v1alpha2.ReasonInstallSucceeded, fmt.Sprintf("Istio %s is installed; istiod injects istio-proxy as a %s container by default",
			o.decision.IstioVersion, containerNoun(o.decision.DefaultType)))
	}
	if o.restart != nil {
		v = r.restartVerdict(v, *o.decision, *o.restart)
	}
	if o.ingressChecked {
		v.add(ingressVerdict(o.ingressFilters))
	}
	switch {
	case o.err != nil:
		return r.failureVerdict(v, o)
	case o.olderInCharge != "":
		v.set(v1alpha2.StateWarning, v1alpha2.ReasonOlderCRExists, fmt.Sprintf("Istio CR %s is older and in charge of the installation; this CR is ignored", o.olderInCharge),
			// Nothing enqueues this CR when the one in charge goes away.
			r.WarningRequeue)
	case o.dangling != nil:
		// Users delete their resources without touching the CR: look again.
		v.set(v1alpha2.StateWarning, v1alpha2.ReasonDanglingUserResources, capitalize(o.dangling.Error()), time.Minute)
	case o.deleting && !o.uninstalled:
		v.set(v1alpha2.StateDeleting, v1alpha2.ReasonReconcileRequeued, "Istio is being uninstalled", r.ProgressRequeue)
	case o.deleting:
		// Released: the object goes away and its status is not written.
	case o.refused != nil:
		// The user picks another release; retrying does not help.
		v.set(v1alpha2.StateWarning, v1alpha2.ReasonVersionUpdateNotAllowed, capitalize(o.refused.Error()), 0)
	case o.controlPlaneNotReady:
		v.set(v1alpha2.StateProcessing, v1alpha2.ReasonControlPlaneNotReady, o.waitingFor, r.ProgressRequeue)
	case len(o.ingressFilters) > 0 && v.state == v1alpha2.StateReady:
		// Rollouts in progress and workloads that need the user keep their
		// state; the filters are in their condition either way.
		v.set(v1alpha2.StateWarning, v1alpha2.ReasonReconcileSucceeded, ingressFiltersMessage(o.ingressFilters), r.WarningRequeue)
	}
	return v
}

// failureVerdict: the failed step's error in the Ready condition and the
// step's own condition. The state is Error for what the user must fix (a
// userError, a request the API server refuses) and for a failed uninstall;
// a transient error shows as Processing until it has lasted ErrorAfter.
func (r *IstioReconciler) failureVerdict(v statusVerdict, o passOutcome) statusVerdict {
	f := stepFailures[o.failedStep]
	msg := capitalize(o.err.Error())
	if f.own != "" {
		v.add(f.own, msg)
	}
	var userErr *userError
	switch errorAfter := r.errorAfter(); {
	case o.failedStep == stepUninstall || errors.As(o.err, &userErr) || !install.IsTransient(o.err):
		v.set(v1alpha2.StateError, f.ready, msg, 0)
	case o.failingFor >= errorAfter:
		v.set(v1alpha2.StateError, f.ready, fmt.Sprintf("%s (failing for %s; retrying)", msg, o.failingFor.Round(time.Second)), 0)
	default:
		v.set(v1alpha2.StateProcessing, f.ready, fmt.Sprintf("%s; retrying: a transient error, the state turns Error if it lasts %s", msg, errorAfter), 0)
	}
	return v
}

// restartVerdict: the restarter's summary as the ProxySidecarRestartSucceeded
// condition, and the state it calls for when nothing later in the pass
// overrides it.
func (r *IstioReconciler) restartVerdict(v statusVerdict, d sidecarmode.Decision, s restarter.Summary) statusVerdict {
	switch {
	case s.InProgress:
		msg := fmt.Sprintf("Rolling out workloads with a stale istio-proxy: %d started in this pass, %d in progress or waiting for a slot", s.Restarted.Count, s.Pending.Count)
		description := "Workloads with a stale istio-proxy are being rolled out"
		if s.ErrorCount > 0 {
			// The others went ahead; these are tried again on the next pass.
			msg += fmt.Sprintf("; %d workload(s) retried on the next pass, last error: %s", s.ErrorCount, s.LastError())
			description += "; last error: " + s.LastError()
		}
		v.add(v1alpha2.ReasonRestartInProgress, msg)
		v.set(v1alpha2.StateProcessing, v1alpha2.ReasonReconcileRequeued, description, r.ProgressRequeue)
	case s.NotConverging.Count > 0:
		msg := "Workloads still run a stale istio-proxy after their rollout and are not restarted again: " + joinCategory(s.NotConverging)
		v.add(v1alpha2.ReasonNotConverging, msg)
		v.set(v1alpha2.StateWarning, v1alpha2.ReasonReconcileSucceeded, msg, r.WarningRequeue)
	case s.ManualRestart.Count > 0:
		msg := "Workloads with a stale istio-proxy must be restarted by their owner: " + joinCategory(s.ManualRestart)
		v.add(v1alpha2.ReasonManualRestartRequired, msg)
		v.set(v1alpha2.StateWarning, v1alpha2.ReasonReconcileSucceeded, msg, r.WarningRequeue)
	default:
		v.add(v1alpha2.ReasonRestartSucceeded, "")
		v.set(v1alpha2.StateReady, v1alpha2.ReasonReconcileSucceeded, convergedMessage(d, s), r.ResyncPeriod)
	}
	return v
}

// convergedMessage: what runs, and the stale proxies the operator leaves
// on purpose.
func convergedMessage(d sidecarmode.Decision, s restarter.Summary) string {
	msg := fmt.Sprintf("Istio %s is installed and every workload runs a %s istio-proxy of that version unless annotated otherwise", d.IstioVersion, d.DefaultType)
	if s.OptedOut.Count > 0 {
		msg += fmt.Sprintf("; %d workload(s) opted out of restarts keep a stale istio-proxy: %s", s.OptedOut.Count, joinCategory(s.OptedOut))
	}
	if s.SameProxy.Count > 0 {
		msg += fmt.Sprintf("; %d workload(s) keep a stale istio-proxy that a restart would not change (the injector gives their new pods the same proxy): %s",
			s.SameProxy.Count, joinCategory(s.SameProxy))
	}
	return msg
}

// nativeSidecarsVerdict: the Decision's reason where the kubelets forced
// regular containers, the reason's default message otherwise.
func nativeSidecarsVerdict(d sidecarmode.Decision) (v1alpha2.ConditionReason, string) {
	if d.NativeUnsupported {
		return v1alpha2.ReasonNativeSidecarsUnsupported, d.Reason
	}
	return v1alpha2.ReasonNativeSidecarsSupported, ""
}

func ingressVerdict(filters []string) (v1alpha2.ConditionReason, string) {
	if len(filters) == 0 {
		return v1alpha2.ReasonIngressTargetingUserResourceNotFound, ""
	}
	return v1alpha2.ReasonIngressTargetingUserResourceFound, ingressFiltersMessage(filters)
}

func ingressFiltersMessage(filters []string) string {
	if len(filters) == 1 {
		return fmt.Sprintf("Misconfigured EnvoyFilters can break the Istio ingress gateway: user-created EnvoyFilter %s targets it", filters[0])
	}
	return fmt.Sprintf("Misconfigured EnvoyFilters can break the Istio ingress gateway: %d user-created EnvoyFilters target it: %s", len(filters), shortlist.Join(filters))
}

// conditionTypes are the condition types a verdict sets or removes.
var conditionTypes = []string{
	v1alpha2.ConditionTypeReady,
	v1alpha2.ConditionTypeInstalled,
	v1alpha2.ConditionTypeProxySidecarRestartSucceeded,
	v1alpha2.ConditionTypeNativeSidecarsSupported,
	v1alpha2.ConditionTypeIngressTargetingUserResourceFound,
}

// setStatus writes the verdict on a pass's outcome into the CR (in memory)
// and returns the pass's requeue. observedGeneration says the status
// describes this generation. The records of what was installed and
// restarted (istioVersion, sidecarType, proxyRestart) change only when the
// pass installed or restarted.
func (r *IstioReconciler) setStatus(istio *v1alpha2.Istio, o passOutcome) time.Duration {
	v := r.statusOf(o)
	if o.deleting && o.uninstalled {
		return v.requeue
	}
	st := &istio.Status
	st.State = v.state
	set := map[string]bool{}
	for _, c := range append(v.conditions, reasonMessage{v.ready, v.description}) {
		istio.SetCondition(c.reason, c.message)
		info, _ := v1alpha2.ReasonInfoFor(c.reason)
		set[info.Type] = true
	}
	for _, t := range conditionTypes {
		if !set[t] {
			istio.RemoveCondition(t)
		}
	}
	st.Description = v.description
	if st.Description == "" {
		st.Description = istio.Condition(v1alpha2.ConditionTypeReady).Message
	}
	st.ObservedGeneration = istio.Generation
	if o.installed {
		st.IstioVersion = o.decision.IstioVersion
		st.SidecarType = string(o.decision.DefaultType)
	}
	if o.restart != nil {
		st.ProxyRestart = proxyRestartStatus(*o.restart, st.ProxyRestart)
	}
	return v.requeue
}

// proxyRestartStatus is the restarter's summary as the CR shows it. The last
// run time moves only when the summary changed, so a reconcile that finds
// nothing new leaves the status, and the API server, alone.
func proxyRestartStatus(s restarter.Summary, previous *v1alpha2.ProxyRestartStatus) *v1alpha2.ProxyRestartStatus {
	st := &v1alpha2.ProxyRestartStatus{
		PodsScanned:            int32(s.PodsScanned),
		StalePods:              int32(s.StalePods),
		Restarted:              int32(s.Restarted.Count),
		Pending:                int32(s.Pending.Count),
		ManualRestart:          int32(s.ManualRestart.Count),
		NotConverging:          int32(s.NotConverging.Count),
		SameProxy:              int32(s.SameProxy.Count),
		RestartedWorkloads:     s.Restarted.Names,
		PendingWorkloads:       s.Pending.Names,
		ManualRestartWorkloads: s.ManualRestart.Names,
		NotConvergingWorkloads: s.NotConverging.Names,
		SameProxyWorkloads:     s.SameProxy.Names,
	}
	if previous != nil {
		st.LastRunTime = previous.LastRunTime
		if equality.Semantic.DeepEqual(st, previous) {
			return st
		}
	}
	now := metav1.Now()
	st.LastRunTime = &now
	return st
}

// joinCategory lists a category's names for a message.
func joinCategory(c restarter.Category) string {
	return strings.Join(c.Names, ", ")
}

// capitalize makes an error message read as a status sentence.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

func containerNoun(t sidecarmode.ContainerType) string {
	if t == sidecarmode.Native {
		return "native sidecar"
	}
	return "regular"
}
