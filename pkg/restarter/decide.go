package restarter

import (
	"fmt"
	"strings"
	"time"

	"github.com/istio-module/operator/pkg/workload"
)

// The restarter's decision table, one workload at a time: pure rules over
// what the plan gathered (entry) and what the Restarter remembers, in the
// order they are tried. The first rule that applies decides.

// situation is what the rules read about one workload, computed once.
type situation struct {
	e      *entry
	w      *workload.Facts
	target string
	// wp is the plan entry as far as the pods tell it (layouts, versions,
	// reasons), before any rule decided.
	wp WorkloadPlan
	// ours: the workload carries the marker of a restart for target.
	ours bool
	// settled and progress judge its rollout (progressOf).
	settled  bool
	progress string
	// stale is "2 stale pods (reasons)", "" without stale pods.
	stale string
}

// verdict is what a rule decides.
type verdict struct {
	action Action
	why    string
	// inProgress: the workload holds a rollout slot.
	inProgress bool
}

// rule decides one case of the table; ok is false when the case does not
// apply.
type rule func(s *situation) (v verdict, ok bool)

// staleRules decide for a workload with stale pods, in order.
var staleRules = []struct {
	name string
	rule rule
}{
	{"namespace unreadable", namespaceUnreadable},
	{"namespace opted out", namespaceOptedOut},
	{"workload opted out", workloadOptedOut},
	{"owner unresolved", ownerUnresolved},
	{"kind restarted by hand", restartedByHand},
	{"our restart timed out", restartTimedOut},
	{"our rollout", ourRollout},
	{"our eviction", ourEviction},
	{"marker reverted", markerReverted},
	{"stale pods all from a restart", staleAfterRestartOnly},
	{"injector gives the same proxy", injectorGivesSameProxy},
	{"roll out", rollOut},
	{"evict", evictOneByOne},
}

// decide is the restarter's decision for one workload, before pacing. ok
// is false when the workload needs nothing.
func decide(e *entry, target string) (wp WorkloadPlan, ok bool) {
	s := situationOf(e, target)
	var v verdict
	if e.stale == 0 {
		if v, ok = restartWithoutStalePods(&s); !ok {
			return s.wp, false
		}
	} else {
		for _, r := range staleRules {
			if v, ok = r.rule(&s); ok {
				break
			}
		}
	}
	wp = s.wp
	wp.Action, wp.Why, wp.inProgress = v.action, v.why, v.inProgress
	return wp, true
}

func situationOf(e *entry, target string) situation {
	w := e.w
	s := situation{e: e, w: w, target: target, ours: isOurs(w, target)}
	if e.stale > 0 {
		s.stale = staleSummary(e)
	}
	s.settled, s.progress = progressOf(e)
	s.wp = WorkloadPlan{
		Workload:          w.Ref,
		Layouts:           e.layouts.sorted(),
		SettingsStale:     e.settingsStale,
		ProxyVersions:     e.versions.sorted(),
		StalePods:         e.stale,
		StaleAfterRestart: e.staleAfterRestart,
		Reasons:           e.reasons.sorted(),
		RestartedFor:      w.Marker,
		Strategy:          w.Strategy,
		w:                 w,
		evict:             e.evict,
		confirmed:         e.confirmed,
	}
	return s
}

// isOurs reports whether w carries the marker of a restart for target by this
// operator (and is a kind the restarter restarts).
func isOurs(w *workload.Facts, target string) bool {
	return w.Mode.Restartable() && w.Marker == target
}

// progressOf judges whether a workload's pod replacement has settled,
// combining its status with the pods just listed, and says what it waits
// for. Status and list are read at different moments, so either can lag:
//
//   - evictions: settled only when the status says all pods are up and the
//     list holds as many Running, Ready pods as the workload wants;
//   - rollouts: a rollout the status calls finished, with old (unmarked)
//     stale pods still listed and nothing that explains them (a failure, a
//     partition, or stale pods created by the restart), is still on its way:
//     those pods were listed just before they left.
func progressOf(e *entry) (settled bool, progress string) {
	w := e.w
	settled, progress = w.Settled, w.Progress
	switch {
	case w.Mode == workload.ModeEvict && settled && e.ready < w.Desired:
		return false, fmt.Sprintf("%d of %d pods running and ready", e.ready, w.Desired)
	case w.Mode == workload.ModeRollout && settled && !w.Failed && w.Keeps == "" && e.staleAfterRestart == 0 && e.stale > 0:
		return false, "the rollout finished; its old pods are being replaced"
	}
	return settled, progress
}

