package restarter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

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

// entry gathers the groups of pods of one workload.
type entry struct {
	w          *workload.Facts
	nsOptedOut bool
	// nsErr: the namespace could not be read, so its opt-out is unknown.
	nsErr error
	// restartedBefore: this Restarter restarted the workload for the target
	// earlier, whatever its template says now.
	restartedBefore bool
	// confirmed: a marker patch of this Restarter whose answer was lost did
	// land; the restart is reported as begun in this run (see record.go).
	confirmed bool
	// ready counts the workload's Running and Ready pods in the scan
	// (modeEvict only).
	ready int32
	// answer is the injector's remembered answer that vetoed a restart of
	// the workload, while its spec is unchanged; nil when it was not asked.
	answer *sidecarmode.Proxy
	// timedOut: a restart of ours has been unsettled for longer than the
	// rollout timeout, for waited.
	timedOut bool
	waited   time.Duration

	stale, staleAfterRestart int
	reasons                  few[string]
	layouts                  few[sidecarmode.Layout]
	versions                 few[string]
	settingsStale            bool
	evict                    *podRef
}

func (e *entry) merge(g *group) {
	e.stale += g.stale
	e.staleAfterRestart += g.staleAfterRestart
	for _, v := range g.reasons {
		e.reasons.add(v)
	}
	for _, v := range g.layouts {
		e.layouts.add(v)
	}
	for _, v := range g.versions {
		e.versions.add(v)
	}
	e.settingsStale = e.settingsStale || g.settingsStale
	if g.evict != nil && (e.evict == nil || g.evict.Name < e.evict.Name) {
		e.evict = g.evict
	}
}

// buildPlan resolves the scanned groups to workloads and decides per
// workload, then applies the pacing limit. A workload whose owners or
// namespace cannot be read waits (Pending) and its error is returned beside
// the plan: one unreadable object does not stop the restarts of all others.
func (r *Restarter) buildPlan(ctx context.Context, d sidecarmode.Decision, scan *scanResult) (*Plan, error) {
	var errs []error
	target := d.Target()
	own := workload.NewReader(r.c, r.opts.PageSize)
	own.OnListRestart = listRestartsTotal.Inc
	entries := map[WorkloadRef]*entry{}
	add := func(w *workload.Facts) *entry {
		e, ok := entries[w.Ref]
		if !ok {
			e = &entry{w: w}
			entries[w.Ref] = e
		}
		return e
	}

	groups := make([]*group, 0, len(scan.groups))
	for _, g := range scan.groups {
		groups = append(groups, g)
	}
	// Resolved in a fixed order, so that the errors and the plan do not
	// depend on the map's.
	sort.Slice(groups, func(i, j int) bool { return groups[i].owner.Less(groups[j].owner) })
	owners := make([]workload.Owner, len(groups))
	for i, g := range groups {
		owners[i] = g.owner
	}
	own.ListOwners(ctx, owners)
	own.Prefetch(ctx, owners)
	for _, g := range groups {
		k := g.owner
		w, err := own.Resolve(ctx, k)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			errs = append(errs, fmt.Errorf("find the workload of pods owned by %s %s/%s: %w", k.Kind, k.Namespace, k.Name, err))
			w = workload.Unreadable(k, err)
		}
		if g.optedOut {
			// A bare pod is its own workload: its facts are its own.
			w.OptedOut = true
		}
		add(w).merge(g)
	}
	unreadable := set[WorkloadRef]{}
	// Rollouts this Restarter started that no pod pointed at in this scan
	// (their old pods are gone, the new ones not yet available) still hold
	// their slots until they settle; patches without a clear answer are
	// looked up.
	look := make(map[WorkloadRef]struct{}, len(r.inFlight)+len(r.unconfirmed))
	for ref := range r.inFlight {
		look[ref] = struct{}{}
	}
	for ref := range r.unconfirmed {
		look[ref] = struct{}{}
	}
	for ref := range look {
		if _, ok := entries[ref]; ok {
			continue
		}
		w, err := own.Read(ctx, ref, "")
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// Keep it in flight: its slot stays taken until it can be read.
			errs = append(errs, fmt.Errorf("check the rollout of %s: %w", ref, err))
			unreadable.add(ref)
			continue
		}
		add(w)
	}
	for ref, e := range entries {
		e.nsOptedOut, e.nsErr = own.NamespaceOptedOut(ctx, ref.Namespace)
		if e.nsErr != nil && ctx.Err() != nil {
			return nil, e.nsErr
		}
		if e.nsErr != nil {
			errs = append(errs, e.nsErr)
		}
		e.confirmed = r.confirmUnconfirmed(ref, e.w, target)
		_, e.restartedBefore = r.restarted[ref]
		e.answer = r.rememberedAnswer(e.w)
		if e.w.Mode == workload.ModeEvict {
			e.ready = scan.readyByOwner[e.w.UID]
		}
		if settled, _ := progressOf(e); isOurs(e.w, target) && !settled {
			now := r.now()
			since, ok := r.unsettledSince[ref]
			if !ok {
				since = now
				r.unsettledSince[ref] = now
			}
			e.waited = now.Sub(since)
			e.timedOut = e.waited > r.opts.RolloutTimeout
		} else {
			delete(r.unsettledSince, ref)
		}
	}
	for ref := range r.unsettledSince {
		if _, ok := entries[ref]; !ok {
			delete(r.unsettledSince, ref)
		}
	}

	plan := &Plan{
		Target:                target,
		PodsListed:            scan.listed,
		PodsScanned:           scan.scanned,
		StalePods:             scan.stale,
		StaleByReason:         scan.staleByReason,
		ListRestarts:          scan.listRestarts,
		MaxConcurrentRollouts: r.opts.MaxConcurrentRollouts,
		RolloutsInProgress:    len(unreadable),
	}
	for _, e := range entries {
		wp, ok := decide(e, target)
		if !ok {
			continue
		}
		plan.Workloads = append(plan.Workloads, wp)
	}
	sort.Slice(plan.Workloads, func(i, j int) bool {
		return plan.Workloads[i].Workload.Less(plan.Workloads[j].Workload)
	})
	pace(plan)

	// Forget rollouts that settled (or whose workload went away).
	for ref := range r.inFlight {
		if _, ok := unreadable[ref]; !ok && !inProgress(plan, ref) {
			delete(r.inFlight, ref)
		}
	}
	return plan, errors.Join(errs...)
}

