package restarter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

const (
	// RestartAnnotation marks a restart by this operator. Its value is the
	// target it restarted for, Decision.Target(), e.g. "1.30.2/native".
	//
	// It is set on the pod template of every workload the restarter restarts
	// (so the pods created afterwards carry it too, which is how they are told
	// from the pods the restart replaces) and on the workload's own metadata,
	// the record that a tool stripping the template's annotation leaves: a
	// workload that carries it for the target is never restarted again for
	// it, whatever its template says.
	RestartAnnotation = workload.RestartAnnotation

	// OptOutAnnotation with the value OptOutDisabled on a workload (the
	// Deployment, StatefulSet, ... itself, or a bare Pod) or on a namespace
	// keeps the restarter away: such workloads are reported, never touched.
	OptOutAnnotation = workload.OptOutAnnotation
	// OptOutDisabled is the value of OptOutAnnotation that opts out.
	OptOutDisabled = workload.OptOutDisabled
)

// WorkloadRef names a workload: the object the restarter acts on or reports.
type WorkloadRef = workload.Ref

// Defaults of Options.
const (
	DefaultPageSize              int64 = 500
	DefaultMaxConcurrentRollouts       = 5
	DefaultControlPlaneNamespace       = "istio-system"
	DefaultRolloutTimeout              = 15 * time.Minute
)

// Options tune a Restarter. The zero value means the defaults.
type Options struct {
	// PageSize is how many pods one List request returns; default 500.
	PageSize int64
	// MaxConcurrentRollouts is how many workloads may be rolling out (or
	// having their pods evicted) for the target at the same time; default 5.
	MaxConcurrentRollouts int
	// ControlPlaneNamespace is skipped by the scan; default "istio-system".
	ControlPlaneNamespace string
	// DryRun makes Run plan without acting: no writes, no events.
	DryRun bool
	// RolloutTimeout is how long a restart may stay unsettled (a rollout not
	// finishing, an evicted pod not coming back ready) before it stops
	// holding its rollout slot and, with stale pods left, is reported as not
	// converging; default 15 minutes. It is measured from when this
	// Restarter first saw the restart unsettled.
	RolloutTimeout time.Duration
	// Pods lists the pods for the scan. Use a podlist.Lister: it decodes
	// only the fields the scan reads, a pod at a time, so the scan's memory
	// stays flat however many pods a page holds. Nil lists through the
	// client, decoding whole pages of whole pods.
	Pods PodPager
}

// PodPager lists one page of pods: at most limit pods from the continue
// token cont, each handed to fn, and returns the next token, "" after the
// last page. *podlist.Lister and ClientPods implement it. The restarter's
// scan needs a pager of all namespaces: one scoped to a namespace
// (podlist.Lister.InNamespace, ClientPods.Namespace) would hide the others'
// stale pods from it.
type PodPager interface {
	Page(ctx context.Context, limit int64, cont string, fn func(*corev1.Pod)) (next string, err error)
}

func (o Options) withDefaults() Options {
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MaxConcurrentRollouts <= 0 {
		o.MaxConcurrentRollouts = DefaultMaxConcurrentRollouts
	}
	if o.ControlPlaneNamespace == "" {
		o.ControlPlaneNamespace = DefaultControlPlaneNamespace
	}
	if o.RolloutTimeout <= 0 {
		o.RolloutTimeout = DefaultRolloutTimeout
	}
	return o
}

// Restarter finds pods whose istio-proxy does not match a Decision and
// replaces them by restarting their workloads, once per workload and target.
//
// A Restarter is meant to live as long as the manager: it remembers which
// rollouts it started (so the pacing limit also counts rollouts that no
// longer show a stale pod) and which workloads it already reported by an
// Event. Everything else it needs is read from the cluster on every Run, so a
// new Restarter (after a restart of the operator) continues where the old
// one stopped without restarting any workload twice. Run and Plan are safe
// for concurrent use; they are serialised.
type Restarter struct {
	c        client.Client
	recorder events.EventRecorder
	opts     Options
	// now is the clock; tests replace it.
	now func() time.Time

	mu sync.Mutex
	// target is the Decision.Target() that inFlight and reported belong to.
	target string
	// inFlight are the workloads this Restarter restarted for target whose
	// rollout it has not yet seen settle.
	inFlight map[WorkloadRef]struct{}
	// restarted are the workloads this Restarter restarted for target; a
	// workload in it is never restarted again for target, even when its
	// template lost the marker.
	restarted map[WorkloadRef]struct{}
	// unsettledSince is when this Restarter first saw each restart of target
	// unsettled, for RolloutTimeout.
	unsettledSince map[WorkloadRef]time.Time
	// reported are "<action>/<workload>" keys already sent as a warning
	// Event for target, so a workload that needs manual action gets one
	// Event per target, not one per reconcile.
	reported map[string]struct{}
	// answers are the injector's answers for target that vetoed a restart
	// (see checkInjector).
	answers map[WorkloadRef]injectorAnswer
	// unconfirmed are the workloads whose marker patch for target failed
	// with an error that does not tell whether it landed (a broken
	// connection, a lost response): the next run looks (see record.go).
	unconfirmed map[WorkloadRef]struct{}
	// unconfirmedEvictions are evictions for target that failed without a
	// clear answer, by workload: the next run looks whether the pod went.
	unconfirmedEvictions map[WorkloadRef]unconfirmedEviction
}

