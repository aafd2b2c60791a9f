package restarter

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// TestStaleRules names the rule that decides each case of a workload with
// stale pods: the first in staleRules that applies.
func TestStaleRules(t *testing.T) {
	ref := WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "a", Name: "web"}
	next := &podRef{Name: "web-0"}
	rollout := func(marker string, settled bool) *workload.Facts {
		return &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Marker: marker, Settled: settled, Strategy: "RollingUpdate"}
	}
	evict := func(marker string, settled bool) *workload.Facts {
		return &workload.Facts{Ref: ref, Mode: workload.ModeEvict, Marker: marker, Settled: settled, Strategy: "OnDelete", Desired: 1}
	}
	answer := &sidecarmode.Proxy{Layout: sidecarmode.LayoutRegular, Version: "1.27.3"}
	tests := []struct {
		e    entry
		rule string
	}{
		{entry{w: rollout("", true), nsErr: errors.New("boom"), nsOptedOut: true}, "namespace unreadable"},
		{entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeManual, OptedOut: true}, nsOptedOut: true}, "namespace opted out"},
		{entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeManual, OptedOut: true}}, "workload opted out"},
		{entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeUnresolved}}, "owner unresolved"},
		{entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeManual}}, "kind restarted by hand"},
		{entry{w: rollout(target, false), timedOut: true}, "our restart timed out"},
		{entry{w: rollout(target, false)}, "our rollout"},
		{entry{w: rollout(target, true), staleAfterRestart: 1}, "our rollout"},
		{entry{w: evict(target, false), evict: next}, "our eviction"},
		{entry{w: rollout("", true), restartedBefore: true, evict: next}, "marker reverted"},
		{entry{w: &workload.Facts{Ref: ref, Mode: workload.ModeRollout, Recorded: target, Settled: true}, evict: next}, "marker reverted"},
		{entry{w: rollout("", true)}, "stale pods all from a restart"},
		{entry{w: rollout("", true), evict: next, answer: answer}, "injector gives the same proxy"},
		{entry{w: rollout("", true), evict: next}, "roll out"},
		{entry{w: evict("", true), evict: next, ready: 1}, "evict"},
		{entry{w: evict("", false), evict: next}, "evict"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			g := NewWithT(t)
			e := tt.e
			e.stale = 1
			e.reasons.add("regular, expected native")
			e.layouts.add(answer.Layout)
			e.versions.add(answer.Version)
			s := situationOf(&e, target)
			decidedBy := ""
			for _, r := range staleRules {
				if _, ok := r.rule(&s); ok {
					decidedBy = r.name
					break
				}
			}
			g.Expect(decidedBy).To(Equal(tt.rule))
		})
	}
}
