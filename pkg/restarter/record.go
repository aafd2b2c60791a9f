package restarter

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/workload"
)

// The record of a restart, and restarts whose answer was lost.
//
// A marker patch can reach the API server and be carried out while its
// answer never reaches the operator (a connection that breaks, a proxy that
// times out). The workload rolls out, so for the restarter it was restarted;
// it must not be restarted again, and it must be reported once, with its
// Event, like any other restart. The restarter remembers such workloads as
// unconfirmed; the next run reads them and, when their template carries the
// marker for the target, reports the restart as begun in that run.
//
// The marker also goes on the workload's metadata: the pod template's marker
// can be stripped by another tool (a GitOps controller that reverts what it
// did not write), and after an operator restart nothing in memory says the
// workload was restarted. The metadata's marker does.

// confirmUnconfirmed settles what a run learns about a workload whose marker
// patch for target had no clear answer: confirmed is true when the marker is
// there (the restart happened; it counts as restarted and in flight now).
// When it is not, the patch did not land and the workload is decided afresh.
func (r *Restarter) confirmUnconfirmed(ref WorkloadRef, w *workload.Facts, target string) (confirmed bool) {
	if _, ok := r.unconfirmed[ref]; !ok || w.Mode == workload.ModeUnresolved {
		// Not ours to look at, or not readable now: next run.
		return false
	}
	delete(r.unconfirmed, ref)
	if !isOurs(w, target) {
		return false
	}
	r.restarted[ref] = struct{}{}
	r.inFlight[ref] = struct{}{}
	return true
}

// reportConfirmed reports a restart whose patch answer was lost, as
// rolloutRestart reports one it saw succeed.
func (r *Restarter) reportConfirmed(ctx context.Context, target string, wp *WorkloadPlan) {
	log := ctrl.LoggerFrom(ctx).WithValues(wp.Workload.Kind, klog.KRef(wp.Workload.Namespace, wp.Workload.Name))
	if wp.w.Mode == workload.ModeEvict {
		log.Info("Marked workload for eviction of pods with stale istio-proxy (the answer to the patch was lost)", "target", target)
		return
	}
	restartsTotal.WithLabelValues(wp.Workload.Kind, resultRolledOut).Inc()
	log.Info("Restarted workload for stale istio-proxy (the answer to the patch was lost; its marker is there)",
		"target", target, "stalePods", wp.StalePods)
	r.event(wp, corev1.EventTypeNormal, EventRolloutRestarted, "RolloutRestart",
		"Rolling out for Istio proxy %s: %s", target, staleSummaryOf(wp))
}

// unconfirmedEviction is an eviction whose answer was unclear.
type unconfirmedEviction struct {
	wp  WorkloadPlan
	pod podRef
}

// confirmEvictions reports the evictions whose answer was lost but whose pod
// went (gone, replaced or terminating) as evicted, with their Event, and
// forgets those whose pod is still there. Unreadable pods wait for the next
// run.
func (r *Restarter) confirmEvictions(ctx context.Context, target string) {
	for ref, u := range r.unconfirmedEvictions {
		var pod corev1.Pod
		err := r.c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: u.pod.Name}, &pod)
		switch {
		case apierrors.IsNotFound(err), err == nil && (pod.UID != u.pod.UID || pod.DeletionTimestamp != nil):
			restartsTotal.WithLabelValues(ref.Kind, resultEvicted).Inc()
			ctrl.LoggerFrom(ctx).Info("Evicted pod with stale istio-proxy (the answer to the eviction was lost)",
				"pod", klog.KRef(ref.Namespace, u.pod.Name), "target", target)
			r.event(&u.wp, corev1.EventTypeNormal, EventPodEvicted, "Evict",
				"Evicted pod %s for Istio proxy %s: %s", u.pod.Name, target, staleSummaryOf(&u.wp))
		case err != nil:
			continue
		}
		delete(r.unconfirmedEvictions, ref)
	}
}

// maxErrors is how many error messages a Summary keeps.
const maxErrors = 5

// addErrors records the errors of single workloads in the Summary, one
// message per error of a join.
func (s *Summary) addErrors(errs ...error) {
	for _, err := range errs {
		for _, e := range flatten(err) {
			if s.ErrorCount < maxErrors {
				s.Errors = append(s.Errors, e.Error())
			}
			s.ErrorCount++
		}
	}
	if s.ErrorCount > 0 {
		s.InProgress = true
	}
}

// LastError is the summary's first error message with how many more there
// are, or "".
func (s Summary) LastError() string {
	switch {
	case s.ErrorCount == 0:
		return ""
	case s.ErrorCount == 1:
		return s.Errors[0]
	}
	return fmt.Sprintf("%s (and %d more errors)", s.Errors[0], s.ErrorCount-1)
}

// flatten splits joined errors; context errors are left out (they are the
// run's, not a workload's).
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return []error{err}
}