// New returns a Restarter.
//
// c must read pods from the API server, not from an informer cache (a
// client made with client.New, not the manager's client): the scan pages
// through all pods of the cluster, and caching them is exactly the memory
// this package avoids. c also writes: pod-template patches and evictions.
//
// recorder is the events.k8s.io recorder that controller-runtime v0.25's
// manager returns from GetEventRecorder(name) (its recorder.EventRecorder
// embeds events.EventRecorder); nil means no Events.
func New(c client.Client, recorder events.EventRecorder, opts Options) *Restarter {
	if opts.Pods == nil {
		opts.Pods = ClientPods{Client: c}
	}
	return &Restarter{
		c:              c,
		recorder:       recorder,
		opts:           opts.withDefaults(),
		now:            time.Now,
		inFlight:       map[WorkloadRef]struct{}{},
		restarted:      map[WorkloadRef]struct{}{},
		unsettledSince: map[WorkloadRef]time.Time{},
		reported:       map[string]struct{}{},
		answers:        map[WorkloadRef]injectorAnswer{},
		unconfirmed:    map[WorkloadRef]struct{}{},

		unconfirmedEvictions: map[WorkloadRef]unconfirmedEviction{},
	}
}

// Run scans the cluster's pods, plans per workload and, unless
// Options.DryRun, acts: it rolls out or evicts what is stale, within the
// pacing limit, and emits Events.
//
// An error that concerns one workload (its owner or namespace could not be
// read, its patch or eviction failed) is that workload's: it is Pending, the
// error is in Summary.Errors, and the others go ahead; Run returns no error
// for it. Run returns an error when the run as a whole failed (the pod scan,
// a cancelled context); the Summary then describes what was planned and done
// before, or is empty. In a dry run the plan's errors are returned.
//
// Call Run only once the control plane runs the target version (see
// install.Installer.ControlPlaneReady): the injector must already inject
// what d expects, or the restarted pods come back stale and the workloads are
// reported as not converging.
func (r *Restarter) Run(ctx context.Context, d sidecarmode.Decision) (Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := ctrl.LoggerFrom(ctx)

	plan, planErr := r.plan(ctx, d)
	if plan == nil {
		return Summary{}, planErr
	}
	observeScan(plan)
	if r.opts.DryRun {
		return summarize(plan, nil), planErr
	}
	r.confirmEvictions(ctx, plan.Target)
	outcomes, actErr := r.act(ctx, plan)
	s := summarize(plan, outcomes)
	s.addErrors(planErr, actErr)
	if s.StalePods > 0 || s.InProgress {
		log.Info("Checked istio-proxy of all pods", "target", plan.Target,
			"podsScanned", s.PodsScanned, "stalePods", s.StalePods,
			"restarted", s.Restarted.Count, "pending", s.Pending.Count,
			"manualRestart", s.ManualRestart.Count, "notConverging", s.NotConverging.Count,
			"optedOut", s.OptedOut.Count, "errors", s.ErrorCount)
	} else {
		log.V(4).Info("No stale istio-proxy found", "target", plan.Target, "podsScanned", s.PodsScanned)
	}
	if err := ctx.Err(); err != nil {
		// Stopped midway; what was done is recorded in the cluster (the
		// markers), so the next Run continues without repeating it.
		return s, fmt.Errorf("restart workloads for %s: %w", plan.Target, err)
	}
	return s, nil
}

// Plan scans and plans without acting. The plan is what Run would do now;
// it is the API of dry runs and of reports such as a CLI's status command.
// When some owners or namespaces could not be read, Plan returns the plan
// (those workloads Pending) and the error; when the scan failed, no plan.
func (r *Restarter) Plan(ctx context.Context, d sidecarmode.Decision) (*Plan, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plan(ctx, d)
}

func (r *Restarter) plan(ctx context.Context, d sidecarmode.Decision) (*Plan, error) {
	if d.IstioVersion == "" || d.DefaultType == "" {
		return nil, errors.New("plan proxy restarts: the decision has no Istio version or container type")
	}
	r.switchTarget(d.Target())
	scan, err := r.scan(ctx, d)
	if err != nil {
		return nil, err
	}
	return r.buildPlan(ctx, d, scan)
}