// restartWithoutStalePods: only a restart of ours that has not settled, or
// one to report, is worth a line.
func restartWithoutStalePods(s *situation) (verdict, bool) {
	if !s.ours || (s.settled && !s.e.confirmed) || s.e.timedOut {
		return verdict{}, false
	}
	v := verdict{action: ActionPending, inProgress: !s.settled}
	switch {
	case s.settled:
		v.why = fmt.Sprintf("restarted for %s; done", s.target)
	case s.w.Mode == workload.ModeEvict:
		v.why = fmt.Sprintf("restarted for %s; waiting for the recreated pods: %s", s.target, s.progress)
	default:
		v.why = fmt.Sprintf("restarted for %s; waiting for the rollout: %s", s.target, s.progress)
	}
	return v, true
}

func namespaceUnreadable(s *situation) (verdict, bool) {
	if s.e.nsErr == nil {
		return verdict{}, false
	}
	return verdict{action: ActionPending, why: fmt.Sprintf(
		"%s; could not read namespace %s to check its opt-out (%v); trying again on the next run",
		s.stale, s.w.Ref.Namespace, s.e.nsErr)}, true
}

func namespaceOptedOut(s *situation) (verdict, bool) {
	if !s.e.nsOptedOut {
		return verdict{}, false
	}
	return verdict{action: ActionOptedOut, why: fmt.Sprintf("%s; namespace %s is annotated %s=%s, so the restarter leaves it alone",
		s.stale, s.w.Ref.Namespace, OptOutAnnotation, OptOutDisabled)}, true
}

func workloadOptedOut(s *situation) (verdict, bool) {
	if !s.w.OptedOut {
		return verdict{}, false
	}
	return verdict{action: ActionOptedOut, why: fmt.Sprintf("%s; the %s is annotated %s=%s, so the restarter leaves it alone",
		s.stale, s.w.Ref.Kind, OptOutAnnotation, OptOutDisabled)}, true
}

// ownerUnresolved: the owner is gone or could not be read; the next run
// looks again.
func ownerUnresolved(s *situation) (verdict, bool) {
	if s.w.Mode != workload.ModeUnresolved {
		return verdict{}, false
	}
	return verdict{action: ActionPending, why: s.w.Why}, true
}

func restartedByHand(s *situation) (verdict, bool) {
	if s.w.Mode != workload.ModeManual {
		return verdict{}, false
	}
	return verdict{action: ActionManual, why: fmt.Sprintf("manual restart required: %s; it is %s", s.stale, s.w.Why)}, true
}

// restartTimedOut: a restart of ours unsettled for longer than the rollout
// timeout releases its slot.
func restartTimedOut(s *situation) (verdict, bool) {
	if !s.ours || s.settled || !s.e.timedOut {
		return verdict{}, false
	}
	return verdict{action: ActionNotConverging, why: fmt.Sprintf(
		"restarted for %s, but after %s it has still not settled (%s) and %s; not restarting it again",
		s.target, s.e.waited.Round(time.Second), s.progress, s.stale)}, true
}

// ourRollout: a rollout for the target is under way, or done with stale
// pods left.
func ourRollout(s *situation) (verdict, bool) {
	if !s.ours || s.w.Mode != workload.ModeRollout {
		return verdict{}, false
	}
	v := verdict{action: ActionNotConverging}
	switch {
	case !s.settled:
		v = verdict{action: ActionPending, inProgress: true,
			why: fmt.Sprintf("restarted for %s; waiting for the rollout: %s", s.target, s.progress)}
	case s.w.Failed:
		v.why = fmt.Sprintf("restarted for %s, but %s; %s; not restarting it again", s.target, s.progress, s.stale)
	case s.e.staleAfterRestart > 0:
		v.why = fmt.Sprintf("restarted for %s and the rollout finished, but %s, %d of them created by the restart: "+
			"the injector does not inject what the operator expects; not restarting it again", s.target, s.stale, s.e.staleAfterRestart)
	default:
		v.why = fmt.Sprintf("restarted for %s and the rollout finished, but %s: %s; not restarting it again",
			s.target, s.stale, s.w.Keeps)
	}
	return v, true
}

// ourEviction: the stale pods of a workload marked for the target are being
// evicted one at a time.
func ourEviction(s *situation) (verdict, bool) {
	if !s.ours || s.w.Mode != workload.ModeEvict {
		return verdict{}, false
	}
	switch {
	case s.e.staleAfterRestart > 0 && s.settled:
		return verdict{action: ActionNotConverging, why: fmt.Sprintf(
			"restarted for %s, but %d pods recreated since are still stale (%s): the injector "+
				"does not inject what the operator expects; not evicting any more",
			s.target, s.e.staleAfterRestart, strings.Join(s.wp.Reasons, "; "))}, true
	case !s.settled:
		return verdict{action: ActionPending, inProgress: true, why: fmt.Sprintf(
			"restarted for %s; waiting for the recreated pods before the next eviction: %s", s.target, s.progress)}, true
	}
	return verdict{action: ActionEvict, inProgress: true, why: fmt.Sprintf(
		"restarted for %s; %d stale pods left, evicting %s next", s.target, s.e.stale, s.e.evict.Name)}, true
}

