package controllers

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// A workload the injector vetoed (a restart would give the same proxy) is
// named in the CR's status and description, not only in an Event.
func TestSameProxyWorkloadsInStatus(t *testing.T) {
	g := NewWithT(t)
	r := &IstioReconciler{ResyncPeriod: time.Hour}
	istio := &v1alpha2.Istio{}
	d := sidecarmode.Decision{IstioVersion: "1.30.2", DefaultType: sidecarmode.Native}
	s := restarter.Summary{PodsScanned: 3, StalePods: 1,
		SameProxy: restarter.Category{Count: 1, Names: []string{"Deployment shop/grpc"}}}

	requeue := r.setStatus(istio, passOutcome{decision: &d, installed: true, restart: &s, ingressChecked: true})
	g.Expect(requeue).To(Equal(time.Hour))
	g.Expect(istio.Status.State).To(Equal(v1alpha2.StateReady))
	g.Expect(istio.Status.ProxyRestart.SameProxy).To(BeEquivalentTo(1))
	g.Expect(istio.Status.ProxyRestart.SameProxyWorkloads).To(Equal([]string{"Deployment shop/grpc"}))
	g.Expect(istio.Status.Description).To(HaveSuffix("; 1 workload(s) keep a stale istio-proxy that a restart would not change " +
		"(the injector gives their new pods the same proxy): Deployment shop/grpc"))
}

