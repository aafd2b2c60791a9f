package restarter

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// podRef names one pod, with its UID as an eviction precondition.
type podRef struct {
	Name string
	UID  types.UID
}

// group is what the scan keeps about the pods of one direct owner. It holds
// counters and small sets, never pods, so the scan's memory grows with the
// number of workloads, not with the number of pods.
type group struct {
	owner workload.Owner
	// optedOut: a bare pod carrying the opt-out annotation.
	optedOut bool

	// stale counts Running pods whose proxy does not match the decision.
	stale int
	// staleAfterRestart counts those of them created from a pod template
	// already marked for the target: the restart did not help them.
	staleAfterRestart int
	reasons           few[string]
	layouts           few[sidecarmode.Layout]
	versions          few[string]
	// settingsStale: a stale pod was injected under other proxy settings.
	settingsStale bool
	// evict is one stale pod created before the restart, the first by name:
	// the next pod to evict for workloads whose pods are evicted one at a time.
	evict *podRef
	// watch is set when a pod of the owner shows a replacement under way (a
	// pod marked for the target that is not yet Running and Ready, or a
	// terminating stale pod), so the plan looks at its workload's rollout
	// even if no stale pod is left.
	watch bool
}

// scanResult is the outcome of one pass over all pods.
type scanResult struct {
	// listed counts every pod listed, in all namespaces.
	listed int
	// scanned counts the Running pods with a proxy that were checked.
	scanned int
	stale   int
	// staleByReason counts stale pods per reason kind (a pod with two
	// reasons counts under both).
	staleByReason map[sidecarmode.ReasonKind]int
	groups        map[workload.Owner]*group
	// readyByOwner counts, per controller owner's UID, the pods that are Running,
	// Ready and not terminating, with a proxy or not: evictions wait until
	// the list agrees with the workload's status that all pods are up.
	readyByOwner map[types.UID]int32
	// listRestarts counts listings restarted after an expired continue token.
	listRestarts int
}

func newScanResult() *scanResult {
	return &scanResult{
		staleByReason: map[sidecarmode.ReasonKind]int{},
		groups:        map[workload.Owner]*group{},
		readyByOwner:  map[types.UID]int32{},
	}
}

