package restarter

import (
	"fmt"
	"strings"

	"github.com/istio-module/operator/internal/shortlist"
)

// Category counts workloads in one state and names a few of them.
type Category struct {
	Count int
	// Names lists up to five workloads as "Kind namespace/name", in plan
	// order (namespace, kind, name), followed by "and N more" when Count is
	// larger.
	Names []string
}

func categoryOf(l shortlist.List) Category { return Category{Count: l.Count, Names: l.Names()} }

// String is "2: Deployment a/b, StatefulSet a/c" or "0".
func (c Category) String() string {
	if c.Count == 0 {
		return "0"
	}
	return fmt.Sprintf("%d: %s", c.Count, strings.Join(c.Names, ", "))
}

// Summary is the outcome of one Run, typed for the Istio CR's status.
type Summary struct {
	// Target is the Decision.Target() the run checked against.
	Target string
	// PodsScanned counts the Running pods with a proxy that were checked;
	// StalePods those whose proxy does not match the target.
	PodsScanned, StalePods int
	// Restarted: workloads whose restart for the target began in this run
	// (pod template patched, or first pod evicted). In a dry run: the ones
	// that would be restarted now.
	Restarted Category
	// Pending: restarts in progress, workloads waiting for a rollout slot or
	// for their pods to be ready, evictions blocked by a
	// PodDisruptionBudget, conflicts to retry.
	Pending Category
	// ManualRestart: stale workloads the restarter does not restart (paused
	// Deployment, Job, CronJob, bare Pod, other owner kinds).
	ManualRestart Category
	// NotConverging: workloads restarted once for the target whose pods are
	// still stale after the restart settled.
	NotConverging Category
	// OptedOut: stale workloads that opted out by annotation (their own or
	// their namespace's).
	OptedOut Category
	// SameProxy: stale workloads not restarted because the injector gives
	// a new pod the proxy their pods already have (a dry run asked it).
	SameProxy Category
	// InProgress: rollouts are in progress or paced work is left; the caller
	// should run again soon (seconds), not only on its periodic resync.
	InProgress bool
	// Errors are the messages of the first errors that concerned single
	// workloads in this run (an owner or namespace that could not be read, a
	// write that failed); ErrorCount counts them all. Those workloads are
	// Pending and tried again on the next run; the others went ahead.
	Errors     []string
	ErrorCount int
}

// String is a one-line account for logs and status messages.
func (s Summary) String() string {
	parts := []string{fmt.Sprintf("%d of %d pods have a stale istio-proxy for %s", s.StalePods, s.PodsScanned, s.Target)}
	for _, c := range []struct {
		name string
		cat  Category
	}{
		{"restarted", s.Restarted}, {"pending", s.Pending}, {"manual restart required", s.ManualRestart},
		{"not converging", s.NotConverging}, {"opted out", s.OptedOut},
		{"not restarted, the injector gives the same proxy", s.SameProxy},
	} {
		if c.cat.Count > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", c.name, c.cat))
		}
	}
	return strings.Join(parts, "; ")
}

// summarize sorts the plan's workloads into the Summary's categories, with
// what acting did (outcomes is nil for a dry run). The plan is left as it
// was made.
func summarize(plan *Plan, outcomes []outcome) Summary {
	var lists [numCategories]shortlist.List
	for i := range plan.Workloads {
		wp := &plan.Workloads[i]
		var o outcome
		if outcomes != nil {
			o = outcomes[i]
		}
		if c := categorize(wp, o, outcomes == nil, plan.Target); c != noCategory {
			lists[c].Add(wp.Workload.String())
		}
	}
	s := Summary{Target: plan.Target, PodsScanned: plan.PodsScanned, StalePods: plan.StalePods,
		Restarted: categoryOf(lists[restarted]), Pending: categoryOf(lists[pending]),
		ManualRestart: categoryOf(lists[manualRestart]), NotConverging: categoryOf(lists[notConverging]),
		OptedOut: categoryOf(lists[optedOut]), SameProxy: categoryOf(lists[sameProxyCategory])}
	s.InProgress = s.Restarted.Count > 0 || s.Pending.Count > 0
	return s
}

// category is one of the Summary's categories.
type category int

const (
	noCategory category = iota - 1
	restarted
	pending
	manualRestart
	notConverging
	optedOut
	sameProxyCategory
	numCategories
)

// categorize is the Summary category of a workload whose plan entry is wp,
// given what acting on it did (o; zero when it was not reached, or in a dry
// run).
func categorize(wp *WorkloadPlan, o outcome, dryRun bool, target string) category {
	switch {
	case o.started:
		return restarted
	case o.pending != "" || o.err != nil:
		return pending
	}
	switch action, _ := actedOn(wp, o); action {
	case ActionRolloutRestart:
		if dryRun {
			return restarted
		}
		// Not reached: the run stopped before acting on it.
		return pending
	case ActionEvict:
		if dryRun && wp.RestartedFor != target {
			return restarted
		}
		return pending
	case ActionPending:
		return pending
	case ActionManual:
		return manualRestart
	case ActionNotConverging:
		return notConverging
	case ActionOptedOut:
		return optedOut
	case ActionSameProxy:
		return sameProxyCategory
	}
	return noCategory
}

// actedOn is the action and reason of a workload after acting on it: a
// conflict, a blocked eviction or a failed write turns its action into
// Pending, the injector's veto into SameProxy.
func actedOn(wp *WorkloadPlan, o outcome) (Action, string) {
	switch {
	case o.sameProxy != "":
		return ActionSameProxy, o.sameProxy
	case o.pending != "":
		return ActionPending, o.pending
	case o.err != nil && !o.started:
		return ActionPending, fmt.Sprintf("%v; trying again on the next run", o.err)
	}
	return wp.Action, wp.Why
}