// markerReverted: restarted for the target before (this Restarter remembers
// it, or the workload's own annotation says so), but the template lost the
// marker: something (a GitOps tool?) reverted it. Restarting again could
// fight it forever.
func markerReverted(s *situation) (verdict, bool) {
	if !s.w.Mode.Restartable() || !(s.e.restartedBefore || s.w.Recorded == s.target) {
		return verdict{}, false
	}
	return verdict{action: ActionNotConverging, why: fmt.Sprintf(
		"restarted for %s before (the %s carries %s=%s), but its pod template no longer carries it "+
			"(reverted by another tool?) and %s; not restarting it again",
		s.target, s.w.Ref.Kind, RestartAnnotation, s.target, s.stale)}, true
}

// staleAfterRestartOnly: every stale pod was created from a template marked
// for the target, which no longer carries the marker.
func staleAfterRestartOnly(s *situation) (verdict, bool) {
	if !s.w.Mode.Restartable() || s.e.evict != nil {
		return verdict{}, false
	}
	return verdict{action: ActionNotConverging, why: fmt.Sprintf(
		"%s, all created after a restart for %s; not restarting it again", s.stale, s.target)}, true
}

// injectorGivesSameProxy: the injector was asked before and vetoed; asking
// again in every run would hold a rollout slot for nothing.
func injectorGivesSameProxy(s *situation) (verdict, bool) {
	if !s.w.Mode.Restartable() || s.e.answer == nil || !sameProxy(&s.wp, *s.e.answer) {
		return verdict{}, false
	}
	return verdict{action: ActionSameProxy, why: sameProxyWhy(s.stale, *s.e.answer)}, true
}

func rollOut(s *situation) (verdict, bool) {
	if s.w.Mode != workload.ModeRollout {
		return verdict{}, false
	}
	return verdict{action: ActionRolloutRestart, why: fmt.Sprintf(
		"%s; roll it out by setting the pod-template annotation %s=%s", s.stale, RestartAnnotation, s.target)}, true
}

// evictOneByOne: a template change replaces no pod, so the stale pods are
// evicted, once all the workload's pods are ready.
func evictOneByOne(s *situation) (verdict, bool) {
	if s.w.Mode != workload.ModeEvict {
		return verdict{}, false
	}
	how := fmt.Sprintf("its update strategy is %s, so a template change replaces no pod", s.w.Strategy)
	if s.w.Strategy == workload.StrategyNoOwner {
		how = fmt.Sprintf("a %s without an owner keeps its pods on a template change", s.w.Ref.Kind)
	}
	if !s.settled {
		return verdict{action: ActionPending, why: fmt.Sprintf(
			"%s; %s; waiting for all its pods to be ready before evicting: %s", s.stale, how, s.progress)}, true
	}
	return verdict{action: ActionEvict, why: fmt.Sprintf(
		"%s; %s: evict the stale pods one at a time, starting with %s", s.stale, how, s.e.evict.Name)}, true
}

// pace keeps at most MaxConcurrentRollouts restarts in progress: restarts
// started earlier that have not settled hold their slots; new restarts take
// the free ones in plan order, the rest wait.
func pace(plan *Plan) {
	for _, wp := range plan.Workloads {
		if wp.inProgress {
			plan.RolloutsInProgress++
		}
	}
	free := plan.MaxConcurrentRollouts - plan.RolloutsInProgress
	for i := range plan.Workloads {
		wp := &plan.Workloads[i]
		if wp.inProgress || (wp.Action != ActionRolloutRestart && wp.Action != ActionEvict) {
			continue
		}
		if free > 0 {
			free--
			continue
		}
		wp.Action = ActionPending
		wp.Why = fmt.Sprintf("%s; waiting for a free rollout slot (%d of %d in use)",
			staleSummaryOf(wp), plan.MaxConcurrentRollouts, plan.MaxConcurrentRollouts)
	}
}

// staleSummary is "2 stale pods (1.27.3, expected 1.30.2; regular, expected native)".
func staleSummary(e *entry) string {
	return stalePhrase(e.stale, e.reasons.sorted())
}

func staleSummaryOf(wp *WorkloadPlan) string { return stalePhrase(wp.StalePods, wp.Reasons) }

func stalePhrase(n int, reasons []string) string {
	pods := "pods"
	if n == 1 {
		pods = "pod"
	}
	return fmt.Sprintf("%d stale %s (%s)", n, pods, strings.Join(reasons, "; "))
}
