// Package reliability is the scenario that the reliability specs
// (controllers/reliability) and `make chaos` run: the real operator, with a
// fault proxy between it and a real API server, installs Istio and then
// restarts a mix of workloads of every kind, with the real istiod injecting.
//
// A run has two phases, both through the proxy:
//
//  1. install: the Istio CR is created and the operator, acting as a
//     release whose istiod injects regular containers (RegularRow), installs
//     Istio 1.30.2 until the CR is Ready; then the workloads are created (not
//     through the proxy) and istiod injects them regular;
//  2. restart: the operator is restarted as this build's release (native
//     sidecars): it re-applies the control plane, and restarts every
//     restartable workload, whose proxies are now of the wrong type.
//
// Every workload the restarter restarts must roll out exactly once and be
// reported with one Event; the Job and the bare Pod are reported for a
// manual restart.
package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/controllers"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Namespaces of the scenario.
const (
	AppNamespace = "shop"
	CRNamespace  = "kyma-system"
)

// CRKey names the scenario's Istio CR.
var CRKey = client.ObjectKey{Namespace: CRNamespace, Name: "default"}

// RegularRow is the release the first phase acts as: Istio 1.30.2 with
// regular containers (a row of the scenario's own; the charts and istiod are
// the real ones).
var RegularRow = sidecarmode.Release{Module: "1.30.0-regular", Istio: testenv.IstioVersion,
	Default: sidecarmode.Regular, CompatibilityDefault: sidecarmode.Regular, Note: "regular, the scenario's starting point"}

// NativeRow is this build's release: native sidecars.
func NativeRow() sidecarmode.Release {
	r, err := sidecarmode.LookupRelease(sidecarmode.ModuleVersion)
	if err != nil {
		panic(err)
	}
	return r
}

// Restartable are the workloads the restarter restarts, as "Kind name".
var Restartable = []string{"DaemonSet agent", "Deployment api", "Deployment web", "StatefulSet db", "StatefulSet queue"}

// RolledOut are the Restartable workloads restarted by a pod-template
// patch (one IstioProxyRolloutRestarted Event each); the others' pods are
// evicted (one IstioProxyPodEvicted Event per pod).
var RolledOut = []string{"DaemonSet agent", "Deployment api", "Deployment web", "StatefulSet db"}

// Evicted is the Restartable workload whose pods are evicted, and how many.
const (
	Evicted     = "StatefulSet queue"
	EvictedPods = 2
)

// Manual are the workloads reported for a manual restart.
var Manual = []string{"Job batch", "Pod lonely"}

// Scenario is a test cluster with the real istiod.
type Scenario struct {
	Env    *testenv.Env
	Istiod *testenv.Istiod
	// ProgressRequeue of the operators the scenario starts.
	ProgressRequeue time.Duration
}

// Start starts the cluster (API server, controllers, kwok nodes) and istiod.
func Start() (*Scenario, error) {
	env, err := testenv.StartCluster()
	if err != nil {
		return nil, err
	}
	istiod, err := env.StartIstiod()
	if err != nil {
		return nil, errors.Join(err, env.Stop())
	}
	return &Scenario{Env: env, Istiod: istiod, ProgressRequeue: time.Second}, nil
}

// Stop stops everything Start started.
func (s *Scenario) Stop() error { return s.Env.Stop() }

// ManagerOptions are the operator's options for a release.
func (s *Scenario) ManagerOptions(release sidecarmode.Release) controllers.ManagerOptions {
	return controllers.ManagerOptions{
		MetricsAddr:          "0",
		ProbeAddr:            "0",
		ResyncPeriod:         time.Hour,
		ProgressRequeue:      s.ProgressRequeue,
		WarningRequeue:       s.ProgressRequeue,
		ErrorAfter:           controllers.DefaultErrorAfter,
		MaxConcurrentRollout: 5,
		PageSize:             500,
		IstioNamespace:       testenv.IstioNamespace,
		IstiodRemoteURL:      s.Istiod.URL(),
		ModuleVersion:        release.Module,
		Release:              &release,
		ShutdownTimeout:      10 * time.Second,
		SkipNameValidation:   true,
	}
}

// Manager is an operator started in this process.
type Manager struct {
	cancel context.CancelFunc
	done   chan error
}

