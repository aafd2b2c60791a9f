package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/istio-module/operator/internal/peakrss"
	"github.com/istio-module/operator/pkg/podlist"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Child modes: each measurement runs in its own process, so that its peak
// RSS is its own.
const (
	// modeList: a bare paged LIST of all pods with client-go's pager.
	modeList = "list"
	// modeScan: the restarter's scan and plan, dry run.
	modeScan = "scan"
	// modeRun: a real run of the restarter (it writes).
	modeRun = "run"
)

// childResult is what a child process reports on stdout, as JSON.
type childResult struct {
	Mode string `json:"mode"`
	// Seconds is the duration of the measured operation alone: the child's
	// start, its connection and the API discovery are not in it.
	Seconds float64 `json:"seconds"`
	// PagesSeconds is, for the scan, the time until the last page of pods
	// was read; the rest of Seconds is the plan (owner reads).
	PagesSeconds float64 `json:"pagesSeconds"`
	// Pods counts the pods the child saw.
	Pods int `json:"pods"`
	// Requests counts the measured operation's requests by "VERB resource".
	Requests map[string]int `json:"requests"`
	// Writes counts POST, PUT, PATCH and DELETE requests; WriteLog names
	// the first few.
	Writes   int      `json:"writes"`
	WriteLog []string `json:"writeLog,omitempty"`
	// ResponseBytes is what the measured operation read from the wire.
	ResponseBytes int64 `json:"responseBytes"`
	// AllocBytes is what the measured operation allocated on the Go heap.
	AllocBytes uint64 `json:"allocBytes"`
	NumGC      uint32 `json:"numGC"`
	// ConcurrentSeconds is the concurrent pass of modeOwners, ListedSeconds
	// its paged LISTs of all ReplicaSets and Deployments.
	ConcurrentSeconds float64 `json:"concurrentSeconds,omitempty"`
	ListedSeconds     float64 `json:"listedSeconds,omitempty"`
	// Summary is the restarter's summary (scan and run modes).
	Summary *summaryCounts `json:"summary,omitempty"`
	// PeakRSSKiB is the child's own peak RSS, VmHWM of /proc/self/status.
	// Not the parent's ru_maxrss of the child: Go starts children with
	// CLONE_VM, and Linux carries the parent's RSS high-water mark over the
	// child's exec into its ru_maxrss, so a child smaller than the parent
	// would report the parent's peak.
	PeakRSSKiB int64 `json:"peakRSSKiB"`
}

// summaryCounts are the counts of a restarter.Summary.
type summaryCounts struct {
	PodsScanned   int `json:"podsScanned"`
	StalePods     int `json:"stalePods"`
	Restarted     int `json:"restarted"`
	Pending       int `json:"pending"`
	ManualRestart int `json:"manualRestart"`
	NotConverging int `json:"notConverging"`
	OptedOut      int `json:"optedOut"`
}

// runChildMode is the main of a child process: it measures one operation
// against the cluster of $KUBECONFIG and prints a childResult.
// childOptions are a child's flags.
type childOptions struct {
	pageSize      int64
	moduleVersion string
	// workloads and namespaces describe the cluster, for modeOwners.
	workloads, namespaces int
	// cpuProfile, if set, is where the measured operation's CPU profile goes.
	cpuProfile string
}

