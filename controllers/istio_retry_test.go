package controllers

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/istio-module/operator/api/v1alpha2"
)

// failPass computes the status of a pass a step's error stopped, as
// Reconcile does, and returns the error Reconcile returns.
func failPass(r *IstioReconciler, istio *v1alpha2.Istio, err error) error {
	o := passOutcome{}.failed(stepControlPlane, err)
	o.failingFor = r.failingFor(istio.UID, err)
	r.setStatus(istio, o)
	return o.err
}

func TestFailedKeepsProcessingWhileTransient(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	transient := apierrors.NewInternalError(errors.New("etcd leader changed"))
	for _, tc := range []struct {
		name  string
		err   error
		after time.Duration // since the first failure
		state v1alpha2.State
	}{
		{"transient, first failure", transient, 0, v1alpha2.StateProcessing},
		{"transient, for a while", transient, 4 * time.Minute, v1alpha2.StateProcessing},
		{"transient, for longer than ErrorAfter", transient, 5 * time.Minute, v1alpha2.StateError},
		{"the user's to fix", &userError{errors.New("bad version")}, 0, v1alpha2.StateError},
		{"forbidden", apierrors.NewForbidden(gr, "istiod", errors.New("RBAC")), 0, v1alpha2.StateError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
			now := start
			r := &IstioReconciler{ErrorAfter: 5 * time.Minute, Now: func() time.Time { return now }}
			istio := &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u"), Generation: 3}}
			err := failPass(r, istio, tc.err)
			g.Expect(err).To(MatchError(tc.err))
			now = start.Add(tc.after)
			err = failPass(r, istio, tc.err)
			g.Expect(err).To(MatchError(tc.err))
			g.Expect(istio.Status.State).To(Equal(tc.state))
			g.Expect(istio.Status.Description).To(ContainSubstring(capitalize(tc.err.Error())))
			g.Expect(istio.Status.ObservedGeneration).To(Equal(int64(3)))
			ready := istio.Condition(v1alpha2.ConditionTypeReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Message).To(ContainSubstring(capitalize(tc.err.Error())), "the last error is in the condition")
		})
	}
}

func TestSucceededResetsTheFailureClock(t *testing.T) {
	g := NewWithT(t)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	r := &IstioReconciler{ErrorAfter: time.Minute, Now: func() time.Time { return now }}
	istio := &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{UID: types.UID("u")}}
	err := apierrors.NewTooManyRequests("slow down", 1)
	_ = failPass(r, istio, err)
	now = now.Add(50 * time.Second)
	r.failures.succeeded(istio.UID)
	now = now.Add(50 * time.Second)
	_ = failPass(r, istio, err)
	g.Expect(istio.Status.State).To(Equal(v1alpha2.StateProcessing), "100s of failures, but not in a row")
}

func TestRateLimiterIsBoundedByTheProgressRequeue(t *testing.T) {
	for _, tc := range []struct {
		progress, ceiling time.Duration
	}{
		{10 * time.Second, 10 * time.Second},
		{100 * time.Millisecond, time.Second},
		{time.Hour, time.Minute},
	} {
		t.Run(tc.progress.String(), func(t *testing.T) {
			g := NewWithT(t)
			rl := RateLimiter(tc.progress)
			req := reconcile.Request{}
			var last time.Duration
			for range 40 {
				last = rl.When(req)
				g.Expect(last).To(BeNumerically("<=", tc.ceiling))
			}
			g.Expect(last).To(Equal(tc.ceiling))
			rl.Forget(req)
			g.Expect(rl.When(req)).To(Equal(5 * time.Millisecond))
		})
	}
}
