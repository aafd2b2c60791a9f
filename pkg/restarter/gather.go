package restarter

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// Gathering: what the plan reads from the cluster besides the pods. The
// scanned groups are resolved to their workloads, and so are the restarts
// this Restarter follows; each workload's namespace is checked for the
// opt-out. Reads only, no decision: a read that fails is kept as the
// workload's error for the rules to see.

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

// gathered is what gather read.
type gathered struct {
	entries map[WorkloadRef]*entry
	// unreadable are followed restarts whose workload could not be read:
	// they keep their rollout slots until it can.
	unreadable set[WorkloadRef]
	// errs concern single workloads.
	errs []error
}

// gather resolves the scanned groups and the followed restarts to
// workloads, one entry per workload, and reads their namespaces. It
// returns an error only when the context ends; other errors are kept in
// gathered.errs.
func (r *Restarter) gather(ctx context.Context, scan *scanResult) (*gathered, error) {
	own := workload.NewReader(r.c, r.opts.PageSize)
	own.OnListRestart = listRestartsTotal.Inc
	g := &gathered{entries: map[WorkloadRef]*entry{}, unreadable: set[WorkloadRef]{}}
	if err := g.resolveGroups(ctx, own, scan); err != nil {
		return nil, err
	}
	if err := g.readFollowed(ctx, own, r.followed()); err != nil {
		return nil, err
	}
	if err := g.readNamespaces(ctx, own); err != nil {
		return nil, err
	}
	for _, e := range g.entries {
		if e.w.Mode == workload.ModeEvict {
			e.ready = scan.readyByOwner[e.w.UID]
		}
	}
	return g, nil
}

func (g *gathered) add(w *workload.Facts) *entry {
	e, ok := g.entries[w.Ref]
	if !ok {
		e = &entry{w: w}
		g.entries[w.Ref] = e
	}
	return e
}

// resolveGroups finds the workload of each group of pods: listing the
// kinds it needs many of, then reading the rest 16 at a time, then, in a
// fixed order so that the errors and the plan do not depend on the map's,
// from the Reader's cache.
func (g *gathered) resolveGroups(ctx context.Context, own *workload.Reader, scan *scanResult) error {
	groups := make([]*group, 0, len(scan.groups))
	for _, gr := range scan.groups {
		groups = append(groups, gr)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].owner.Less(groups[j].owner) })
	owners := make([]workload.Owner, len(groups))
	for i, gr := range groups {
		owners[i] = gr.owner
	}
	own.ListOwners(ctx, owners)
	own.Prefetch(ctx, owners)
	for _, gr := range groups {
		k := gr.owner
		w, err := own.Resolve(ctx, k)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			g.errs = append(g.errs, fmt.Errorf("find the workload of pods owned by %s %s/%s: %w", k.Kind, k.Namespace, k.Name, err))
			w = workload.Unreadable(k, err)
		}
		if gr.optedOut {
			// A bare pod is its own workload: these facts are its alone.
			w.OptedOut = true
		}
		g.add(w).merge(gr)
	}
	return nil
}

// readFollowed reads the followed workloads no scanned pod pointed at.
func (g *gathered) readFollowed(ctx context.Context, own *workload.Reader, followed set[WorkloadRef]) error {
	for ref := range followed {
		if _, ok := g.entries[ref]; ok {
			continue
		}
		w, err := own.Read(ctx, ref, "")
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			g.errs = append(g.errs, fmt.Errorf("check the rollout of %s: %w", ref, err))
			g.unreadable.add(ref)
			continue
		}
		g.add(w)
	}
	return nil
}

// readNamespaces reads whether each entry's namespace opted out.
func (g *gathered) readNamespaces(ctx context.Context, own *workload.Reader) error {
	for ref, e := range g.entries {
		e.nsOptedOut, e.nsErr = own.NamespaceOptedOut(ctx, ref.Namespace)
		if e.nsErr != nil && ctx.Err() != nil {
			return e.nsErr
		}
		if e.nsErr != nil {
			g.errs = append(g.errs, e.nsErr)
		}
	}
	return nil
}