func runChildMode(ctx context.Context, mode string, o childOptions) error {
	ctrl.SetLogger(logr.Discard())
	// The configuration the operator's manager uses (cmd/main.go):
	// kubeconfig, no client-side rate limit.
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	counter := &requestCounter{requests: map[string]int{}, cpuProfile: o.cpuProfile}
	if mode == modeScanSelected {
		cfg.Wrap(selectMeshPods)
	}
	cfg.Wrap(counter.wrap)

	var res childResult
	switch mode {
	case modeList:
		res, err = measureList(ctx, cfg, counter, o.pageSize)
	case modeScan, modeScanSelected, modeRun:
		res, err = measureRestarter(ctx, cfg, counter, mode, o.pageSize, o.moduleVersion)
	case modePodList:
		res, err = measurePodList(ctx, cfg, counter, o.pageSize)
	case modeWatchList:
		res, err = measureWatchList(ctx, cfg, counter)
	case modeOwners:
		res, err = measureOwners(ctx, cfg, counter, o.workloads, o.namespaces, o.pageSize)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		return err
	}
	res.Mode = mode
	if res.PeakRSSKiB, err = peakrss.Self(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// measureList pages through all pods with client-go's pager and a no-op per
// item: the API server's paged LIST itself, the limit of any uncached scan.
// It asks for protobuf, as controller-runtime's client does for built-in
// kinds, so both sides decode the same wire format.
func measureList(ctx context.Context, cfg *rest.Config, counter *requestCounter, pageSize int64) (childResult, error) {
	cs, err := warmProtobufClientset(ctx, cfg)
	if err != nil {
		return childResult{}, err
	}
	var res childResult
	p := pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (k8sruntime.Object, error) {
		return cs.CoreV1().Pods("").List(ctx, opts)
	}))
	p.PageSize = pageSize
	err = measure(counter, &res, func() error {
		return p.EachListItem(ctx, metav1.ListOptions{}, func(k8sruntime.Object) error {
			res.Pods++
			return nil
		})
	})
	return res, err
}

// warmProtobufClientset is a clientset that asks for protobuf, as
// controller-runtime's client does for built-in kinds, so every side decodes
// the same wire format; it has connected and authenticated (one LIST of pods
// with limit 1) so that no measurement pays for that.
func warmProtobufClientset(ctx context.Context, cfg *rest.Config) (*kubernetes.Clientset, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = k8sruntime.ContentTypeProtobuf
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return nil, fmt.Errorf("warm up: %w", err)
	}
	return cs, nil
}

// measureRestarter runs the restarter once, dry (modeScan) or for real
// (modeRun), with clients made as the operator makes them (client.New, no
// cache; the pods through podlist) and all rollouts allowed at once.
func measureRestarter(ctx context.Context, cfg *rest.Config, counter *requestCounter, mode string, pageSize int64,
	moduleVersion string) (childResult, error) {
	c, err := newUncachedClient(cfg)
	if err != nil {
		return childResult{}, err
	}
	// Warm up: connect, and let the client discover the kinds the restarter
	// reads, as a long-running operator has done before its first scan.
	if err := c.List(ctx, &corev1.PodList{}, client.Limit(1)); err != nil {
		return childResult{}, fmt.Errorf("warm up: %w", err)
	}
	for _, obj := range []client.Object{&corev1.Namespace{}, &appsv1.Deployment{}, &appsv1.ReplicaSet{}} {
		gvk, err := apiutil.GVKForObject(obj, c.Scheme())
		if err != nil {
			return childResult{}, err
		}
		if _, err := c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return childResult{}, fmt.Errorf("warm up: %w", err)
		}
	}

	d, err := sidecarmode.Decide(moduleVersion, false, sidecarmode.ClusterFacts{})
	if err != nil {
		return childResult{}, err
	}
	pods, err := podlist.NewForConfig(cfg)
	if err != nil {
		return childResult{}, err
	}
	r := restarter.New(c, nil, restarter.Options{
		Pods:     pods,
		PageSize: pageSize,
		// All stale workloads at once: pacing would cap the writes of one run.
		MaxConcurrentRollouts: 1_000_000,
		DryRun:                mode != modeRun,
	})
	var res childResult
	var s restarter.Summary
	err = measure(counter, &res, func() error {
		var err error
		s, err = r.Run(ctx, d)
		return err
	})
	res.Pods = s.PodsScanned
	res.Summary = &summaryCounts{
		PodsScanned: s.PodsScanned, StalePods: s.StalePods,
		Restarted: s.Restarted.Count, Pending: s.Pending.Count, ManualRestart: s.ManualRestart.Count,
		NotConverging: s.NotConverging.Count, OptedOut: s.OptedOut.Count,
	}
	if last := counter.lastPodsPage.Load(); last != 0 {
		res.PagesSeconds = time.Duration(last - counter.start.Load()).Seconds()
	}
	return res, err
}