// StartManager runs the real manager with cfg until Stop. Building it reads
// the API server's version through cfg, so it is retried on transient errors.
func StartManager(ctx context.Context, cfg *rest.Config, o controllers.ManagerOptions) (*Manager, error) {
	var m *Manager
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		mgr, _, err := controllers.NewManager(cfg, o)
		if err != nil {
			return false, nil //nolint:nilerr // through the fault proxy: try again
		}
		runCtx, cancel := context.WithCancel(context.Background())
		m = &Manager{cancel: cancel, done: make(chan error, 1)}
		go func() { m.done <- mgr.Start(runCtx) }()
		return true, nil
	})
	return m, err
}

// Stop stops the manager and returns what its Start returned.
func (m *Manager) Stop() error {
	m.cancel()
	return <-m.done
}

// CreateNamespaces creates the app namespace (injection on) and the CR's.
func (s *Scenario) CreateNamespaces(ctx context.Context) error {
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: AppNamespace, Labels: map[string]string{"istio-injection": "enabled"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: CRNamespace}},
	} {
		if err := s.Env.Client.Create(ctx, ns); err != nil {
			return err
		}
	}
	return nil
}

// CreateCR creates the Istio CR.
func (s *Scenario) CreateCR(ctx context.Context) error {
	return s.Env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: CRKey.Namespace, Name: CRKey.Name}})
}

func template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// Workloads are one of each kind: two Deployments, a StatefulSet rolled out
// and one whose pods are evicted (OnDelete), a DaemonSet, a Job and a bare
// Pod.
func Workloads() []client.Object {
	ns := AppNamespace
	deploy := func(name string, replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: selector(name), Template: template(name)}}
	}
	sts := func(name string, strategy appsv1.StatefulSetUpdateStrategyType) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: selector(name), Template: template(name),
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: strategy}}}
	}
	job := template("batch")
	job.Labels["kwok.istio-module.io/keep-running"] = "true"
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod := template("lonely")
	return []client.Object{
		deploy("web", 2),
		deploy("api", 1),
		sts("db", appsv1.RollingUpdateStatefulSetStrategyType),
		sts("queue", appsv1.OnDeleteStatefulSetStrategyType),
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"},
			Spec: appsv1.DaemonSetSpec{Selector: selector("agent"), Template: template("agent")}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "batch"}, Spec: batchv1.JobSpec{Template: job}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lonely", Labels: pod.Labels}, Spec: pod.Spec},
	}
}

// CreateWorkloads creates Workloads and waits until every pod runs an
// istio-proxy of the layout.
func (s *Scenario) CreateWorkloads(ctx context.Context, layout sidecarmode.Layout) error {
	for _, obj := range Workloads() {
		if err := s.Env.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		msg, err := s.proxiesAre(ctx, layout, append(slices.Clone(Restartable), Manual...))
		return msg == "" && err == nil, nil
	})
}

// proxiesAre returns "" when every live pod of the named workloads runs an
// istio-proxy of the layout and this build's Istio version, and each has a
// pod; else what is not yet so.
func (s *Scenario) proxiesAre(ctx context.Context, layout sidecarmode.Layout, workloads []string) (string, error) {
	var pods corev1.PodList
	if err := s.Env.Client.List(ctx, &pods, client.InNamespace(AppNamespace)); err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		app := p.Labels["app"]
		seen[app] = true
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Sprintf("pod %s is %s", p.Name, p.Status.Phase), nil
		}
		proxy := sidecarmode.Inspect(p.ObjectMeta, p.Spec)
		if !slices.ContainsFunc(workloads, func(w string) bool { return strings.HasSuffix(w, " "+app) }) {
			continue
		}
		if proxy.Layout != layout || proxy.Version != testenv.IstioVersion {
			return fmt.Sprintf("pod %s runs a %s proxy %s", p.Name, proxy.Layout, proxy.Version), nil
		}
	}
	for _, w := range workloads {
		if app := w[strings.IndexByte(w, ' ')+1:]; !seen[app] {
			return "no pod of " + w, nil
		}
	}
	return "", nil
}

