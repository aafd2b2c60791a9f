package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/loadavg"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

type config struct {
	deployments     int
	replicas        int32
	workers         int
	slots           int           // the operator's --max-concurrent-rollouts
	progressRequeue time.Duration // the operator's --progress-requeue
	samples         int           // rollouts timed alone and in batches
	timeout         time.Duration // for each wait on all pods
}

// result is one run's measurements.
type result struct {
	deployments, pods int
	// populate is from creating the Deployments until every pod runs
	// istiod 1.29.2's proxy and is Ready.
	populate time.Duration
	// upgrade is from the CR change to the last fresh pod; ready to the
	// CR's state Ready; firstPatch to the operator's first Deployment
	// patch, once the new control plane serves.
	upgrade, ready, firstPatch time.Duration
	// oneRollout is one Deployment's rollout alone; batchRollout slots of
	// them at once.
	oneRollout, batchRollout time.Duration
	writes                   map[string]int
	passes                   int            // the restarter's scans of all pods
	events                   map[string]int // the operator's Events about the Deployments, by reason
	rolledOnce               int            // Deployments whose pod template changed exactly once
	peakRSSKiB               int64
	// load averages (1 minute) before the CR change and at the last fresh pod.
	loadBefore, loadAfter string
	slots                 int
	progressRequeue       time.Duration
}

var (
	stale = proxyState{layout: sidecarmode.LayoutNative, version: testenv.PreviousIstioVersion, ready: true}
	fresh = proxyState{layout: sidecarmode.LayoutNative, version: testenv.IstioVersion, ready: true}
)

// run starts a test cluster with istiod 1.29.2 and the stale workloads,
// then upgrades with this build's manager and measures it.
func run(ctx context.Context, cfg config) (res result, err error) {
	res = result{deployments: cfg.deployments, pods: cfg.deployments * int(cfg.replicas), slots: cfg.slots, progressRequeue: cfg.progressRequeue}
	progress("starting the test cluster and istiod")
	env, err := startCluster()
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			env.KeepLogs()
		}
		err = errors.Join(err, env.Stop())
	}()
	built := make(chan error, 1)
	var bin string
	go func() {
		var err error
		bin, err = testenv.BuildManager(ctx, env.Dir)
		built <- err
	}()
	istiod, err := env.StartIstiod()
	if err != nil {
		return res, err
	}
	tracker, err := trackPods(ctx, env.Config)
	if err != nil {
		return res, err
	}
	defer tracker.Stop()
	if res.populate, err = populate(ctx, env, istiod, tracker, cfg); err != nil {
		return res, err
	}
	if err := <-built; err != nil {
		return res, err
	}
	if err := upgrade(ctx, env, istiod, tracker, bin, cfg, &res); err != nil {
		return res, err
	}
	progress("timing rollouts alone and %d at once", cfg.slots)
	res.oneRollout, res.batchRollout, err = rolloutTimes(ctx, env, cfg.deployments, cfg.slots, cfg.samples, cfg.replicas)
	return res, err
}

// populate installs Istio 1.29.2 and creates the Deployments; it returns
// once every pod runs istiod 1.29.2's native proxy and is Ready.
func populate(ctx context.Context, env *testenv.Env, istiod *testenv.Istiod, tracker *podTracker, cfg config) (time.Duration, error) {
	progress("installing Istio %s", testenv.PreviousIstioVersion)
	if err := installPrevious(ctx, env, istiod); err != nil {
		return 0, err
	}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespacePrefix + "probe",
		Labels: map[string]string{"istio-injection": "enabled"}}}); err != nil {
		return 0, err
	}
	if err := waitInjecting(ctx, env, namespacePrefix+"probe", stale); err != nil {
		return 0, err
	}
	progress("creating %d Deployments of %d pods", cfg.deployments, cfg.replicas)
	start := time.Now()
	if err := createWorkloads(ctx, env, cfg.deployments, cfg.replicas, cfg.workers); err != nil {
		return 0, err
	}
	at, err := tracker.waitAll(ctx, cfg.deployments*int(cfg.replicas), stale, cfg.timeout)
	if err != nil {
		return 0, fmt.Errorf("stale workloads: %w", err)
	}
	return at.Sub(start), nil
}