// statusOf decides state, Ready and every other condition from a pass's
// outcome alone; conditions the pass did not reach are absent.
func TestStatusOf(t *testing.T) {
	d := sidecarmode.Decision{IstioVersion: "1.30.2", DefaultType: sidecarmode.Native, Reason: "Module 1.30.0 installs Istio 1.30.2 with native sidecars by default"}
	old := sidecarmode.Decision{IstioVersion: "1.30.2", DefaultType: sidecarmode.Regular, NativeUnsupported: true, Reason: "Module 1.30.0 installs Istio 1.30.2 with regular containers: ..."}
	converged := restarter.Summary{PodsScanned: 4}
	manual := restarter.Summary{ManualRestart: restarter.Category{Count: 1, Names: []string{"Job apps/batch"}}}
	rolling := restarter.Summary{InProgress: true, Restarted: restarter.Category{Count: 2}}
	transient := apierrors.NewServiceUnavailable("etcd is down")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "istio", errors.New("RBAC"))
	refused := &install.VersionUpdateError{Installed: "1.30.2", Target: "1.29.2", Why: "downgrades are not supported"}
	const (
		R = v1alpha2.ConditionTypeReady
		I = v1alpha2.ConditionTypeInstalled
		P = v1alpha2.ConditionTypeProxySidecarRestartSucceeded
		N = v1alpha2.ConditionTypeNativeSidecarsSupported
		F = v1alpha2.ConditionTypeIngressTargetingUserResourceFound
	)
	for _, tc := range []struct {
		name    string
		outcome passOutcome
		state   v1alpha2.State
		// conditions are every condition's reason, by type.
		conditions map[string]v1alpha2.ConditionReason
		requeue    time.Duration
	}{
		{"converged", passOutcome{decision: &d, installed: true, restart: &converged, ingressChecked: true},
			v1alpha2.StateReady, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileSucceeded, I: v1alpha2.ReasonInstallSucceeded,
				P: v1alpha2.ReasonRestartSucceeded, N: v1alpha2.ReasonNativeSidecarsSupported, F: v1alpha2.ReasonIngressTargetingUserResourceNotFound}, time.Hour},
		{"converged on old kubelets, an EnvoyFilter on the ingress gateway", passOutcome{decision: &old, installed: true, restart: &converged, ingressChecked: true, ingressFilters: []string{"istio-system/patch"}},
			v1alpha2.StateWarning, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileSucceeded, I: v1alpha2.ReasonInstallSucceeded,
				P: v1alpha2.ReasonRestartSucceeded, N: v1alpha2.ReasonNativeSidecarsUnsupported, F: v1alpha2.ReasonIngressTargetingUserResourceFound}, time.Minute},
		{"workloads need a manual restart; an EnvoyFilter keeps that state", passOutcome{decision: &d, installed: true, restart: &manual, ingressChecked: true, ingressFilters: []string{"istio-system/patch"}},
			v1alpha2.StateWarning, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileSucceeded, I: v1alpha2.ReasonInstallSucceeded,
				P: v1alpha2.ReasonManualRestartRequired, N: v1alpha2.ReasonNativeSidecarsSupported, F: v1alpha2.ReasonIngressTargetingUserResourceFound}, time.Minute},
		{"rollouts in progress", passOutcome{decision: &d, installed: true, restart: &rolling, ingressChecked: true},
			v1alpha2.StateProcessing, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileRequeued, I: v1alpha2.ReasonInstallSucceeded,
				P: v1alpha2.ReasonRestartInProgress, N: v1alpha2.ReasonNativeSidecarsSupported, F: v1alpha2.ReasonIngressTargetingUserResourceNotFound}, time.Second},
		{"control plane not ready: nothing restarted in this pass", passOutcome{decision: &d, installed: true, controlPlaneNotReady: true, waitingFor: "istiod runs image x"},
			v1alpha2.StateProcessing, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonControlPlaneNotReady, I: v1alpha2.ReasonInstallSucceeded,
				N: v1alpha2.ReasonNativeSidecarsSupported}, time.Second},
		{"install fails: stopped early, no restart condition of an earlier pass", passOutcome{decision: &d}.failed(stepInstall, transient),
			v1alpha2.StateProcessing, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonInstallUninstallFailed, I: v1alpha2.ReasonInstallFailed,
				N: v1alpha2.ReasonNativeSidecarsSupported}, 0},
		{"install refused by the API server", passOutcome{decision: &d}.failed(stepInstall, forbidden),
			v1alpha2.StateError, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonInstallUninstallFailed, I: v1alpha2.ReasonInstallFailed,
				N: v1alpha2.ReasonNativeSidecarsSupported}, 0},
		{"transient install error lasting longer than ErrorAfter", func() passOutcome {
			o := passOutcome{decision: &d}.failed(stepInstall, transient)
			o.failingFor = 6 * time.Minute
			return o
		}(), v1alpha2.StateError, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonInstallUninstallFailed, I: v1alpha2.ReasonInstallFailed,
			N: v1alpha2.ReasonNativeSidecarsSupported}, 0},
		{"restarter fails", passOutcome{decision: &d, installed: true}.failed(stepRestart, transient),
			v1alpha2.StateProcessing, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileFailed, I: v1alpha2.ReasonInstallSucceeded,
				P: v1alpha2.ReasonRestartFailed, N: v1alpha2.ReasonNativeSidecarsSupported}, 0},
		{"EnvoyFilters cannot be read", passOutcome{decision: &d, installed: true, restart: &converged}.failed(stepIngressFilters, transient),
			v1alpha2.StateProcessing, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileFailed, I: v1alpha2.ReasonInstallSucceeded,
				P: v1alpha2.ReasonRestartSucceeded, N: v1alpha2.ReasonNativeSidecarsSupported, F: v1alpha2.ReasonIngressTargetingUserResourceDetectionFailed}, 0},
		{"version update refused", passOutcome{decision: &d, refused: refused},
			v1alpha2.StateWarning, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonVersionUpdateNotAllowed, N: v1alpha2.ReasonNativeSidecarsSupported}, 0},
		{"ambient requested", passOutcome{}.failed(stepValidate, &userError{errAmbientUnsupported}),
			v1alpha2.StateError, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonValidationFailed}, 0},
		{"installed version unreadable", passOutcome{decision: &d}.failed(stepReadInstalled, transient),
			v1alpha2.StateProcessing, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileFailed, N: v1alpha2.ReasonNativeSidecarsSupported}, 0},
		{"an older CR is in charge", passOutcome{olderInCharge: "kyma-system/default"},
			v1alpha2.StateWarning, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonOlderCRExists}, time.Minute},
		{"uninstalling", passOutcome{deleting: true},
			v1alpha2.StateDeleting, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonReconcileRequeued}, time.Second},
		{"uninstall blocked by user resources", passOutcome{deleting: true, dangling: &install.DanglingResourcesError{Count: 1, Names: []string{"VirtualService apps/reviews"}}},
			v1alpha2.StateWarning, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonDanglingUserResources}, time.Minute},
		{"uninstall fails, even transiently", passOutcome{deleting: true}.failed(stepUninstall, transient),
			v1alpha2.StateError, map[string]v1alpha2.ConditionReason{R: v1alpha2.ReasonInstallUninstallFailed, I: v1alpha2.ReasonUninstallFailed}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			r := &IstioReconciler{ResyncPeriod: time.Hour, ProgressRequeue: time.Second, WarningRequeue: time.Minute, ErrorAfter: 5 * time.Minute}
			v := r.statusOf(tc.outcome)
			g.Expect(v.state).To(Equal(tc.state), "description: %s", v.description)
			g.Expect(v.requeue).To(Equal(tc.requeue))
			got := map[string]v1alpha2.ConditionReason{}
			for _, c := range append(v.conditions, reasonMessage{v.ready, v.description}) {
				info, ok := v1alpha2.ReasonInfoFor(c.reason)
				g.Expect(ok).To(BeTrue(), "reason %s", c.reason)
				g.Expect(got).NotTo(HaveKey(info.Type), "one reason per condition type")
				got[info.Type] = c.reason
			}
			g.Expect(got).To(Equal(tc.conditions))
			if tc.outcome.err != nil {
				g.Expect(v.description).To(ContainSubstring(capitalize(tc.outcome.err.Error())), "the error is in the status")
			}
		})
	}
}