// Converged returns "" when the CR is Ready, or Warning for the manual
// workloads only, for its generation and the release's container type, and
// every restartable workload's pods run native proxies of this build's
// Istio; else what is not yet so.
func (s *Scenario) Converged(ctx context.Context, layout sidecarmode.Layout, withWorkloads bool) (string, error) {
	var istio v1alpha2.Istio
	if err := s.Env.Client.Get(ctx, CRKey, &istio); err != nil {
		return "", err
	}
	st := istio.Status
	switch {
	case st.ObservedGeneration != istio.Generation:
		return "the status is of an older generation", nil
	case st.State != v1alpha2.StateReady && st.State != v1alpha2.StateWarning:
		return fmt.Sprintf("state %s: %s", st.State, st.Description), nil
	case string(layout) != "" && st.SidecarType != sidecarType(layout):
		return "sidecar type " + st.SidecarType, nil
	}
	if !withWorkloads {
		if st.State != v1alpha2.StateReady {
			return fmt.Sprintf("state %s: %s", st.State, st.Description), nil
		}
		return "", nil
	}
	pr := st.ProxyRestart
	if pr == nil {
		return "no restart summary", nil
	}
	if pr.Pending > 0 || pr.NotConverging > 0 {
		return fmt.Sprintf("pending %v, not converging %v", pr.PendingWorkloads, pr.NotConvergingWorkloads), nil
	}
	for _, w := range pr.ManualRestartWorkloads {
		if !slices.ContainsFunc(Manual, func(m string) bool {
			return strings.HasPrefix(w, strings.Fields(m)[0]+" ") && strings.HasSuffix(w, "/"+strings.Fields(m)[1])
		}) {
			return "manual restart reported for " + w, nil
		}
	}
	return s.proxiesAre(ctx, layout, Restartable)
}

func sidecarType(l sidecarmode.Layout) string {
	if l == sidecarmode.LayoutNative {
		return string(sidecarmode.Native)
	}
	return string(sidecarmode.Regular)
}

// WaitConverged polls Converged until it holds or timeout passes.
func (s *Scenario) WaitConverged(ctx context.Context, layout sidecarmode.Layout, withWorkloads bool, timeout time.Duration) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		msg, err := s.Converged(ctx, layout, withWorkloads)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = msg
		return msg == "", nil
	})
	if err != nil {
		return fmt.Errorf("not converged after %s: %s", timeout, last)
	}
	return nil
}

// Generations of the restartable workloads, "Kind name" -> generation: each
// pod-template change, so each rollout the operator starts, adds one.
func (s *Scenario) Generations(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, obj := range Workloads() {
		key := kindOf(obj) + " " + obj.GetName()
		if !slices.Contains(Restartable, key) {
			continue
		}
		if err := s.Env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return nil, err
		}
		out[key] = obj.GetGeneration()
	}
	return out, nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *appsv1.DaemonSet:
		return "DaemonSet"
	case *batchv1.Job:
		return "Job"
	}
	return "Pod"
}

// RestartEvents counts the restarter's IstioProxyRolloutRestarted and
// IstioProxyPodEvicted Events per "Kind name" of AppNamespace, each
// occurrence of a series once.
func (s *Scenario) RestartEvents(ctx context.Context) (map[string]int, error) {
	var events eventsv1.EventList
	if err := s.Env.Client.List(ctx, &events, client.InNamespace(AppNamespace)); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range events.Items {
		if e.Reason != restarter.EventRolloutRestarted && e.Reason != restarter.EventPodEvicted {
			continue
		}
		// client-go's recorder folds repeats about one object (the second
		// eviction of a workload's pods) into a series on the first Event.
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		out[e.Regarding.Kind+" "+e.Regarding.Name] += n
	}
	return out, nil
}

// StateRecorder records every state the CR's status had, from a watch.
type StateRecorder struct {
	mu     sync.Mutex
	states []string // "State: description"
	stop   func()
}

// RecordStates watches the CR until Stop.
func (s *Scenario) RecordStates(ctx context.Context) (*StateRecorder, error) {
	wc, err := client.NewWithWatch(s.Env.Config, client.Options{Scheme: s.Env.Scheme})
	if err != nil {
		return nil, err
	}
	w, err := wc.Watch(ctx, &v1alpha2.IstioList{}, client.InNamespace(CRNamespace))
	if err != nil {
		return nil, err
	}
	r := &StateRecorder{stop: w.Stop}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			if istio, ok := ev.Object.(*v1alpha2.Istio); ok && istio.Status.State != "" {
				r.mu.Lock()
				r.states = append(r.states, string(istio.Status.State)+": "+istio.Status.Description)
				r.mu.Unlock()
			}
		}
	}()
	return r, nil
}