// scan pages through all pods uncached, PageSize at a time, and aggregates
// them per direct owner. When the API server expires the continue token
// (410 Gone: the snapshot the pages come from was compacted away), the
// listing starts over from scratch with an empty aggregation, so nothing is
// counted twice; it gives up after workload.MaxListRestarts such restarts.
func (r *Restarter) scan(ctx context.Context, d sidecarmode.Decision) (*scanResult, error) {
	res := newScanResult()
	err := workload.ListFromStart(func() error {
		return r.listPages(ctx, func(pod *corev1.Pod) { res.add(pod, d, r.opts.ControlPlaneNamespace) })
	}, func(restart int) {
		res = newScanResult()
		res.listRestarts = restart
		listRestartsTotal.Inc()
		ctrl.LoggerFrom(ctx).Info("Pod list continue token expired, listing again from the start", "restart", restart)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// listPages lists all pods page by page and hands each pod to fn; a page
// is dropped before the next one is requested.
func (r *Restarter) listPages(ctx context.Context, fn func(*corev1.Pod)) error {
	cont := ""
	for page := 1; ; page++ {
		next, err := r.opts.Pods.Page(ctx, r.opts.PageSize, cont, fn)
		if err != nil {
			return fmt.Errorf("list pods (page %d): %w", page, err)
		}
		if cont = next; cont == "" {
			return nil
		}
	}
}

// ClientPods pages through whole pods with a client's typed List, in one
// namespace or, with Namespace "", in all: the PodPager the restarter uses
// when Options.Pods is nil, and one for callers that read more of a pod
// than podlist decodes.
type ClientPods struct {
	Client    client.Client
	Namespace string
}

func (p ClientPods) Page(ctx context.Context, limit int64, cont string, fn func(*corev1.Pod)) (string, error) {
	var pods corev1.PodList
	if err := p.Client.List(ctx, &pods, workload.PageOptions(limit, p.Namespace, cont)...); err != nil {
		return "", err
	}
	for i := range pods.Items {
		fn(&pods.Items[i])
	}
	return pods.Continue, nil
}

// add classifies one pod and aggregates it.
func (s *scanResult) add(pod *corev1.Pod, d sidecarmode.Decision, controlPlaneNamespace string) {
	s.listed++
	if pod.Namespace != controlPlaneNamespace && pod.DeletionTimestamp == nil &&
		pod.Status.Phase == corev1.PodRunning && podReady(pod) && metav1.GetControllerOfNoCopy(pod) != nil {
		s.readyByOwner[metav1.GetControllerOfNoCopy(pod).UID]++
	}
	c := classify(pod, d, controlPlaneNamespace)
	if c.skip != "" {
		if c.watch {
			s.group(pod).watch = true
		}
		return
	}
	s.scanned++
	if c.watch {
		s.group(pod).watch = true
	}
	if len(c.reasons) == 0 {
		return
	}
	s.stale++
	g := s.group(pod)
	g.stale++
	g.layouts.add(c.proxy.Layout)
	g.versions.add(c.proxy.Version)
	for _, reason := range c.reasons {
		s.staleByReason[reason.Kind]++
		g.reasons.add(reason.Message)
		g.settingsStale = g.settingsStale || reason.Kind == sidecarmode.ReasonWrongSettings
	}
	if c.marked {
		g.staleAfterRestart++
	} else if g.evict == nil || pod.Name < g.evict.Name {
		g.evict = &podRef{Name: pod.Name, UID: pod.UID}
	}
}

// group returns the aggregation for the pod's direct owner, creating it.
func (s *scanResult) group(pod *corev1.Pod) *group {
	key := workload.OwnerOf(pod)
	g, ok := s.groups[key]
	if !ok {
		g = &group{owner: key}
		if key.Kind == "Pod" {
			g.optedOut = pod.Annotations[OptOutAnnotation] == OptOutDisabled
		}
		s.groups[key] = g
	}
	return g
}

// Skip reasons of classify.
const (
	skipControlPlane = "in the control-plane namespace"
	skipNoProxy      = "no istio-proxy"
	skipGateway      = "gateway"
	skipTerminating  = "terminating"
	skipNotRunning   = "not Running"
)

// classification is what the restarter makes of one pod.
type classification struct {
	// skip says why the pod is not checked; "" for checked pods.
	skip    string
	proxy   sidecarmode.Proxy
	reasons []sidecarmode.StaleReason
	// marked: the pod was created from a template marked for the target.
	marked bool
	// watch: the pod shows a replacement of its owner's pods under way.
	watch bool
}

// classify checks one pod against d. Only Running pods with a proxy outside
// the control-plane namespace are checked; terminating pods, pods not (yet)
// Running, gateways not deployed by injection and pods without a proxy are
// skipped. A pod is a
// candidate when it has an istio-proxy container of either layout or the
// injector's status annotation.
func classify(pod *corev1.Pod, d sidecarmode.Decision, controlPlaneNamespace string) classification {
	if pod.Namespace == controlPlaneNamespace {
		return classification{skip: skipControlPlane}
	}
	c := classification{proxy: sidecarmode.Inspect(pod.ObjectMeta, pod.Spec)}
	if c.proxy.Layout == sidecarmode.LayoutNone && !c.proxy.Injected {
		c.skip = skipNoProxy
		return c
	}
	if c.proxy.Layout == sidecarmode.LayoutGateway && !sidecarmode.InjectedGateway(c.proxy, pod.Annotations) {
		// A gateway whose proxy the injector filled in is checked (for its
		// version) like any workload; one with its own image is not.
		c.skip = skipGateway
		return c
	}
	c.marked = pod.Annotations[RestartAnnotation] == d.Target()
	reasons := sidecarmode.StaleProxy(c.proxy, pod.Annotations, d)
	switch {
	case pod.DeletionTimestamp != nil:
		c.skip = skipTerminating
		c.watch = len(reasons) > 0 || c.marked
		return c
	case pod.Status.Phase != corev1.PodRunning:
		c.skip = skipNotRunning
		c.watch = c.marked && pod.Status.Phase == corev1.PodPending
		return c
	}
	c.reasons = reasons
	c.watch = c.marked && !podReady(pod)
	return c
}

func podReady(pod *corev1.Pod) bool {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// set is a small set of comparable values.
type set[T comparable] map[T]struct{}

func (s set[T]) add(v T) { s[v] = struct{}{} }

// few is a set of the few distinct values the stale pods of one workload
// show (reasons, layouts, versions): a slice, because the scan keeps three
// such sets per workload with stale pods, mostly of one or two members,
// where a map each would cost several times as much.
type few[T ~string] []T

func (f *few[T]) add(v T) {
	if !slices.Contains(*f, v) {
		*f = append(*f, v)
	}
}

// sorted returns the members, sorted, in a new slice.
func (f few[T]) sorted() []T {
	out := slices.Clone(f)
	slices.Sort(out)
	return out
}
