package restarter

import (
	"fmt"
	"strings"
)

// maxNames is how many workload names a Category lists.
const maxNames = 5

// Category counts workloads in one state and names a few of them.
type Category struct {
	Count int
	// Names lists up to five workloads as "Kind namespace/name", in plan
	// order (namespace, kind, name), followed by "and N more" when Count is
	// larger.
	Names []string
}

func (c *Category) add(ref WorkloadRef) {
	c.Count++
	if len(c.Names) < maxNames {
		c.Names = append(c.Names, ref.String())
	}
}

func (c *Category) finish() {
	if c.Count > maxNames {
		c.Names = append(c.Names, fmt.Sprintf("and %d more", c.Count-maxNames))
	}
}

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
// what acting did (outcomes is nil for a dry run). It also applies the
// outcomes to the plan entries (a conflict turns an action into Pending).
func summarize(plan *Plan, outcomes []outcome) Summary {
	s := Summary{Target: plan.Target, PodsScanned: plan.PodsScanned, StalePods: plan.StalePods}
	for i := range plan.Workloads {
		wp := &plan.Workloads[i]
		var o outcome
		if outcomes != nil {
			o = outcomes[i]
		}
		if o.pending != "" {
			wp.Action, wp.Why = ActionPending, o.pending
		}
		if o.sameProxy != "" {
			wp.Action, wp.Why = ActionSameProxy, o.sameProxy
		}
		switch {
		case o.started:
			s.Restarted.add(wp.Workload)
		case o.pending != "":
			s.Pending.add(wp.Workload)
		case o.err != nil:
			wp.Action, wp.Why = ActionPending, fmt.Sprintf("%v; trying again on the next run", o.err)
			s.Pending.add(wp.Workload)
		default:
			switch wp.Action {
			case ActionRolloutRestart:
				if outcomes == nil {
					s.Restarted.add(wp.Workload)
				} else {
					// Not reached: the run stopped before acting on it.
					s.Pending.add(wp.Workload)
				}
			case ActionEvict:
				if outcomes == nil && wp.RestartedFor != plan.Target {
					s.Restarted.add(wp.Workload)
				} else {
					s.Pending.add(wp.Workload)
				}
			case ActionPending:
				s.Pending.add(wp.Workload)
			case ActionManual:
				s.ManualRestart.add(wp.Workload)
			case ActionNotConverging:
				s.NotConverging.add(wp.Workload)
			case ActionOptedOut:
				s.OptedOut.add(wp.Workload)
			case ActionSameProxy:
				s.SameProxy.add(wp.Workload)
			}
		}
	}
	for _, c := range []*Category{&s.Restarted, &s.Pending, &s.ManualRestart, &s.NotConverging, &s.OptedOut, &s.SameProxy} {
		c.finish()
	}
	s.InProgress = s.Restarted.Count > 0 || s.Pending.Count > 0
	return s
}
