package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// proxyState is what the benchmark needs to know of a pod: its proxy and
// whether it is Ready.
type proxyState struct {
	layout  sidecarmode.Layout
	version string
	ready   bool
}

func (s proxyState) String() string {
	if !s.ready {
		return fmt.Sprintf("%s %s, not ready", s.layout, s.version)
	}
	return fmt.Sprintf("%s %s, ready", s.layout, s.version)
}

func stateOf(p *corev1.Pod) proxyState {
	proxy := sidecarmode.Inspect(p.ObjectMeta, p.Spec)
	s := proxyState{layout: proxy.Layout, version: proxy.Version}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			s.ready = c.Status == corev1.ConditionTrue
		}
	}
	return s
}

// podTracker follows the benchmark's pods with a watch and counts the live
// (not terminating) ones by state, so "every pod is in state X" is known at
// the event that made it so, without listing thousands of pods in a loop.
type podTracker struct {
	mu      sync.Mutex
	pods    map[string]proxyState // live pods by namespace/name
	counts  map[proxyState]int
	changed chan struct{} // closed and replaced on every change
	at      time.Time     // of the last change
	stop    context.CancelFunc
}

// trackPods starts the watch and returns once it has listed the pods.
func trackPods(ctx context.Context, cfg *rest.Config) (*podTracker, error) {
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	t := &podTracker{pods: map[string]proxyState{}, counts: map[proxyState]int{}, changed: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = benchLabel + "=true" }))
	informer := factory.Core().V1().Pods().Informer()
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { t.update(obj) },
		UpdateFunc: func(_, obj any) { t.update(obj) },
		DeleteFunc: func(obj any) {
			if gone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = gone.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				t.set(p.Namespace+"/"+p.Name, proxyState{}, false)
			}
		},
	}); err != nil {
		return nil, err
	}
	watchCtx, cancel := context.WithCancel(ctx)
	t.stop = cancel
	factory.Start(watchCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		cancel()
		return nil, fmt.Errorf("the pod watch did not sync: %w", ctx.Err())
	}
	return t, nil
}

func (t *podTracker) update(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	t.set(p.Namespace+"/"+p.Name, stateOf(p), p.DeletionTimestamp == nil)
}

// set records a pod's state; live=false forgets it.
func (t *podTracker) set(key string, s proxyState, live bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.pods[key]; ok {
		t.counts[old]--
		delete(t.pods, key)
	}
	if live {
		t.pods[key] = s
		t.counts[s]++
	}
	t.at = time.Now()
	close(t.changed)
	t.changed = make(chan struct{})
}

// waitAll waits until exactly n pods live, all in state want, and returns
// when the last change that made it so happened.
func (t *podTracker) waitAll(ctx context.Context, n int, want proxyState, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		t.mu.Lock()
		done, at, changed := t.counts[want] == n && len(t.pods) == n, t.at, t.changed
		summary := t.summaryLocked()
		t.mu.Unlock()
		if done {
			return at, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return time.Time{}, fmt.Errorf("after %s, not all %d pods are %s: %s", timeout, n, want, summary)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// summaryLocked is "2000 pods: 1990 native 1.30.2, ready; 10 ...".
func (t *podTracker) summaryLocked() string {
	out := fmt.Sprintf("%d pods:", len(t.pods))
	for s, c := range t.counts {
		if c > 0 {
			out += fmt.Sprintf(" %d %s;", c, s)
		}
	}
	return out
}

func (t *podTracker) Stop() { t.stop() }
