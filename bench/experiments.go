package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/podlist"
)

// Experiments: what the alternatives to the restarter's current reads would
// cost, measured like the rest (--experiments).
const (
	// modeWatchList streams all pods with a watch that sends the initial
	// state (sendInitialEvents), one object at a time instead of pages.
	modeWatchList = "watchlist"
	// modePodList pages through all pods with podlist, as the restarter's
	// scan does, and does nothing per pod: the scan's read without the
	// restarter's state.
	modePodList = "podlist"
	// modeOwners reads the ReplicaSet and then the Deployment of every stale
	// workload, as the plan does, once one after the other and once with
	// ownerConcurrency reads in flight.
	modeOwners = "owners"
	// modeScanSelected is modeScan with the pod LISTs narrowed to the pods
	// that carry meshMarkLabel, a label selector the API server evaluates.
	modeScanSelected = "scan-selected"
)

// meshMarkLabel is the label every injection template of Istio's gives a
// pod with an istio-proxy (meshmark_test.go proves it over the templates
// and the injected testdata); a custom template need not set it.
const meshMarkLabel = "service.istio.io/canonical-name"

// selectMeshPods adds a label selector for meshMarkLabel to every LIST of
// pods, so the restarter's scan reads only the pods that carry it; the
// restarter itself is unchanged.
func selectMeshPods(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/pods") && req.URL.Query().Get("watch") == "" {
			req = req.Clone(req.Context())
			q := req.URL.Query()
			q.Set("labelSelector", meshMarkLabel)
			req.URL.RawQuery = q.Encode()
		}
		return next.RoundTrip(req)
	})
}

// ownerConcurrency is how many owner reads modeOwners keeps in flight in
// its concurrent pass.
const ownerConcurrency = 16

// measureWatchList streams all pods: the API server sends them as ADDED
// events from its watch cache, then a bookmark that ends the initial state.
func measureWatchList(ctx context.Context, cfg *rest.Config, counter *requestCounter) (childResult, error) {
	cs, err := warmProtobufClientset(ctx, cfg)
	if err != nil {
		return childResult{}, err
	}
	var res childResult
	err = measure(counter, &res, func() error {
		w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{
			SendInitialEvents:    ptr.To(true),
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
			AllowWatchBookmarks:  true,
		})
		if err != nil {
			return err
		}
		defer w.Stop()
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added:
				res.Pods++
			case watch.Bookmark:
				if m, err := metaOf(ev.Object); err == nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
					return nil
				}
			case watch.Error:
				return fmt.Errorf("watch: %v", ev.Object)
			}
		}
		return fmt.Errorf("the watch ended after %d pods without the end of the initial events", res.Pods)
	})
	return res, err
}

// measurePodList pages through all pods with podlist and a no-op per pod.
func measurePodList(ctx context.Context, cfg *rest.Config, counter *requestCounter, pageSize int64) (childResult, error) {
	pods, err := podlist.NewForConfig(cfg)
	if err != nil {
		return childResult{}, err
	}
	if _, err := pods.Page(ctx, 1, "", func(*corev1.Pod) {}); err != nil {
		return childResult{}, fmt.Errorf("warm up: %w", err)
	}
	var res childResult
	err = measure(counter, &res, func() error {
		cont := ""
		for {
			next, err := pods.Page(ctx, pageSize, cont, func(*corev1.Pod) { res.Pods++ })
			if err != nil {
				return err
			}
			if cont = next; cont == "" {
				return nil
			}
		}
	})
	return res, err
}

func metaOf(obj k8sruntime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	return m, nil
}

// measureOwners reads the owners of the stale workloads among the first
// workloads, sequentially (Seconds) and concurrently (ConcurrentSeconds),
// then lists all ReplicaSets and Deployments (ListedSeconds).
func measureOwners(ctx context.Context, cfg *rest.Config, counter *requestCounter, workloads, namespaces int, pageSize int64) (childResult, error) {
	c, err := newUncachedClient(cfg)
	if err != nil {
		return childResult{}, err
	}
	var stale []workloadNames
	for i := range workloads {
		if shapeOf(i).stale() {
			stale = append(stale, namesOf(i, namespaces))
		}
	}
	read := func(n workloadNames) error {
		var rs appsv1.ReplicaSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: n.namespace, Name: n.replicaSet}, &rs); err != nil {
			return err
		}
		var d appsv1.Deployment
		return c.Get(ctx, client.ObjectKey{Namespace: n.namespace, Name: metav1.GetControllerOf(&rs).Name}, &d)
	}
	if err := read(stale[0]); err != nil { // warm up
		return childResult{}, fmt.Errorf("warm up: %w", err)
	}
	var res childResult
	err = measure(counter, &res, func() error {
		for _, n := range stale {
			if err := read(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Pods = len(stale)
	start := time.Now()
	if err := readConcurrently(stale, read); err != nil {
		return res, err
	}
	res.ConcurrentSeconds = time.Since(start).Seconds()
	start = time.Now()
	if err := listAllOwners(ctx, c, pageSize); err != nil {
		return res, err
	}
	res.ListedSeconds = time.Since(start).Seconds()
	return res, nil
}

// readConcurrently calls read for every workload with ownerConcurrency
// reads in flight and returns the first error.
func readConcurrently(workloads []workloadNames, read func(workloadNames) error) error {
	next := make(chan workloadNames)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range ownerConcurrency {
		wg.Go(func() {
			for n := range next {
				if err := read(n); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	for _, n := range workloads {
		next <- n
	}
	close(next)
	wg.Wait()
	return firstErr
}

// listAllOwners pages through all ReplicaSets and Deployments of the
// cluster: what the owner reads cost when they do not depend on the number
// of stale workloads.
func listAllOwners(ctx context.Context, c client.Client, pageSize int64) error {
	for _, list := range []client.ObjectList{&appsv1.ReplicaSetList{}, &appsv1.DeploymentList{}} {
		cont := ""
		for {
			if err := c.List(ctx, list, client.Limit(pageSize), client.Continue(cont)); err != nil {
				return err
			}
			if cont = list.GetContinue(); cont == "" {
				break
			}
		}
	}
	return nil
}
