package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/api/v1alpha2"
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

	res := r.restartOutcome(istio, d, s)
	g.Expect(res.RequeueAfter).To(Equal(time.Hour))
	g.Expect(istio.Status.State).To(Equal(v1alpha2.StateReady))
	g.Expect(istio.Status.ProxyRestart.SameProxy).To(BeEquivalentTo(1))
	g.Expect(istio.Status.ProxyRestart.SameProxyWorkloads).To(Equal([]string{"Deployment shop/grpc"}))
	g.Expect(istio.Status.Description).To(HaveSuffix("; 1 workload(s) keep a stale istio-proxy that a restart would not change " +
		"(the injector gives their new pods the same proxy): Deployment shop/grpc"))
}
