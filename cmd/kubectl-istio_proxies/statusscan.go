package main

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// statusScan is the pod pager of status's restarter: it hands every pod to
// the restarter's scan and, reading the same pod, gathers per workload what
// the status table shows of the Running pods with a proxy. So status lists
// the pods once, for the plan and for the table.
type statusScan struct {
	pods restarter.PodPager
	conn connFlags
	d    sidecarmode.Decision
	own  *owners

	aggs map[workloadKey]*statusAgg
	// err is the first error finding a pod's workload; it stops the
	// listing.
	err error
	// complete: the listing reached its last page.
	complete bool
}

// statusAgg gathers the pods of one workload.
type statusAgg struct {
	pods, stale                 int
	layouts, versions, expected map[string]bool
	reasons                     map[string]bool
	gateway                     bool
}

// Page lists a page for the restarter. The first page of a listing starts
// the table's aggregation over, as the restarter starts its own over when
// the API server expired the continue token.
func (s *statusScan) Page(ctx context.Context, limit int64, cont string, fn func(*corev1.Pod)) (string, error) {
	if cont == "" {
		s.aggs = map[workloadKey]*statusAgg{}
	}
	next, err := s.pods.Page(ctx, limit, cont, func(pod *corev1.Pod) {
		fn(pod)
		if s.err == nil {
			s.err = s.add(ctx, pod)
		}
	})
	if err == nil && s.err != nil {
		err = s.err
	}
	s.complete = err == nil && next == ""
	return next, err
}

// add counts a Running pod with a proxy in the namespaces asked about
// under its workload.
func (s *statusScan) add(ctx context.Context, pod *corev1.Pod) error {
	if (s.conn.namespace != "" && pod.Namespace != s.conn.namespace) || skipNamespace(s.conn, pod.Namespace) ||
		pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return nil
	}
	p := sidecarmode.Inspect(pod.ObjectMeta, pod.Spec)
	if p.Layout == sidecarmode.LayoutNone && !p.Injected {
		return nil
	}
	key, err := s.own.workloadOf(ctx, pod)
	if err != nil {
		return err
	}
	a, ok := s.aggs[key]
	if !ok {
		a = &statusAgg{layouts: map[string]bool{}, versions: map[string]bool{}, expected: map[string]bool{}, reasons: map[string]bool{}}
		s.aggs[key] = a
	}
	a.pods++
	a.layouts[string(p.Layout)] = true
	if p.Version != "" {
		a.versions[p.Version] = true
	}
	if p.Layout == sidecarmode.LayoutGateway {
		a.gateway = true
	} else {
		a.expected[string(sidecarmode.ExpectedType(pod.Annotations, s.d))] = true
	}
	reasons := sidecarmode.StaleProxy(p, pod.Annotations, s.d)
	if len(reasons) > 0 {
		a.stale++
	}
	for _, r := range reasons {
		a.reasons[r.Message] = true
	}
	return nil
}

// row is the workload's row as far as its pods tell it.
func (a *statusAgg) row(k workloadKey) statusRow {
	return statusRow{
		Kind: k.Kind, Namespace: k.Namespace, Name: k.Name,
		Pods: a.pods, Layouts: sortedKeys(a.layouts), Versions: sortedKeys(a.versions),
		ExpectedType: strings.Join(sortedKeys(a.expected), ","),
		Stale:        a.stale > 0, StalePods: a.stale, Reasons: sortedKeys(a.reasons),
	}
}
