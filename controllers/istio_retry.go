package controllers

import (
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

// failingFor runs the failure clock on a pass's error and returns how long
// the CR's passes have been failing with transient errors, so that a
// transient error shows as Processing and only a lasting one as Error (see
// failureVerdict). A success stops the clock; an error the user must fix
// (userError, an invalid or forbidden request) does not run it.
func (r *IstioReconciler) failingFor(uid types.UID, err error) time.Duration {
	if err == nil {
		r.failures.succeeded(uid)
		return 0
	}
	var userErr *userError
	if errors.As(err, &userErr) || !install.IsTransient(err) {
		return 0
	}
	now := r.clock()
	return now.Sub(r.failures.failing(uid, now))
}

func (r *IstioReconciler) errorAfter() time.Duration {
	if r.ErrorAfter <= 0 {
		return DefaultErrorAfter
	}
	return r.ErrorAfter
}

func (r *IstioReconciler) clock() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
