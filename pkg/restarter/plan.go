package restarter

import (
	"context"
	"errors"
	"sort"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// Action is what the restarter does, or would do, about one workload.
type Action string

const (
	// ActionRolloutRestart: patch the pod template's RestartAnnotation to the
	// target, so the workload's controller rolls out all its pods.
	// Deployments; StatefulSets and DaemonSets with RollingUpdate.
	ActionRolloutRestart Action = "RolloutRestart"
	// ActionEvict: evict the next stale pod (Eviction API, so
	// PodDisruptionBudgets apply); the workload's controller recreates it
	// from the template. The first eviction for a target also marks the
	// template and the workload with RestartAnnotation. StatefulSets and
	// DaemonSets with OnDelete; ReplicaSets and ReplicationControllers
	// without an owner.
	ActionEvict Action = "Evict"
	// ActionPending: a restart for the target is in progress, or waits for
	// a free rollout slot, for the workload's pods to be ready, or for a
	// transient condition (see Why). Nothing is written now.
	ActionPending Action = "Pending"
	// ActionManual: the restarter cannot restart this workload safely (paused
	// Deployment, Job, CronJob, bare Pod, an owner kind it does not know);
	// reported, with an Event, for a human to restart.
	ActionManual Action = "Manual"
	// ActionNotConverging: the workload was restarted for the target, the
	// restart settled, and its pods are still stale. It is not restarted
	// again; reported with an Event.
	ActionNotConverging Action = "NotConverging"
	// ActionOptedOut: the workload or its namespace carries OptOutAnnotation
	// "disabled"; reported, never touched.
	ActionOptedOut Action = "OptedOut"
	// ActionSameProxy: the workload's pods are stale by the operator's
	// model, but the injector gives a new pod exactly the proxy they have
	// (asked by a dry run before the restart): a restart would change
	// nothing, so none is made. Reported, with an Event.
	ActionSameProxy Action = "SameProxy"
)

// Plan is the outcome of one scan: what every workload with stale pods (or
// with a restart in progress) needs. Workloads with nothing to do are not in
// it.
type Plan struct {
	// Target is the Decision.Target() planned for, e.g. "1.30.2/native".
	Target string
	// PodsListed counts all pods listed, in all namespaces.
	PodsListed int
	// PodsScanned counts the Running pods with a proxy outside the control
	// plane's namespace whose proxy was checked (gateways excluded).
	PodsScanned int
	// StalePods counts those whose proxy does not match the target.
	StalePods int
	// StaleByReason counts stale pods per reason; a pod with a wrong type
	// and a wrong version counts under both.
	StaleByReason map[sidecarmode.ReasonKind]int
	// ListRestarts counts how often the listing started over because the
	// API server expired its continue token.
	ListRestarts int
	// MaxConcurrentRollouts is the pacing limit the plan was made with.
	MaxConcurrentRollouts int
	// RolloutsInProgress counts restarts for the target that were started
	// before this plan and have not settled; they hold rollout slots.
	RolloutsInProgress int
	// Workloads are sorted by namespace, kind and name.
	Workloads []WorkloadPlan
}

// WorkloadPlan is the plan for one workload.
type WorkloadPlan struct {
	Workload WorkloadRef
	// Layouts are the proxy layouts seen among its stale pods.
	Layouts []sidecarmode.Layout
	// ProxyVersions are the proxy versions seen among its stale pods
	// (sidecarmode.VersionUnknown for tags that are not versions).
	ProxyVersions []string
	// StalePods counts its Running pods with a stale proxy.
	StalePods int
	// StaleAfterRestart counts those created after the workload was
	// restarted for the target: the restart did not fix them.
	StaleAfterRestart int
	// SettingsStale: some of its stale pods were injected under other proxy
	// settings than the target's (besides, or instead of, type and version).
	SettingsStale bool
	// Reasons are the distinct reasons its pods are stale, e.g.
	// "regular, expected native", "1.27.3, expected 1.30.2".
	Reasons []string
	// RestartedFor is the workload's RestartAnnotation as read: the target it
	// was last restarted for by the operator, or "".
	RestartedFor string
	// Strategy is the workload's update strategy where it has one
	// ("RollingUpdate", "OnDelete", "Recreate", "no owner").
	Strategy string
	// Action is what the restarter does (or, in a dry run, would do).
	Action Action
	// Why explains Action in a sentence.
	Why string

	w          *workload.Facts
	evict      *podRef
	inProgress bool // holds a rollout slot: a restart for the target has not settled
	confirmed  bool // a restart whose patch answer was lost, found to have landed
}

// buildPlan is gather, recall, decide: it reads the workloads of the
// scanned pods (gather.go), adds what this Restarter remembers of them
// (track.go), decides per workload (decide.go), then applies the pacing
// limit. A workload whose owners or namespace cannot be read waits
// (Pending) and its error is returned beside the plan: one unreadable
// object does not stop the restarts of all others.
func (r *Restarter) buildPlan(ctx context.Context, d sidecarmode.Decision, scan *scanResult) (*Plan, error) {
	target := d.Target()
	g, err := r.gather(ctx, scan)
	if err != nil {
		return nil, err
	}
	for ref, e := range g.entries {
		r.recall(ref, e, target)
	}
	r.forgetUnlisted(g.entries)

	plan := &Plan{
		Target:                target,
		PodsListed:            scan.listed,
		PodsScanned:           scan.scanned,
		StalePods:             scan.stale,
		StaleByReason:         scan.staleByReason,
		ListRestarts:          scan.listRestarts,
		MaxConcurrentRollouts: r.opts.MaxConcurrentRollouts,
		RolloutsInProgress:    len(g.unreadable),
	}
	for _, e := range g.entries {
		if wp, ok := decide(e, target); ok {
			plan.Workloads = append(plan.Workloads, wp)
		}
	}
	sort.Slice(plan.Workloads, func(i, j int) bool {
		return plan.Workloads[i].Workload.Less(plan.Workloads[j].Workload)
	})
	pace(plan)
	r.forgetSettled(plan, g.unreadable)
	return plan, errors.Join(g.errs...)
}