func inProgress(plan *Plan, ref WorkloadRef) bool {
	for i := range plan.Workloads {
		if plan.Workloads[i].Workload == ref {
			return plan.Workloads[i].inProgress
		}
	}
	return false
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

// decide is the restarter's decision table for one workload, before pacing.
// ok is false when the workload needs nothing.
func decide(e *entry, target string) (wp WorkloadPlan, ok bool) {
	w := e.w
	wp = WorkloadPlan{
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
	restartable := w.Mode.Restartable()
	ours := isOurs(w, target)
	settled, progress := progressOf(e)
	if e.stale == 0 {
		// Only a restart of ours that has not settled, or one to report, is
		// worth a line.
		if !ours || (settled && !e.confirmed) || e.timedOut {
			return wp, false
		}
		wp.Action, wp.inProgress = ActionPending, !settled
		wp.Why = fmt.Sprintf("restarted for %s; waiting for the rollout: %s", target, progress)
		if w.Mode == workload.ModeEvict {
			wp.Why = fmt.Sprintf("restarted for %s; waiting for the recreated pods: %s", target, progress)
		}
		if settled {
			wp.Why = fmt.Sprintf("restarted for %s; done", target)
		}
		return wp, true
	}

	stale := staleSummary(e)
	switch {
	case e.nsErr != nil:
		wp.Action = ActionPending
		wp.Why = fmt.Sprintf("%s; could not read namespace %s to check its opt-out (%v); trying again on the next run",
			stale, w.Ref.Namespace, e.nsErr)
	case e.nsOptedOut:
		wp.Action = ActionOptedOut
		wp.Why = fmt.Sprintf("%s; namespace %s is annotated %s=%s, so the restarter leaves it alone",
			stale, w.Ref.Namespace, OptOutAnnotation, OptOutDisabled)
	case w.OptedOut:
		wp.Action = ActionOptedOut
		wp.Why = fmt.Sprintf("%s; the %s is annotated %s=%s, so the restarter leaves it alone",
			stale, w.Ref.Kind, OptOutAnnotation, OptOutDisabled)
	case w.Mode == workload.ModeUnresolved:
		wp.Action, wp.Why = ActionPending, w.Why
	case w.Mode == workload.ModeManual:
		wp.Action = ActionManual
		wp.Why = fmt.Sprintf("manual restart required: %s; it is %s", stale, w.Why)
	case ours && !settled && e.timedOut:
		wp.Action = ActionNotConverging
		wp.Why = fmt.Sprintf("restarted for %s, but after %s it has still not settled (%s) and %s; not restarting it again",
			target, e.waited.Round(time.Second), progress, stale)
	case w.Mode == workload.ModeRollout && ours:
		switch {
		case !settled:
			wp.Action, wp.inProgress = ActionPending, true
			wp.Why = fmt.Sprintf("restarted for %s; waiting for the rollout: %s", target, progress)
		case w.Failed:
			wp.Action = ActionNotConverging
			wp.Why = fmt.Sprintf("restarted for %s, but %s; %s; not restarting it again", target, progress, stale)
		case e.staleAfterRestart > 0:
			wp.Action = ActionNotConverging
			wp.Why = fmt.Sprintf("restarted for %s and the rollout finished, but %s, %d of them created by the restart: "+
				"the injector does not inject what the operator expects; not restarting it again", target, stale, e.staleAfterRestart)
		default:
			wp.Action = ActionNotConverging
			wp.Why = fmt.Sprintf("restarted for %s and the rollout finished, but %s: %s; not restarting it again",
				target, stale, w.Keeps)
		}
	case w.Mode == workload.ModeEvict && ours:
		switch {
		case e.staleAfterRestart > 0 && settled:
			wp.Action = ActionNotConverging
			wp.Why = fmt.Sprintf("restarted for %s, but %d pods recreated since are still stale (%s): the injector "+
				"does not inject what the operator expects; not evicting any more", target, e.staleAfterRestart, strings.Join(wp.Reasons, "; "))
		case !settled:
			wp.Action, wp.inProgress = ActionPending, true
			wp.Why = fmt.Sprintf("restarted for %s; waiting for the recreated pods before the next eviction: %s", target, progress)
		default:
			wp.Action, wp.inProgress = ActionEvict, true
			wp.Why = fmt.Sprintf("restarted for %s; %d stale pods left, evicting %s next", target, e.stale, e.evict.Name)
		}
	case restartable && (e.restartedBefore || w.Recorded == target):
		// Restarted for the target before (this Restarter remembers it, or the
		// workload's own annotation says so), but the template lost the
		// marker: something (a GitOps tool?) reverted it. Restarting again
		// could fight it forever.
		wp.Action = ActionNotConverging
		wp.Why = fmt.Sprintf("restarted for %s before (the %s carries %s=%s), but its pod template no longer carries it "+
			"(reverted by another tool?) and %s; not restarting it again", target, w.Ref.Kind, RestartAnnotation, target, stale)
	case restartable && e.evict == nil:
		// Every stale pod was created from a template marked for the target,
		// which no longer carries the marker.
		wp.Action = ActionNotConverging
		wp.Why = fmt.Sprintf("%s, all created after a restart for %s; not restarting it again", stale, target)
	case restartable && e.answer != nil && sameProxy(&wp, *e.answer):
		// The injector was asked before and vetoed: asking again in every
		// run would hold a rollout slot for nothing.
		wp.Action, wp.Why = ActionSameProxy, sameProxyWhy(stale, *e.answer)
	case w.Mode == workload.ModeRollout:
		wp.Action = ActionRolloutRestart
		wp.Why = fmt.Sprintf("%s; roll it out by setting the pod-template annotation %s=%s", stale, RestartAnnotation, target)
	case w.Mode == workload.ModeEvict:
		how := fmt.Sprintf("its update strategy is %s, so a template change replaces no pod", w.Strategy)
		if w.Strategy == workload.StrategyNoOwner {
			how = fmt.Sprintf("a %s without an owner keeps its pods on a template change", w.Ref.Kind)
		}
		if !settled {
			wp.Action = ActionPending
			wp.Why = fmt.Sprintf("%s; %s; waiting for all its pods to be ready before evicting: %s", stale, how, progress)
			break
		}
		wp.Action = ActionEvict
		wp.Why = fmt.Sprintf("%s; %s: evict the stale pods one at a time, starting with %s", stale, how, e.evict.Name)
	}
	return wp, true
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
