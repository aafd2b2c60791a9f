package restarter

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

func TestClassify(t *testing.T) {
	d := decision(t, "1.30.0", false) // 1.30.2/native
	marked := annotated(RestartAnnotation, d.Target())
	tests := []struct {
		name    string
		pod     *corev1.Pod
		skip    string
		reasons []string
		marked  bool
		watch   bool
	}{
		{name: "fresh native", pod: testPod("a", "p", "native", "1.30.2")},
		{name: "fresh native distroless", pod: testPod("a", "p", "native", "1.30.2-distroless")},
		{name: "old version", pod: testPod("a", "p", "native", "1.27.3"), reasons: []string{"1.27.3, expected 1.30.2"}},
		{name: "regular, expected native", pod: testPod("a", "p", "regular", "1.30.2"), reasons: []string{"regular, expected native"}},
		{
			name: "regular and old", pod: testPod("a", "p", "regular", "1.27.3"),
			reasons: []string{"regular, expected native", "1.27.3, expected 1.30.2"},
		},
		{
			name: "regular by annotation",
			pod:  testPod("a", "p", "regular", "1.30.2", annotated(sidecarmode.AnnotationNativeSidecar, "false")),
		},
		{
			name: "init container that is no sidecar", pod: testPod("a", "p", "init", "1.30.2"),
			reasons: []string{"init container without restartPolicy Always, expected native"},
		},
		{name: "no proxy", pod: testPod("a", "p", "", ""), skip: skipNoProxy},
		{name: "gateway", pod: testPod("a", "p", "gateway", "1.27.3"), skip: skipGateway},
		{name: "control plane", pod: testPod("istio-system", "p", "regular", "1.27.3"), skip: skipControlPlane},
		{name: "terminating stale", pod: testPod("a", "p", "native", "1.27.3", terminating()), skip: skipTerminating, watch: true},
		{name: "terminating fresh", pod: testPod("a", "p", "native", "1.30.2", terminating()), skip: skipTerminating},
		{name: "pending", pod: testPod("a", "p", "native", "1.27.3", phase(corev1.PodPending)), skip: skipNotRunning},
		{
			name: "pending, created by a restart", pod: testPod("a", "p", "native", "1.30.2", phase(corev1.PodPending), marked),
			skip: skipNotRunning, marked: true, watch: true,
		},
		{name: "succeeded", pod: testPod("a", "p", "native", "1.27.3", phase(corev1.PodSucceeded)), skip: skipNotRunning},
		{
			name: "running, created by a restart, not ready", pod: testPod("a", "p", "native", "1.30.2", marked, notReady()),
			marked: true, watch: true,
		},
		{name: "running, created by a restart, ready", pod: testPod("a", "p", "native", "1.30.2", marked), marked: true},
		{
			name: "marked for another target", pod: testPod("a", "p", "native", "1.27.3", annotated(RestartAnnotation, "1.27.3/native")),
			reasons: []string{"1.27.3, expected 1.30.2"},
		},
		{
			name: "stale although created by the restart", pod: testPod("a", "p", "regular", "1.30.2", marked),
			reasons: []string{"regular, expected native"}, marked: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			c := classify(tt.pod, d, "istio-system")
			g.Expect(c.skip).To(Equal(tt.skip))
			var reasons []string
			for _, r := range c.reasons {
				reasons = append(reasons, r.Message)
			}
			g.Expect(reasons).To(Equal(tt.reasons))
			g.Expect(c.marked).To(Equal(tt.marked))
			g.Expect(c.watch).To(Equal(tt.watch))
		})
	}
}

func TestScanAggregatesPerOwnerWithoutPods(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	rs := ownedBy("apps/v1", "ReplicaSet", "web-1")
	pods := []*corev1.Pod{
		testPod("a", "web-1-c", "native", "1.27.3", rs),
		testPod("a", "web-1-b", "regular", "1.27.3", rs, annotated(sidecarmode.AnnotationNativeSidecar, "false")),
		testPod("a", "web-1-a", "native", "1.30.2", rs),                                            // fresh
		testPod("a", "web-1-d", "native", "1.27.3", rs, terminating()),                             // leaving
		testPod("a", "web-1-e", "regular", "1.30.2", rs, annotated(RestartAnnotation, d.Target())), // stale after restart
		testPod("a", "bare", "regular", "1.30.2", annotated(OptOutAnnotation, OptOutDisabled)),
		testPod("b", "gw", "gateway", "1.27.3"),
		testPod("b", "plain", "", ""),
	}
	s := newScanResult()
	for _, p := range pods {
		s.add(p, d, "istio-system")
	}
	g.Expect(s.listed).To(Equal(8))
	g.Expect(s.scanned).To(Equal(5))
	g.Expect(s.stale).To(Equal(4))
	g.Expect(s.staleByReason).To(Equal(map[sidecarmode.ReasonKind]int{
		sidecarmode.ReasonWrongVersion: 2, sidecarmode.ReasonWrongType: 2,
	}))
	g.Expect(s.groups).To(HaveLen(2))

	web := s.groups[workload.Owner{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "a", Name: "web-1", UID: "a/web-1"}]
	g.Expect(web).NotTo(BeNil())
	g.Expect(web.stale).To(Equal(3))
	g.Expect(web.staleAfterRestart).To(Equal(1))
	g.Expect(web.watch).To(BeTrue())
	g.Expect(web.evict).To(Equal(&podRef{Name: "web-1-b", UID: "a/web-1-b"}))
	g.Expect(web.reasons.sorted()).To(Equal([]string{"1.27.3, expected 1.30.2", "regular, expected native"}))
	g.Expect(web.layouts.sorted()).To(Equal([]sidecarmode.Layout{sidecarmode.LayoutNative, sidecarmode.LayoutRegular}))
	g.Expect(web.versions.sorted()).To(Equal([]string{"1.27.3", "1.30.2"}))

	bare := s.groups[workload.Owner{APIVersion: "v1", Kind: "Pod", Namespace: "a", Name: "bare", UID: "a/bare"}]
	g.Expect(bare).NotTo(BeNil())
	g.Expect(bare.optedOut).To(BeTrue())
}
