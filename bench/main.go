// Command bench measures the restarter's scan against the API server's own
// limit, a bare paged LIST of all pods, on a real kube-apiserver and etcd
// holding 1k, 10k and 50k Running pods.
//
// It starts the test cluster in API mode (no controllers: objects only),
// creates Deployments with one ReplicaSet of 10 Running, injected pods each
// across 20 namespaces (a third of them stale by proxy version, by layout or
// both), and for every size measures, each in a process of its own so that
// its peak RSS is its own:
//
//  1. a bare paged LIST of all pods with client-go's pager (page size 500,
//     a no-op per pod);
//  2. the restarter's scan and plan, dry run;
//  3. a real run (its writes must equal the stale workloads), then, with
//     the patched Deployments made to look rolled out, a second real run
//     (0 writes).
//
// Progress goes to stderr; the markdown tables go to stdout. Run it with
// `make bench` (ARGS="--sizes 1000,10000 --reps 3" to shorten it); see
// docs/performance.md.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/loadavg"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

type config struct {
	sizes         []int
	reps          []int
	namespaces    int
	workers       int
	pageSize      int64
	moduleVersion string
	realRunsUpTo  int
	experiments   bool
	hold          bool
	// outsideMesh: as many pods without a proxy as with one, and the scan
	// with a label selector measured against the full one.
	outsideMesh bool
	// manager: also measure the operator's manager process over a full pass.
	manager bool
}