// measure runs op and records its duration, requests and allocations.
func measure(counter *requestCounter, res *childResult, op func() error) error {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if counter.cpuProfile != "" {
		f, err := os.Create(counter.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	counter.reset()
	start := time.Now()
	err := op()
	res.Seconds = time.Since(start).Seconds()
	runtime.ReadMemStats(&after)
	res.AllocBytes = after.TotalAlloc - before.TotalAlloc
	res.NumGC = after.NumGC - before.NumGC
	counter.report(res)
	return err
}

// requestCounter is an http.RoundTripper wrapper that counts requests by
// verb and resource, writes, and the bytes of the responses.
type requestCounter struct {
	// cpuProfile is not about requests: measure writes the CPU profile of
	// the measured operation there, if set.
	cpuProfile string

	mu       sync.Mutex
	requests map[string]int
	writes   []string

	bytes atomic.Int64
	// start and lastPodsPage are UnixNano: the measurement's start and when
	// the body of the last LIST of pods was closed.
	start, lastPodsPage atomic.Int64
}

func (rc *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		key, isWrite, podsList := describeRequest(req.Method, req.URL.Path, req.URL.Query().Get("watch") == "true")
		if req.URL.Query().Get("dryRun") != "" {
			// The restarter's injector dry runs persist nothing: counted by
			// key ("DRYRUN POST pods"), not as writes.
			key, isWrite = "DRYRUN "+key, false
		}
		rc.mu.Lock()
		rc.requests[key]++
		if isWrite {
			rc.writes = append(rc.writes, req.Method+" "+req.URL.Path)
		}
		rc.mu.Unlock()
		resp, err := next.RoundTrip(req)
		if err == nil && resp.Body != nil {
			resp.Body = &countingBody{ReadCloser: resp.Body, rc: rc, podsList: podsList}
		}
		return resp, err
	})
}

func (rc *requestCounter) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests = map[string]int{}
	rc.writes = nil
	rc.bytes.Store(0)
	rc.lastPodsPage.Store(0)
	rc.start.Store(time.Now().UnixNano())
}

func (rc *requestCounter) report(res *childResult) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	res.Requests = map[string]int{}
	for k, v := range rc.requests {
		res.Requests[k] = v
	}
	res.Writes = len(rc.writes)
	sorted := append([]string(nil), rc.writes...)
	sort.Strings(sorted)
	if len(sorted) > 5 {
		sorted = sorted[:5]
	}
	res.WriteLog = sorted
	res.ResponseBytes = rc.bytes.Load()
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

type countingBody struct {
	io.ReadCloser
	rc       *requestCounter
	podsList bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.rc.bytes.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error {
	if b.podsList {
		b.rc.lastPodsPage.Store(time.Now().UnixNano())
	}
	return b.ReadCloser.Close()
}

// describeRequest names a request by verb and resource, e.g. "LIST pods",
// "WATCH pods", "GET replicasets", "PATCH deployments", and tells writes and
// LISTs of pods apart.
func describeRequest(method, path string, isWatch bool) (key string, isWrite, podsList bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return method + " " + path, method != http.MethodGet, false
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	resource, named := "", false
	if len(parts) > 0 {
		resource = parts[0]
		named = len(parts) > 1
	}
	if len(parts) > 2 {
		resource += "/" + parts[2]
	}
	verb := method
	switch {
	case method == http.MethodGet && isWatch:
		verb = "WATCH"
	case method == http.MethodGet && !named:
		verb = "LIST"
	}
	isWrite = method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
	return verb + " " + resource, isWrite, verb == "LIST" && resource == "pods"
}

// newUncachedClient is a client for the built-in kinds without a cache, as
// the operator reads pods and owners.
func newUncachedClient(cfg *rest.Config) (client.Client, error) {
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}
