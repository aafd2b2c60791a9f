package restarter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/workload"
)

// Event reasons. Events are events.k8s.io/v1 Events regarding the workload.
const (
	// EventRolloutRestarted (Normal): the pod template was marked for the
	// target; the workload's controller rolls the pods out.
	EventRolloutRestarted = "IstioProxyRolloutRestarted"
	// EventPodEvicted (Normal): a stale pod was evicted; the workload's
	// controller recreates it.
	EventPodEvicted = "IstioProxyPodEvicted"
	// EventEvictionBlocked (Warning): a PodDisruptionBudget refused an
	// eviction; it is retried on the next run.
	EventEvictionBlocked = "IstioProxyEvictionBlocked"
	// EventManualRestartRequired (Warning): stale pods the restarter does not
	// replace; a human has to.
	EventManualRestartRequired = "IstioProxyManualRestartRequired"
	// EventNotConverging (Warning): restarted once for the target, still stale.
	EventNotConverging = "IstioProxyNotConverging"
)

// Results of restarts, the "result" label of the restarts metric.
const (
	resultRolledOut = "rollout"
	resultEvicted   = "evicted"
	resultConflict  = "conflict"
	resultBlocked   = "blocked"
	resultError     = "error"
)

// outcome is what acting on one plan entry did.
type outcome struct {
	// started: the restart for the target began in this run (the marker was
	// written).
	started bool
	// evicted names the pod evicted in this run.
	evicted string
	// pending replaces the entry's action with ActionPending and this reason
	// (a conflict, a blocked eviction, a workload that went away).
	pending string
	// sameProxy replaces the entry's action with ActionSameProxy and this
	// reason: the injector vetoed the restart (injector.go).
	sameProxy string
	err       error
}

// act carries out the plan's RolloutRestart and Evict entries and reports
// the Manual and NotConverging ones by Event. It stops at the first sign of
// a cancelled context: whatever it did so far is recorded in the cluster
// (the markers), so the next Run continues without repeating it.
func (r *Restarter) act(ctx context.Context, plan *Plan) ([]outcome, error) {
	outcomes := make([]outcome, len(plan.Workloads))
	var errs []error
	for i := range plan.Workloads {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		wp := &plan.Workloads[i]
		if o, veto := r.checkInjector(ctx, plan.Target, wp); veto {
			outcomes[i] = o
			continue
		}
		switch wp.Action {
		case ActionRolloutRestart:
			outcomes[i] = r.rolloutRestart(ctx, plan.Target, wp)
		case ActionEvict:
			outcomes[i] = r.evictNext(ctx, plan.Target, wp)
		case ActionManual:
			r.warnOnce(wp, EventManualRestartRequired, "ReportManualRestart")
		case ActionNotConverging:
			r.warnOnce(wp, EventNotConverging, "ReportNotConverging")
		}
		if wp.confirmed {
			r.reportConfirmed(ctx, plan.Target, wp)
			outcomes[i].started = true
		}
		if outcomes[i].err != nil {
			errs = append(errs, outcomes[i].err)
		}
	}
	return outcomes, errors.Join(errs...)
}

// rolloutRestart marks the pod template for the target, which rolls the
// workload out. The patch carries the resourceVersion that was read, so a
// workload changed since (perhaps restarted by another Restarter) is not
// patched blindly: the conflict leaves it to the next run.
func (r *Restarter) rolloutRestart(ctx context.Context, target string, wp *WorkloadPlan) outcome {
	log := ctrl.LoggerFrom(ctx).WithValues(wp.Workload.Kind, klog.KRef(wp.Workload.Namespace, wp.Workload.Name))
	o := r.mark(ctx, target, wp)
	if o.err != nil || o.pending != "" {
		return o
	}
	restartsTotal.WithLabelValues(wp.Workload.Kind, resultRolledOut).Inc()
	log.Info("Restarted workload for stale istio-proxy", "target", target, "stalePods", wp.StalePods, "reasons", wp.Reasons)
	r.event(wp, corev1.EventTypeNormal, EventRolloutRestarted, "RolloutRestart",
		"Rolling out for Istio proxy %s: %s", target, staleSummaryOf(wp))
	return o
}