// A pass that stops early leaves no condition of the last pass: after a
// converged pass, a failed install removes the restart and ingress
// conditions, and keeps the records of what was installed and restarted.
func TestSetStatusRemovesWhatThePassDidNotReach(t *testing.T) {
	g := NewWithT(t)
	r := &IstioReconciler{ResyncPeriod: time.Hour, ProgressRequeue: time.Second, WarningRequeue: time.Minute}
	istio := &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	d := sidecarmode.Decision{IstioVersion: "1.30.2", DefaultType: sidecarmode.Native}
	s := restarter.Summary{PodsScanned: 2}
	r.setStatus(istio, passOutcome{decision: &d, installed: true, restart: &s, ingressChecked: true})
	g.Expect(istio.Status.Conditions).To(HaveLen(5))
	g.Expect(istio.Status.State).To(Equal(v1alpha2.StateReady))

	istio.Generation = 2
	next := sidecarmode.Decision{IstioVersion: "1.31.0", DefaultType: sidecarmode.Native}
	r.setStatus(istio, passOutcome{decision: &next}.failed(stepInstall, apierrors.NewBadRequest("admission webhook denied the request")))
	g.Expect(istio.Status.State).To(Equal(v1alpha2.StateError))
	g.Expect(istio.Condition(v1alpha2.ConditionTypeProxySidecarRestartSucceeded)).To(BeNil())
	g.Expect(istio.Condition(v1alpha2.ConditionTypeIngressTargetingUserResourceFound)).To(BeNil())
	g.Expect(istio.Condition(v1alpha2.ConditionTypeInstalled).Reason).To(Equal(string(v1alpha2.ReasonInstallFailed)))
	g.Expect(istio.Condition(v1alpha2.ConditionTypeReady).ObservedGeneration).To(Equal(int64(2)))
	g.Expect(istio.Status.ObservedGeneration).To(Equal(int64(2)))
	g.Expect(istio.Status.Description).To(Equal("Admission webhook denied the request"))
	g.Expect(istio.Status.IstioVersion).To(Equal("1.30.2"), "what runs, not what failed to install")
	g.Expect(istio.Status.ProxyRestart.PodsScanned).To(BeEquivalentTo(2))
}
