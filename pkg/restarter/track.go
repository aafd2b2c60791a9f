package restarter

import (
	"time"
)

// Tracking: the Restarter's memory over time, per target. What it started,
// what it saw unsettled since when, what the injector answered and which
// patches had no clear answer; the rules read it through the entry
// (recall), and plans and acts update it.

// switchTarget forgets everything about an earlier target: its rollouts
// and reports are history.
func (r *Restarter) switchTarget(target string) {
	if target == r.target {
		return
	}
	r.target = target
	r.inFlight = map[WorkloadRef]struct{}{}
	r.restarted = map[WorkloadRef]struct{}{}
	r.unsettledSince = map[WorkloadRef]time.Time{}
	r.reported = map[string]struct{}{}
	r.answers = map[WorkloadRef]injectorAnswer{}
	r.unconfirmed = map[WorkloadRef]struct{}{}
	r.unconfirmedEvictions = map[WorkloadRef]unconfirmedEviction{}
}

// followed are the workloads whose restart this Restarter follows whether
// or not a scanned pod points at them: rollouts it started (their old pods
// gone, the new ones not yet available still hold their slots until they
// settle) and marker patches without a clear answer, to be looked up.
func (r *Restarter) followed() set[WorkloadRef] {
	refs := make(set[WorkloadRef], len(r.inFlight)+len(r.unconfirmed))
	for ref := range r.inFlight {
		refs.add(ref)
	}
	for ref := range r.unconfirmed {
		refs.add(ref)
	}
	return refs
}

// recall adds to e what this Restarter remembers of its workload for
// target, and times a restart of ours that has not settled.
func (r *Restarter) recall(ref WorkloadRef, e *entry, target string) {
	e.confirmed = r.confirmUnconfirmed(ref, e.w, target)
	_, e.restartedBefore = r.restarted[ref]
	e.answer = r.rememberedAnswer(e.w)
	if settled, _ := progressOf(e); !isOurs(e.w, target) || settled {
		delete(r.unsettledSince, ref)
		return
	}
	now := r.now()
	since, ok := r.unsettledSince[ref]
	if !ok {
		since = now
		r.unsettledSince[ref] = now
	}
	e.waited = now.Sub(since)
	e.timedOut = e.waited > r.opts.RolloutTimeout
}

// forgetUnlisted forgets when restarts of workloads no longer in the plan's
// entries became unsettled.
func (r *Restarter) forgetUnlisted(entries map[WorkloadRef]*entry) {
	for ref := range r.unsettledSince {
		if _, ok := entries[ref]; !ok {
			delete(r.unsettledSince, ref)
		}
	}
}

// forgetSettled forgets rollouts that settled (or whose workload went
// away); those that could not be read stay.
func (r *Restarter) forgetSettled(plan *Plan, unreadable set[WorkloadRef]) {
	for ref := range r.inFlight {
		if _, ok := unreadable[ref]; !ok && !inProgress(plan, ref) {
			delete(r.inFlight, ref)
		}
	}
}

func inProgress(plan *Plan, ref WorkloadRef) bool {
	for i := range plan.Workloads {
		if plan.Workloads[i].Workload == ref {
			return plan.Workloads[i].inProgress
		}
	}
	return false
}