// upgrade starts this build's manager, creates the Istio CR (the change it
// acts on) and waits for the last fresh pod and the CR's Ready.
func upgrade(ctx context.Context, env *testenv.Env, istiod *testenv.Istiod, tracker *podTracker, bin string, cfg config, res *result) error {
	before, err := generations(ctx, env)
	if err != nil {
		return err
	}
	mgr, err := startManager(ctx, env, istiod, bin, env.Dir, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = mgr.Stop() }()
	res.loadBefore = load1()
	progress("creating the Istio CR: upgrade to Istio %s begins", testenv.IstioVersion)
	start := time.Now()
	if err := env.Client.Create(ctx, &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: crKey.Namespace, Name: crKey.Name}}); err != nil {
		return err
	}
	at, err := tracker.waitAll(ctx, res.pods, fresh, cfg.timeout)
	if err != nil {
		return fmt.Errorf("upgrade: %w (manager log in %s)", err, env.Dir)
	}
	res.upgrade = at.Sub(start)
	res.firstPatch = mgr.writes.firstOf(writeWorkload).Sub(start)
	res.loadAfter = load1()
	if err := waitReady(ctx, env); err != nil {
		return err
	}
	res.ready = time.Since(start)
	if res.peakRSSKiB, err = mgr.PeakRSSKiB(); err != nil {
		return err
	}
	res.writes = mgr.writes.snapshot()
	res.passes = mgr.writes.passes()
	if err := mgr.Stop(); err != nil {
		return fmt.Errorf("stop the manager: %w", err)
	}
	after, err := generations(ctx, env)
	if err != nil {
		return err
	}
	for name, g := range after {
		if g == before[name]+1 {
			res.rolledOnce++
		}
	}
	res.events, err = eventReasons(ctx, env)
	return err
}

// eventReasons counts the Events in the benchmark's namespaces by reason,
// each occurrence of a series once.
func eventReasons(ctx context.Context, env *testenv.Env) (map[string]int, error) {
	var events eventsv1.EventList
	if err := env.Client.List(ctx, &events); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range events.Items {
		if !strings.HasPrefix(e.Namespace, namespacePrefix) || e.ReportingController != "istio-module" {
			continue
		}
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		out[e.Reason] += n
	}
	return out, nil
}

var crKey = client.ObjectKey{Namespace: "kyma-system", Name: "default"}

// waitReady waits until the Istio CR is Ready for its generation.
func waitReady(ctx context.Context, env *testenv.Env) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var istio v1alpha2.Istio
		if err := env.Client.Get(ctx, crKey, &istio); err != nil {
			return false, err
		}
		last = fmt.Sprintf("%s: %s", istio.Status.State, istio.Status.Description)
		return istio.Status.State == v1alpha2.StateReady && istio.Status.ObservedGeneration == istio.Generation, nil
	})
	if err != nil {
		return fmt.Errorf("the Istio CR is not Ready after the last fresh pod: %s", last)
	}
	return nil
}

// generations are the benchmark's Deployments' generations by
// namespace/name: each pod-template change adds one.
func generations(ctx context.Context, env *testenv.Env) (map[string]int64, error) {
	var list appsv1.DeploymentList
	if err := env.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, d := range list.Items {
		if strings.HasPrefix(d.Namespace, namespacePrefix) {
			out[d.Namespace+"/"+d.Name] = d.Generation
		}
	}
	return out, nil
}

// load1 is the 1-minute load average.
func load1() string {
	loads, ok := loadavg.Read()
	if !ok {
		return "unknown"
	}
	return loads[0]
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s upgrade: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}