// evictNext marks the workload (first eviction for the target only), then
// evicts its next stale pod through the Eviction API.
func (r *Restarter) evictNext(ctx context.Context, target string, wp *WorkloadPlan) outcome {
	log := ctrl.LoggerFrom(ctx).WithValues(wp.Workload.Kind, klog.KRef(wp.Workload.Namespace, wp.Workload.Name))
	var o outcome
	if wp.RestartedFor != target {
		if o = r.mark(ctx, target, wp); o.err != nil || o.pending != "" {
			return o
		}
		log.Info("Marked workload for eviction of pods with stale istio-proxy", "target", target, "stalePods", wp.StalePods)
	}
	pod := wp.evict
	eviction := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: wp.Workload.Namespace, Name: pod.Name},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}},
	}
	podObj := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: wp.Workload.Namespace, Name: pod.Name}}
	err := r.c.SubResource("eviction").Create(ctx, podObj, eviction)
	switch {
	case err == nil:
		restartsTotal.WithLabelValues(wp.Workload.Kind, resultEvicted).Inc()
		o.evicted = pod.Name
		log.Info("Evicted pod with stale istio-proxy", "pod", klog.KRef(wp.Workload.Namespace, pod.Name), "target", target)
		r.event(wp, corev1.EventTypeNormal, EventPodEvicted, "Evict",
			"Evicted pod %s for Istio proxy %s: %s", pod.Name, target, staleSummaryOf(wp))
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Gone already, or replaced by a pod of the same name (UID precondition).
		o.pending = fmt.Sprintf("pod %s went away before its eviction", pod.Name)
	case apierrors.IsTooManyRequests(err):
		restartsTotal.WithLabelValues(wp.Workload.Kind, resultBlocked).Inc()
		o.pending = fmt.Sprintf("the eviction of pod %s is blocked by a PodDisruptionBudget (%s); retrying on the next run",
			pod.Name, err.Error())
		r.warnOnce(wp, EventEvictionBlocked, "Evict")
	default:
		restartsTotal.WithLabelValues(wp.Workload.Kind, resultError).Inc()
		o.err = fmt.Errorf("evict pod %s/%s of %s: %w", wp.Workload.Namespace, pod.Name, wp.Workload, err)
		// The eviction may have happened all the same (its answer lost): the
		// next run looks.
		r.unconfirmedEvictions[wp.Workload] = unconfirmedEviction{wp: *wp, pod: *pod}
	}
	return o
}

// mark writes RestartAnnotation=target on the pod template and on the
// workload's metadata, in one patch. It records the restart in the
// Restarter's memory; a patch whose outcome is unknown (no clear answer) is
// remembered as unconfirmed, for the next run to look at.
func (r *Restarter) mark(ctx context.Context, target string, wp *WorkloadPlan) outcome {
	obj, err := workload.NewRestartable(wp.Workload)
	if err != nil {
		return outcome{err: err}
	}
	meta := map[string]any{
		"resourceVersion": wp.w.ResourceVersion,
		"annotations":     map[string]string{RestartAnnotation: target},
	}
	body, err := json.Marshal(map[string]any{
		"metadata": meta,
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{RestartAnnotation: target}},
		}},
	})
	if err != nil {
		return outcome{err: err}
	}
	err = r.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, body))
	switch {
	case err == nil:
		r.restarted[wp.Workload] = struct{}{}
		r.inFlight[wp.Workload] = struct{}{}
		return outcome{started: true}
	case apierrors.IsConflict(err):
		restartsTotal.WithLabelValues(wp.Workload.Kind, resultConflict).Inc()
		return outcome{pending: "the workload changed since it was read; deciding again on the next run"}
	case apierrors.IsNotFound(err):
		return outcome{pending: "the workload was deleted"}
	}
	restartsTotal.WithLabelValues(wp.Workload.Kind, resultError).Inc()
	// The patch may have landed all the same (its answer lost on the way):
	// the next run reads the workload and tells.
	r.unconfirmed[wp.Workload] = struct{}{}
	return outcome{err: fmt.Errorf("patch the pod template of %s: %w", wp.Workload, err)}
}

// warnOnce emits a Warning Event about the workload once per target and
// Restarter, not on every run.
func (r *Restarter) warnOnce(wp *WorkloadPlan, reason, action string) {
	key := reason + "/" + wp.Workload.String()
	if _, done := r.reported[key]; done {
		return
	}
	r.reported[key] = struct{}{}
	r.event(wp, corev1.EventTypeWarning, reason, action, "%s", wp.Why)
}

// maxNote is the longest note events.k8s.io/v1 accepts, in bytes.
const maxNote = 1024

func (r *Restarter) event(wp *WorkloadPlan, eventType, reason, action, format string, args ...any) {
	if r.recorder == nil {
		return
	}
	note := fmt.Sprintf(format, args...)
	if len(note) > maxNote {
		note = note[:maxNote-3] + "..."
	}
	regarding := &corev1.ObjectReference{
		APIVersion: wp.Workload.APIVersion,
		Kind:       wp.Workload.Kind,
		Namespace:  wp.Workload.Namespace,
		Name:       wp.Workload.Name,
		UID:        wp.w.UID,
	}
	r.recorder.Eventf(regarding, nil, eventType, reason, action, "%s", note)
}