func main() {
	var (
		cfg         config
		sizes, reps string
		child       string
		workloads   int
		cpuProfile  string
	)
	flag.StringVar(&sizes, "sizes", "1000,10000,50000,100000", "numbers of pods to measure at, ascending; the cluster grows from one to the next")
	flag.StringVar(&reps, "reps", "5,5,3,3", "repetitions per size (one number for all sizes, or one per size); the median is reported")
	flag.IntVar(&cfg.namespaces, "namespaces", 20, "namespaces the pods are spread over")
	flag.IntVar(&cfg.workers, "workers", 32, "concurrent writers while creating objects")
	flag.Int64Var(&cfg.pageSize, "page-size", 500, "pods per LIST page, for both the bare LIST and the restarter")
	flag.StringVar(&cfg.moduleVersion, "module-version", sidecarmode.ModuleVersion, "module version whose decision the restarter checks against")
	flag.IntVar(&cfg.realRunsUpTo, "real-runs-up-to", 1_000_000, "measure the writes of real runs only at sizes up to this many pods")
	flag.StringVar(&child, "child", "", "internal: run one measurement ("+modeList+", "+modeScan+" or "+modeRun+") against $KUBECONFIG")
	flag.IntVar(&workloads, "workloads", 0, "internal: workloads in the cluster, for the "+modeOwners+" child")
	flag.BoolVar(&cfg.experiments, "experiments", false, "also measure alternatives: a streaming list (watch with sendInitialEvents) and concurrent owner reads")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "internal: write a CPU profile of the child's measured operation to this file")
	flag.BoolVar(&cfg.manager, "manager", true, "also measure the operator's manager process (built from ./cmd) over a full pass: install, readiness, scan, plan and patches")
	flag.BoolVar(&cfg.outsideMesh, "outside-mesh", false, "add as many pods without a proxy as with one, and measure the scan that lists only pods with the injector's label")
	flag.BoolVar(&cfg.hold, "hold", false, "only create the pods of the largest size, print KUBECONFIG and keep the cluster until interrupted")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if child != "" {
		err = runChildMode(ctx, child, childOptions{pageSize: cfg.pageSize, moduleVersion: cfg.moduleVersion,
			workloads: workloads, namespaces: cfg.namespaces, cpuProfile: cpuProfile})
	} else {
		err = cfg.parse(sizes, reps)
		if err == nil {
			err = run(ctx, cfg)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (c *config) parse(sizes, reps string) error {
	var err error
	if c.sizes, err = parseInts(sizes); err != nil {
		return fmt.Errorf("--sizes: %w", err)
	}
	for i := 1; i < len(c.sizes); i++ {
		if c.sizes[i] <= c.sizes[i-1] {
			return errors.New("--sizes must be ascending: the cluster only grows")
		}
	}
	if c.reps, err = parseInts(reps); err != nil {
		return fmt.Errorf("--reps: %w", err)
	}
	switch len(c.reps) {
	case len(c.sizes):
	case 1:
		for len(c.reps) < len(c.sizes) {
			c.reps = append(c.reps, c.reps[0])
		}
	default:
		// Fewer repetitions given than sizes: the last one counts for the rest.
		if len(c.reps) > len(c.sizes) {
			c.reps = c.reps[:len(c.sizes)]
		}
		for len(c.reps) < len(c.sizes) {
			c.reps = append(c.reps, c.reps[len(c.reps)-1])
		}
	}
	if c.namespaces <= 0 || c.workers <= 0 || c.pageSize <= 0 {
		return errors.New("--namespaces, --workers and --page-size must be positive")
	}
	return nil
}

func run(ctx context.Context, cfg config) (err error) {
	d, err := sidecarmode.Decide(cfg.moduleVersion, false, sidecarmode.ClusterFacts{})
	if err != nil {
		return err
	}
	if d.IstioVersion == staleVersion {
		return fmt.Errorf("the stale proxy version %s is the target: pick another module version", staleVersion)
	}
	logf("Starting kube-apiserver and etcd (API mode); target %s; load average %s", d.Target(), loadAverage())
	env, err := testenv.StartAPI()
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := env.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the test cluster: %w", stopErr))
		}
	}()
	// Populating is write-heavy: lift the client-side limits.
	restCfg := rest.CopyConfig(env.Config)
	restCfg.QPS, restCfg.Burst = 1000, 2000
	c, err := client.New(restCfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	cl := &cluster{c: c, namespaces: cfg.namespaces, workers: cfg.workers, target: d.IstioVersion}
	if err := cl.createNamespaces(ctx); err != nil {
		return err
	}
	// The code measured is the tree's now, before the manager is built: it
	// may change during a long run.
	source := sourceState()
	h := &harness{cfg: cfg, kubeconfig: env.Kubeconfig}
	if cfg.manager && !cfg.hold {
		if err := h.startManagerHarness(ctx, c); err != nil {
			return err
		}
	}

	if cfg.hold {
		// For profiling by hand: the children run against $KUBECONFIG, e.g.
		// `bench --child scan`.
		if err := cl.growTo(ctx, cfg.sizes[len(cfg.sizes)-1]); err != nil {
			return err
		}
		fmt.Println("KUBECONFIG=" + env.Kubeconfig)
		logf("Holding the cluster with %d pods until interrupted", cl.workloads*podsPerWorkload)
		<-ctx.Done()
		return nil
	}
	started := time.Now()
	var rows []row
	for i, n := range cfg.sizes {
		logf("Growing the cluster to %d pods (%d workloads, %d stale)", n, n/podsPerWorkload, staleWorkloads(n/podsPerWorkload))
		if err := cl.growTo(ctx, n); err != nil {
			return err
		}
		if cfg.outsideMesh {
			logf("Growing the pods outside the mesh to %d", n)
			if err := cl.growOutsideMeshTo(ctx, n); err != nil {
				return err
			}
		}
		r, err := h.measureSize(ctx, cl, n, cfg.reps[i])
		if err != nil {
			return fmt.Errorf("at %d pods: %w", n, err)
		}
		rows = append(rows, r)
	}

	printReport(cfg, rows, started, source)
	return nil
}

// printReport prints the header line, the tables of the measurements
// asked for and one line per target to stdout.
func printReport(cfg config, rows []row, started time.Time, source string) {
	fmt.Printf("Measured %s on %s, %d CPUs; load average at the end %s; total %s; %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), hostname(), numCPU(), loadAverage(),
		time.Since(started).Round(time.Second), source)
	writeTable(os.Stdout, rows)
	fmt.Println()
	writeBreakdown(os.Stdout, rows)
	fmt.Println()
	if cfg.experiments {
		writeExperiments(os.Stdout, rows)
		fmt.Println()
	}
	if cfg.outsideMesh {
		writeSelectedTable(os.Stdout, rows)
		fmt.Println()
	}
	if cfg.manager {
		writeManagerTable(os.Stdout, rows)
		fmt.Println()
	}
	for _, line := range targetLines(rows) {
		fmt.Println("- " + line)
	}
}

// harness runs the measurements as child processes of this binary.
type harness struct {
	cfg        config
	kubeconfig string
	// manager runs the operator's manager; nil without --manager.
	manager *managerHarness
}

// measureSize measures one size: warm-up, reps interleaved LISTs and scans,
// then the real runs.
func (h *harness) measureSize(ctx context.Context, cl *cluster, n, reps int) (row, error) {
	r := row{Pods: n, Reps: reps, Stale: staleWorkloads(cl.workloads), OutsideMesh: cl.outsideWorkloads * podsPerWorkload}
	logf("Measuring at %d pods: warm-up; load average %s", n, loadAverage())
	r.LoadBefore = strings.Fields(loadAverage())[0]
	for _, mode := range []string{modeList, modeScan} {
		if _, err := h.checkedChild(ctx, mode, r); err != nil {
			return r, err
		}
	}
	var lists, scans []childResult
	for rep := range reps {
		order := []string{modeList, modeScan}
		if rep%2 == 1 {
			order = []string{modeScan, modeList}
		}
		for _, mode := range order {
			res, err := h.checkedChild(ctx, mode, r)
			if err != nil {
				return r, err
			}
			if mode == modeList {
				lists = append(lists, res)
			} else {
				scans = append(scans, res)
			}
			logf("  rep %d %-4s %7.3f s  peak RSS %6.1f MiB  (%d requests, %.1f MiB read, %d GCs)", rep+1, mode, res.Seconds,
				float64(res.PeakRSSKiB)/1024, total(res.Requests), float64(res.ResponseBytes)/(1<<20), res.NumGC)
		}
	}
	r.setMedians(lists, scans)
	r.LoadAfter = strings.Fields(loadAverage())[0]
	logf("At %d pods: LIST %.3f s, scan %.3f s (%.2fx), scan peak RSS %.1f MiB; scan requests %v",
		n, r.List.Seconds(), r.Scan.Seconds(), r.Scan.Seconds()/r.List.Seconds(), float64(r.ScanRSS)/1024, scans[0].Requests)

	if h.cfg.experiments {
		if err := h.experiments(ctx, cl, &r, reps); err != nil {
			return r, err
		}
	}
	if h.cfg.outsideMesh {
		if err := h.selectedScans(ctx, &r, reps); err != nil {
			return r, err
		}
	}
	if n > h.cfg.realRunsUpTo {
		logf("Skipping the real runs at %d pods (--real-runs-up-to %d)", n, h.cfg.realRunsUpTo)
		return r, nil
	}
	if err := h.realRuns(ctx, cl, &r); err != nil {
		return r, err
	}
	if h.manager != nil {
		if err := h.managerPass(ctx, cl, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// selectedScans measures the scan that lists only the pods carrying
// meshMarkLabel; it must find what the full scan found.
func (h *harness) selectedScans(ctx context.Context, r *row, reps int) error {
	var scans []childResult
	for rep := range reps {
		res, err := h.checkedChild(ctx, modeScanSelected, *r)
		if err != nil {
			return err
		}
		scans = append(scans, res)
		logf("  rep %d %-13s %7.3f s  peak RSS %6.1f MiB  (%d requests, %.1f MiB read, %d GCs)", rep+1, modeScanSelected, res.Seconds,
			float64(res.PeakRSSKiB)/1024, total(res.Requests), float64(res.ResponseBytes)/(1<<20), res.NumGC)
	}
	r.ScanSelected = median(mapped(scans, func(c childResult) time.Duration { return secondsOf(c.Seconds) }))
	r.ScanSelectedRSS = median(mapped(scans, func(c childResult) int64 { return c.PeakRSSKiB }))
	r.SelectedRequests = median(mapped(scans, func(c childResult) int { return c.Requests["LIST pods"] }))
	r.SelectedLoadAfter = strings.Fields(loadAverage())[0]
	return nil
}

// checkedChild runs a bare LIST or a dry scan and fails when it did not see
// every pod of r's size (with the pods outside the mesh), or the scan did
// not find every pod with a proxy and every stale workload.
func (h *harness) checkedChild(ctx context.Context, mode string, r row) (childResult, error) {
	res, _, err := h.child(ctx, mode)
	if err != nil {
		return res, err
	}
	if mode == modeList && res.Pods != r.Pods+r.OutsideMesh {
		return res, fmt.Errorf("the bare LIST saw %d pods, want %d", res.Pods, r.Pods+r.OutsideMesh)
	}
	if mode == modeScan || mode == modeScanSelected {
		s := res.Summary
		if s.PodsScanned != r.Pods || s.StalePods != r.Stale*podsPerWorkload || s.Restarted != r.Stale {
			return res, fmt.Errorf("the dry run scanned %d pods, %d stale, %d workloads to restart; want %d, %d, %d",
				s.PodsScanned, s.StalePods, s.Restarted, r.Pods, r.Stale*podsPerWorkload, r.Stale)
		}
	}
	return res, nil
}

// setMedians fills r with the medians of the repetitions' LISTs and scans.
func (r *row) setMedians(lists, scans []childResult) {
	n := r.Pods
	rss := func(c childResult) int64 { return c.PeakRSSKiB }
	r.List = median(mapped(lists, func(c childResult) time.Duration { return secondsOf(c.Seconds) }))
	r.Scan = median(mapped(scans, func(c childResult) time.Duration { return secondsOf(c.Seconds) }))
	r.ListRSS, r.ScanRSS = median(mapped(lists, rss)), median(mapped(scans, rss))
	r.PodPages = median(mapped(scans, func(c childResult) time.Duration { return secondsOf(c.PagesSeconds) }))
	r.ListRequests = median(mapped(scans, func(c childResult) int { return c.Requests["LIST pods"] }))
	r.OwnerReads = median(mapped(scans, func(c childResult) int { return countPrefix(c.Requests, "GET ") }))
	r.BytesPerPod = median(mapped(lists, func(c childResult) float64 { return float64(c.ResponseBytes) / float64(n) }))
	r.ListAllocPod = median(mapped(lists, func(c childResult) float64 { return float64(c.AllocBytes) / float64(n) }))
	r.ScanAllocPod = median(mapped(scans, func(c childResult) float64 { return float64(c.AllocBytes) / float64(n) }))
	r.ListGCs = median(mapped(lists, func(c childResult) uint32 { return c.NumGC }))
	r.ScanGCs = median(mapped(scans, func(c childResult) uint32 { return c.NumGC }))
}

// experiments measures the alternatives to the restarter's reads: a
// streaming list of all pods, and its owner reads one after the other and
// concurrently.
func (h *harness) experiments(ctx context.Context, cl *cluster, r *row, reps int) error {
	var err error
	if r.WatchList, r.WatchListRSS, err = h.repeat(ctx, modeWatchList, "the streaming list saw", r.Pods, reps); err != nil {
		return err
	}
	r.Experiments = true
	if r.PodList, r.PodListRSS, err = h.repeat(ctx, modePodList, "the podlist pages held", r.Pods, reps); err != nil {
		return err
	}
	var seq, conc, listed []time.Duration
	for range reps {
		res, _, err := h.child(ctx, modeOwners, "--workloads", fmt.Sprint(cl.workloads))
		if err != nil {
			return err
		}
		seq, conc = append(seq, secondsOf(res.Seconds)), append(conc, secondsOf(res.ConcurrentSeconds))
		listed = append(listed, secondsOf(res.ListedSeconds))
	}
	r.OwnersSequential, r.OwnersConcurrent, r.OwnersListed = median(seq), median(conc), median(listed)
	logf("  owners of %d stale workloads: %.3f s one GET after the other, %.3f s with %d in flight; %.3f s to list all",
		r.Stale, r.OwnersSequential.Seconds(), r.OwnersConcurrent.Seconds(), ownerConcurrency, r.OwnersListed.Seconds())
	return nil
}

// repeat runs a child of mode reps times and returns the median time and
// peak RSS; every run must see wantPods pods (what names the count in the
// error).
func (h *harness) repeat(ctx context.Context, mode, what string, wantPods, reps int) (time.Duration, int64, error) {
	var times []time.Duration
	var rss []int64
	for rep := range reps {
		res, maxRSS, err := h.child(ctx, mode)
		if err != nil {
			return 0, 0, err
		}
		if res.Pods != wantPods {
			return 0, 0, fmt.Errorf("%s %d pods, want %d", what, res.Pods, wantPods)
		}
		times, rss = append(times, secondsOf(res.Seconds)), append(rss, maxRSS)
		logf("  rep %d %-9s %7.3f s  peak RSS %6.1f MiB  (%.1f MiB read, %d GCs)", rep+1, mode, res.Seconds,
			float64(maxRSS)/1024, float64(res.ResponseBytes)/(1<<20), res.NumGC)
	}
	return median(times), median(rss), nil
}

// realRuns measures the writes of a real run and of a second one after the
// restarted Deployments settled, then removes the restarter's markers so the
// next size starts from the same state.
func (h *harness) realRuns(ctx context.Context, cl *cluster, r *row) error {
	logf("Real run at %d pods", r.Pods)
	first, _, err := h.child(ctx, modeRun)
	if err != nil {
		return err
	}
	r.RealRuns, r.Writes, r.RunSeconds = true, first.Writes, secondsOf(first.Seconds)
	logf("  first run: %.3f s, %d writes (%v...), %d restarted", first.Seconds, first.Writes, first.WriteLog, first.Summary.Restarted)
	if got := first.Requests["PATCH deployments"]; got != first.Writes {
		return fmt.Errorf("the first real run made %d writes, of which %d Deployment patches: %v", first.Writes, got, first.Requests)
	}
	if first.Summary.Restarted != r.Stale {
		return fmt.Errorf("the first real run restarted %d workloads, want %d", first.Summary.Restarted, r.Stale)
	}
	marked, err := cl.markedDeployments(ctx)
	if err != nil {
		return err
	}
	want := cl.expectedStale()
	if err := sameKeys(marked, want); err != nil {
		return fmt.Errorf("after the first real run: %w", err)
	}
	// No controller rolls the patched Deployments out: make them look
	// rolled out, with the stale pods still there.
	if err := cl.forEach(ctx, marked, cl.settle); err != nil {
		return err
	}
	second, _, err := h.child(ctx, modeRun)
	if err != nil {
		return err
	}
	r.WritesAgain = second.Writes
	logf("  second run: %.3f s, %d writes %v, %d not converging, %d pending, %d restarted",
		second.Seconds, second.Writes, second.WriteLog, second.Summary.NotConverging, second.Summary.Pending, second.Summary.Restarted)
	// No loops: every restarted workload is now pending (its old pods look
	// like they are leaving) or not converging, never restarted again.
	if s := second.Summary; s.Restarted != 0 || s.NotConverging+s.Pending != len(want) {
		return fmt.Errorf("the second real run restarted %d workloads and reported %d not converging and %d pending, want 0 and %d in all",
			s.Restarted, s.NotConverging, s.Pending, len(want))
	}
	logf("  removing the markers of %d Deployments", len(marked))
	return cl.forEach(ctx, marked, cl.unmark)
}

// child runs one measurement in a child process and returns its result and
// its peak RSS in KiB.
func (h *harness) child(ctx context.Context, mode string, args ...string) (childResult, int64, error) {
	self, err := os.Executable()
	if err != nil {
		return childResult{}, 0, err
	}
	args = append([]string{"--child", mode, "--page-size", fmt.Sprint(h.cfg.pageSize),
		"--module-version", h.cfg.moduleVersion, "--namespaces", fmt.Sprint(h.cfg.namespaces)}, args...)
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+h.kubeconfig)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return childResult{}, 0, fmt.Errorf("child %s: %w", mode, err)
	}
	var res childResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return childResult{}, 0, fmt.Errorf("child %s printed %q: %w", mode, stdout.String(), err)
	}
	if res.PeakRSSKiB == 0 {
		return childResult{}, 0, fmt.Errorf("child %s could not read its peak RSS (VmHWM in /proc/self/status; Linux only)", mode)
	}
	return res, res.PeakRSSKiB, nil
}

func sameKeys(got map[string]*appsv1.Deployment, want map[string]bool) error {
	var extra, missing []string
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(extra)+len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("restarted Deployments differ from the stale ones: %d not stale but restarted %v, %d stale but not restarted %v",
		len(extra), head(extra), len(missing), head(missing))
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func mapped[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

func secondsOf(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func countPrefix(m map[string]int, prefix string) int {
	n := 0
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// loadAverage is the 1, 5 and 15 minute load average, " "-separated.
func loadAverage() string { return loadavg.String(" ") }

// sourceState names the commit measured and whether the measured code
// differs from it.
func sourceState() string {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "commit unknown"
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "commit unknown"
	}
	state := "commit " + strings.TrimSpace(string(head))
	// What the measured code is: the restarter's, and the manager's.
	measured := []string{"pkg", "controllers", "cmd", "api", "bench"}
	dirty, err := exec.Command("git", append([]string{"-C", root, "status", "--porcelain", "--"}, measured...)...).Output()
	if err == nil && len(bytes.TrimSpace(dirty)) > 0 {
		state += " with uncommitted changes in " + strings.Join(measured, ", ")
	}
	return state
}

func numCPU() int { return runtime.NumCPU() }

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown host"
	}
	return h
}