// Stop ends the watch.
func (r *StateRecorder) Stop() { r.stop() }

// Errors are the recorded states that were Error.
func (r *StateRecorder) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.states {
		if strings.HasPrefix(s, string(v1alpha2.StateError)+":") {
			out = append(out, s)
		}
	}
	return out
}

// ProcessingWithError are the recorded Processing states that carry an error.
func (r *StateRecorder) ProcessingWithError() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.states {
		if strings.HasPrefix(s, string(v1alpha2.StateProcessing)+":") && strings.Contains(s, "retrying") {
			out = append(out, s)
		}
	}
	return out
}

// Result is what one run of the scenario measured.
type Result struct {
	Rate float64
	// Install is from creating the CR to Ready (phase 1); Restart from
	// starting the native operator to converged (phase 2).
	Install, Restart time.Duration
	// Rollouts per restartable workload in phase 2 (generation changes).
	Rollouts map[string]int64
	// Events are IstioProxyRolloutRestarted and IstioProxyPodEvicted Events
	// per workload.
	Events map[string]int
	// ErrorStates are the Error states the CR had while progressing.
	ErrorStates []string
	// TransientShown counts Processing states that carried an error.
	TransientShown int
	Stats          testenv.FaultStats
}

// Options of a run.
type Options struct {
	Rate float64
	Seed int64
	// Faults; empty means all.
	Faults []testenv.Fault
	// Exempt requests always pass (see testenv.EventWrites).
	Exempt  func(*http.Request) bool
	Timeout time.Duration
}

// Run runs both phases on a fresh scenario (no CR, no workloads yet).
func (s *Scenario) Run(ctx context.Context, o Options) (Result, error) {
	res := Result{Rate: o.Rate}
	proxy, err := s.Env.StartFaultProxy(testenv.FaultOptions{Rate: o.Rate, Seed: o.Seed, Faults: o.Faults, Exempt: o.Exempt})
	if err != nil {
		return res, err
	}
	defer proxy.Close()
	if err := s.CreateNamespaces(ctx); err != nil {
		return res, err
	}
	rec, err := s.RecordStates(ctx)
	if err != nil {
		return res, err
	}
	defer rec.Stop()

	start := time.Now()
	if err := s.CreateCR(ctx); err != nil {
		return res, err
	}
	mgr, err := StartManager(ctx, proxy.Config(), s.ManagerOptions(RegularRow))
	if err != nil {
		return res, err
	}
	if err := s.WaitConverged(ctx, sidecarmode.LayoutRegular, false, o.Timeout); err != nil {
		return res, errors.Join(fmt.Errorf("install: %w", err), mgr.Stop())
	}
	res.Install = time.Since(start)
	if err := mgr.Stop(); err != nil {
		return res, fmt.Errorf("stop the operator: %w", err)
	}
	if err := s.CreateWorkloads(ctx, sidecarmode.LayoutRegular); err != nil {
		return res, fmt.Errorf("create workloads: %w", err)
	}
	before, err := s.Generations(ctx)
	if err != nil {
		return res, err
	}

	start = time.Now()
	mgr, err = StartManager(ctx, proxy.Config(), s.ManagerOptions(NativeRow()))
	if err != nil {
		return res, err
	}
	defer func() { _ = mgr.Stop() }()
	if err := s.WaitConverged(ctx, sidecarmode.LayoutNative, true, o.Timeout); err != nil {
		return res, fmt.Errorf("restart: %w", err)
	}
	res.Restart = time.Since(start)
	res.Stats = proxy.Stats()
	after, err := s.Generations(ctx)
	if err != nil {
		return res, err
	}
	res.Rollouts = map[string]int64{}
	for k, g := range after {
		res.Rollouts[k] = g - before[k]
	}
	// Events are written asynchronously: give the broadcaster a moment.
	_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := s.RestartEvents(ctx)
		if err != nil {
			// Keep the last listing: the poll's final call may come after its
			// deadline.
			return false, nil
		}
		res.Events = events
		return len(events) >= len(Restartable) && events[Evicted] >= EvictedPods, nil
	})
	res.ErrorStates = rec.Errors()
	res.TransientShown = len(rec.ProcessingWithError())
	return res, nil
}

// Keys returns m's keys sorted.
func Keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
