package install

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RetryBackoff is how one API request of the installer is retried after a
// transient error: five tries over about two and a half seconds. Each try is itself
// retried by client-go after the Retry-After that a 429 or 5xx answer
// carries, so a throttling API server is waited for as long as it asks.
var RetryBackoff = wait.Backoff{Steps: 5, Duration: 100 * time.Millisecond, Factor: 2.5, Jitter: 0.2, Cap: 2 * time.Second}

// IsTransient reports whether err may go away without anyone changing
// anything: the API server failed, was overloaded or unreachable, a
// connection broke, a write raced another one (409), a list continuation
// expired (410). Errors the API server answers about the request itself
// (invalid, forbidden, not found, ...) are not transient.
func IsTransient(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case apierrors.IsInternalError(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err),
		apierrors.IsConflict(err), apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		// Another answer of the API server about the request: retrying the
		// same request gets the same answer. 5xx without a known reason
		// aside.
		return status.Status().Code >= 500
	}
	// No answer at all: a broken connection, an unreadable response.
	return true
}

// retryTransient runs fn until it succeeds, fails with an error that is not
// transient, or RetryBackoff is used up.
func retryTransient(ctx context.Context, fn func() error) error {
	return retry.OnError(RetryBackoff, func(err error) bool { return ctx.Err() == nil && IsTransient(err) }, fn)
}

// applyProgress is what a pass for one render input has applied so far. A
// pass that fails leaves it, so the next pass for the same input applies
// only the objects that are left.
type applyProgress struct {
	key  string
	done map[string]bool
}

// applyWorkers is how many objects are applied at the same time.
const applyWorkers = 8

// applyAll applies objs with server-side apply, each retried on transient
// errors, skipping those an earlier, failed pass for the same input key
// applied already. CRDs go first, then the other objects, a few at a time:
// a request waiting out a Retry-After does not hold up the others. When
// objects still fail, it returns the first error with how many objects are
// applied; the next pass continues with the rest.
func (i *Installer) applyAll(ctx context.Context, key string, objs []*unstructured.Unstructured) error {
	i.mu.Lock()
	if i.progress.key != key {
		i.progress = applyProgress{key: key, done: map[string]bool{}}
	}
	done := make(map[string]bool, len(i.progress.done))
	for k := range i.progress.done {
		done[k] = true
	}
	i.mu.Unlock()

	var crds, rest []*unstructured.Unstructured
	for _, obj := range objs {
		switch {
		case done[objectKey(obj)]:
		case isCRD(obj):
			crds = append(crds, obj)
		default:
			rest = append(rest, obj)
		}
	}
	err := i.applyBatch(ctx, key, crds)
	if err == nil {
		err = i.applyBatch(ctx, key, rest)
	}
	if err != nil {
		i.mu.Lock()
		applied := len(i.progress.done)
		i.mu.Unlock()
		return fmt.Errorf("%w (%d of %d objects applied; the next attempt continues with the rest)", err, applied, len(objs))
	}
	return nil
}

// applyBatch applies objs concurrently and returns the first error.
func (i *Installer) applyBatch(ctx context.Context, key string, objs []*unstructured.Unstructured) error {
	var eg errgroup.Group
	eg.SetLimit(applyWorkers)
	for _, obj := range objs {
		eg.Go(func() error {
			if err := retryTransient(ctx, func() error {
				return i.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
					client.FieldOwner(FieldManager), client.ForceOwnership)
			}); err != nil {
				return fmt.Errorf("apply %s %s: %w", obj.GetKind(), klog.KObj(obj), err)
			}
			i.mu.Lock()
			if i.progress.key == key {
				i.progress.done[objectKey(obj)] = true
			}
			i.mu.Unlock()
			return nil
		})
	}
	return eg.Wait()
}

// deleteObject deletes obj in the background, retried on transient errors;
// an object that is gone already counts as deleted.
func (i *Installer) deleteObject(ctx context.Context, obj client.Object) error {
	return retryTransient(ctx, func() error {
		return client.IgnoreNotFound(i.client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	})
}
