package controllers

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/install"
)

// DefaultErrorAfter is how long a reconcile may keep failing with transient
// errors before the CR's state turns Error.
const DefaultErrorAfter = 5 * time.Minute

// maxRetryDelay bounds the delay before a failed reconcile is retried,
// whatever the progress requeue: a healed outage is noticed within it.
const maxRetryDelay = time.Minute

// RateLimiter is the controller's retry delay after failed reconciles:
// exponential from 5ms, but never longer than the progress requeue (at
// least a second, at most a minute). controller-runtime's default doubles up
// to 16 minutes, so after an API server outage the operator could sleep for
// a quarter of an hour after the outage ended.
func RateLimiter(progressRequeue time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, retryCeiling(progressRequeue))
}

func retryCeiling(progressRequeue time.Duration) time.Duration {
	return min(max(progressRequeue, time.Second), maxRetryDelay)
}

// failures remembers since when each CR's reconciles have been failing, so
// that a transient error shows as Processing and only a lasting one as
// Error.
type failures struct {
	mu    sync.Mutex
	since map[types.UID]time.Time
}

// failing records a failure now and returns since when the CR has been
// failing.
func (f *failures) failing(uid types.UID, now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.since == nil {
		f.since = map[types.UID]time.Time{}
	}
	since, ok := f.since[uid]
	if !ok {
		f.since[uid] = now
		return now
	}
	return since
}

// succeeded forgets the CR's failures.
func (f *failures) succeeded(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.since, uid)
}

// failed records err in the status and returns it, so the reconcile is
// retried (bounded by RateLimiter) unless it is the user's to fix:
//
//   - an error the user must fix (userError, an invalid or forbidden
//     request) sets state Error at once;
//   - a transient error (install.IsTransient) keeps state Processing, with
//     the error in the Ready condition's message, while the reconciles have
//     been failing for less than ErrorAfter; after that, state Error.
func (r *IstioReconciler) failed(istio *v1alpha2.Istio, reason v1alpha2.ConditionReason, err error) (ctrl.Result, error) {
	var userErr *userError
	if errors.As(err, &userErr) || !install.IsTransient(err) {
		return r.failedAs(istio, v1alpha2.StateError, reason, err)
	}
	now := r.clock()
	since := r.failures.failing(istio.UID, now)
	errorAfter := r.ErrorAfter
	if errorAfter <= 0 {
		errorAfter = DefaultErrorAfter
	}
	if failingFor := now.Sub(since); failingFor >= errorAfter {
		msg := fmt.Sprintf("%s (failing for %s; retrying)", capitalize(err.Error()), failingFor.Round(time.Second))
		r.setState(istio, v1alpha2.StateError, reason, msg)
		return ctrl.Result{}, err
	}
	msg := fmt.Sprintf("%s; retrying: a transient error, the state turns Error if it lasts %s", capitalize(err.Error()), errorAfter)
	r.setState(istio, v1alpha2.StateProcessing, reason, msg)
	return ctrl.Result{}, err
}

func (r *IstioReconciler) clock() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
