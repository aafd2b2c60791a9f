package main

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// convergedSnapshot is the demo as it ends: every restartable workload's
// pods at the target with the expected type, the Job and the Pod reported.
func convergedSnapshot(t *testing.T) *snapshot {
	d, err := sidecarmode.Decide("1.30.0", false, sidecarmode.ClusterFacts{MinKubeletVersion: "v1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshot{
		decision:          d,
		controlPlaneReady: true,
		pods:              map[string][]podProxy{},
		istio: &v1alpha2.Istio{
			ObjectMeta: metav1.ObjectMeta{Generation: 1},
			Status: v1alpha2.IstioStatus{
				State: v1alpha2.StateWarning, ObservedGeneration: 1,
				IstioVersion: d.IstioVersion, SidecarType: string(d.DefaultType),
				ProxyRestart: &v1alpha2.ProxyRestartStatus{
					ManualRestart:          2,
					ManualRestartWorkloads: []string{"Job demo/batch", "Pod demo/lonely"},
				},
			},
		},
	}
	for _, w := range demoWorkloads {
		want := sidecarmode.ExpectedType(w.annotations, d)
		for range w.replicas {
			version := d.IstioVersion
			if !w.restartable() {
				version = "1.27.3"
			}
			s.pods[w.ref()] = append(s.pods[w.ref()], podProxy{
				name: w.name, running: true, want: want,
				proxy: sidecarmode.Proxy{Layout: sidecarmode.Layout(want), Version: version},
			})
		}
	}
	return s
}

func TestPending(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *snapshot)
		want   string // a substring of one entry; "" means converged
	}{
		{name: "converged", change: func(*snapshot) {}},
		{name: "Ready once the Job and the Pod were replaced is not the demo's end", want: "manual restart",
			change: func(s *snapshot) {
				s.istio.Status.State = v1alpha2.StateReady
				s.istio.Status.ProxyRestart = &v1alpha2.ProxyRestartStatus{}
			}},
		{name: "CR still processing", want: `"Processing"`,
			change: func(s *snapshot) { s.istio.Status.State = v1alpha2.StateProcessing }},
		{name: "status of an older generation", want: "generation 1, not 2",
			change: func(s *snapshot) { s.istio.Generation = 2 }},
		{name: "control plane not upgraded yet", want: "control plane",
			change: func(s *snapshot) { s.controlPlaneReady = false }},
		{name: "rollout pending", want: "1 pending",
			change: func(s *snapshot) { s.istio.Status.ProxyRestart.Pending = 1 }},
		{name: "a pod at the old version", want: "Deployment demo/regular-proxy: 1 of 2 pods",
			change: func(s *snapshot) { s.pods["Deployment demo/regular-proxy"][0].proxy.Version = "1.27.3" }},
		{name: "a pod of the wrong type", want: "StatefulSet demo/db: 1 of 2 pods",
			change: func(s *snapshot) { s.pods["StatefulSet demo/db"][1].proxy.Layout = sidecarmode.LayoutRegular }},
		{name: "an old pod still running beside the new ones", want: "Deployment demo/stays-regular",
			change: func(s *snapshot) {
				pods := s.pods["Deployment demo/stays-regular"]
				s.pods["Deployment demo/stays-regular"] = append(pods, pods[0])
			}},
		{name: "the bare Pod not reported", want: "expected Job demo/batch, Pod demo/lonely",
			change: func(s *snapshot) {
				s.istio.Status.ProxyRestart.ManualRestart = 1
				s.istio.Status.ProxyRestart.ManualRestartWorkloads = []string{"Job demo/batch"}
			}},
		{name: "no CR", want: "does not exist",
			change: func(s *snapshot) { s.istio = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			s := convergedSnapshot(t)
			tt.change(s)
			got := pending(s)
			if tt.want == "" {
				g.Expect(got).To(BeEmpty())
				return
			}
			g.Expect(got).To(ContainElement(ContainSubstring(tt.want)))
		})
	}
}

func TestDescribeProxies(t *testing.T) {
	g := NewWithT(t)
	native := podProxy{running: true, proxy: sidecarmode.Proxy{Layout: sidecarmode.LayoutNative, Version: "1.30.2"}}
	regular := podProxy{running: true, proxy: sidecarmode.Proxy{Layout: sidecarmode.LayoutRegular, Version: "1.27.3"}}
	g.Expect(describeProxies(nil)).To(Equal("no pods"))
	g.Expect(describeProxies([]podProxy{native})).To(Equal("1 pod: native 1.30.2"))
	g.Expect(describeProxies([]podProxy{native, regular})).To(Equal("2 pods: 1 native 1.30.2, 1 regular 1.27.3"))
}
