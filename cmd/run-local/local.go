package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/controllers"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// errInterrupted: SIGINT or SIGTERM arrived.
var errInterrupted = errors.New("interrupted")

// runLocal runs the whole demo. Whatever happens, every process it started
// is stopped before it returns: the deferred stops run in reverse order of
// the starts (operator, istiod, then the cluster).
func runLocal(ctx context.Context, o options, p *printer) (err error) {
	defer announceInterrupt(ctx, p)()
	run, err := newLocalRun(o, p)
	if err != nil {
		return err
	}
	release, err := run.prepare()
	if err != nil {
		return err
	}
	defer release()
	if err := ensureAssets(ctx, run.root, p); err != nil {
		return err
	}
	// The time limit counts from here: building the binaries once may take
	// far longer and is not the demo's fault.
	deadline := time.Now().Add(o.timeout)
	setupCtx, cancelSetup := context.WithDeadline(ctx, deadline)
	defer cancelSetup()
	interrupted := func(err error) error {
		if ctx.Err() != nil {
			return errInterrupted
		}
		if setupCtx.Err() != nil {
			return fmt.Errorf("the demo did not converge within --timeout %s: %w", o.timeout, err)
		}
		return err
	}

	env, stopCluster, err := run.startCluster(ctx)
	defer func() { err = errors.Join(err, stopCluster()) }()
	if err != nil {
		return err
	}
	istiod, stopIstiod, err := startIstiod(env)
	if err != nil {
		return err
	}
	defer func() {
		p.Printf("Stopping istiod")
		stopIstiod()
	}()
	before, err := run.installHistory(setupCtx, env, istiod)
	if err != nil {
		return interrupted(err)
	}
	cr, err := applySamples(setupCtx, env.Client, run.root, p)
	if err != nil {
		return interrupted(err)
	}

	w, mgrExited, stopOperator, err := run.startOperator(env, istiod, cr, before)
	if err != nil {
		return err
	}
	defer func() {
		p.Printf("Stopping the operator")
		if stopErr := stopOperator(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("the operator: %w", stopErr))
		}
	}()
	err = w.run(ctx, o.once, deadline, mgrExited)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

// announceInterrupt says so when ctx ends (SIGINT or SIGTERM) before the
// returned function is called.
func announceInterrupt(ctx context.Context, p *printer) (finished func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			p.Printf("Interrupted: stopping everything this run started")
		case <-done:
		}
	}()
	return func() { close(done) }
}

// localRun is one run of the demo: where its state goes and what it knows
// about the cluster once it is up.
type localRun struct {
	o           options
	p           *printer
	root        string
	stateDir    string
	clusterDir  string
	kubeconfig  string
	operatorLog string
	kubeVersion string
}

func newLocalRun(o options, p *printer) (*localRun, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, fmt.Errorf("%w (run it from the repository, e.g. with `make run-local`)", err)
	}
	stateDir, err := filepath.Abs(o.stateDir)
	if err != nil {
		return nil, err
	}
	return &localRun{o: o, p: p, root: root, stateDir: stateDir,
		clusterDir:  filepath.Join(stateDir, "cluster"),
		kubeconfig:  filepath.Join(stateDir, "kubeconfig"),
		operatorLog: filepath.Join(stateDir, "operator.log"),
	}, nil
}

// prepare takes the state folder for this run, clears the previous run's
// state and sends the operator's log to its file. release gives both back.
func (r *localRun) prepare() (release func(), err error) {
	unlock, err := lockStateDir(r.stateDir)
	if err != nil {
		return nil, err
	}
	for _, stale := range []string{r.clusterDir, r.kubeconfig} {
		if err := os.RemoveAll(stale); err != nil {
			unlock()
			return nil, fmt.Errorf("remove the previous run's state: %w", err)
		}
	}
	logFile, err := os.Create(r.operatorLog)
	if err != nil {
		unlock()
		return nil, err
	}
	logger := zap.New(zap.WriteTo(logFile))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	return func() { _ = logFile.Close(); unlock() }, nil
}

// startCluster starts the embedded cluster, writes its kubeconfig and says
// how to look at it. stop stops it (also after an error) and says so.
func (r *localRun) startCluster(ctx context.Context) (env *testenv.Env, stop func() error, err error) {
	p := r.p
	p.Printf("Starting the cluster: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok with %d fake nodes", r.o.nodes)
	started := time.Now()
	env, err = testenv.StartCluster(testenv.WithNodes(r.o.nodes), testenv.WithDir(r.clusterDir))
	if err != nil {
		return nil, func() error { return nil }, fmt.Errorf("start the cluster (logs in %s): %w", displayPath(r.clusterDir), err)
	}
	stop = func() error {
		p.Printf("Stopping the cluster: kube-scheduler, kube-controller-manager, kwok, kube-apiserver, etcd")
		_ = os.Remove(r.kubeconfig) // it points at a cluster that is going away
		if err := env.Stop(); err != nil {
			return fmt.Errorf("stop the cluster: %w", err)
		}
		p.Printf("Stopped every process; logs in %s, the operator's in %s", displayPath(r.clusterDir), displayPath(r.operatorLog))
		return nil
	}
	if ctx.Err() != nil {
		return nil, stop, errInterrupted
	}
	if r.kubeVersion, err = controllers.ServerVersion(env.Config); err != nil {
		return nil, stop, err
	}
	if err := copyFile(env.Kubeconfig, r.kubeconfig); err != nil {
		return nil, stop, fmt.Errorf("write the kubeconfig: %w", err)
	}
	p.Printf("Cluster up in %.1fs: Kubernetes %s, %d nodes with kubelet %s", time.Since(started).Seconds(), r.kubeVersion, r.o.nodes, testenv.KubeletVersion)
	kc := displayPath(r.kubeconfig)
	p.Lines(
		"kubeconfig: "+kc,
		"  kubectl --kubeconfig "+kc+" get istio -A",
		"  kubectl --kubeconfig "+kc+" get pods -n "+demoNamespace,
		"  kubectl --kubeconfig "+kc+" istio-proxies status    (the plugin: `make build`, then put bin/ on PATH)",
		"logs: "+displayPath(r.clusterDir)+"/*.log, operator: "+displayPath(r.operatorLog),
	)
	return env, stop, nil
}

// demoFacts are the cluster facts of the demo's fake nodes.
var demoFacts = sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion}

// installHistory installs the Istio the operator finds and the workloads
// it injected: first the time of module 1.21, when istiod was told not to
// inject native sidecars; then Istio 1.29.2 as module 1.27.3 left it. It
// returns the demo workloads' proxies before the operator starts.
func (r *localRun) installHistory(ctx context.Context, env *testenv.Env, istiod *testenv.Istiod) (map[string]string, error) {
	previousRow, err := sidecarmode.LookupRelease(previousModule)
	if err != nil {
		return nil, err
	}
	regularRow := previousRow
	regularRow.Default, regularRow.CompatibilityDefault = sidecarmode.Regular, sidecarmode.Regular
	before := map[string]string{}
	for _, step := range []struct {
		d   sidecarmode.Decision
		e   era
		why string
	}{
		{sidecarmode.DecideFor(regularRow, false, demoFacts), eraRegular, "with native sidecars switched off as module 1.21 had them"},
		{sidecarmode.DecideFor(previousRow, false, demoFacts), eraNative, "as module " + previousModule + " left it"},
	} {
		if err := installPrevious(ctx, env, istiod, r.kubeVersion, step.d, step.why, r.p); err != nil {
			return nil, err
		}
		if err := createDemo(ctx, env.Client, step.d, step.e, before, r.p); err != nil {
			return nil, err
		}
	}
	return before, nil
}

// startOperator starts this build's operator in this process and the
// watcher that reports what it does.
func (r *localRun) startOperator(env *testenv.Env, istiod *testenv.Istiod, cr *v1alpha2.Istio, before map[string]string) (*watcher, <-chan struct{}, func() error, error) {
	module := sidecarmode.ModuleVersion
	target, err := sidecarmode.Decide(module, cr.Spec.CompatibilityMode, demoFacts)
	if err != nil {
		return nil, nil, nil, err
	}
	mgrExited, stopOperator, err := startOperator(env, istiod.URL(), module)
	if err != nil {
		return nil, nil, nil, err
	}
	r.p.Printf("Operator started in this process: module %s installs Istio %s with %s sidecars by default (its log: %s)",
		module, target.IstioVersion, target.DefaultType, displayPath(r.operatorLog))
	w := &watcher{
		c:          env.Client,
		installer:  install.New(env.Client, install.Options{KubeVersion: r.kubeVersion, IstiodRemoteURL: istiod.URL()}),
		istiod:     istiod,
		lastIstiod: runningIstiod(istiod),
		cr:         client.ObjectKeyFromObject(cr),
		module:     module,
		before:     before,
		p:          r.p,
		started:    time.Now(),
	}
	return w, mgrExited, stopOperator, nil
}

// startIstiod runs the real istiod as a local process that follows the
// istio-system/istiod Deployment as a kubelet would: it starts when an
// install creates the Deployment and restarts when an upgrade changes it.
// stop ends it and waits.
func startIstiod(env *testenv.Env) (istiod *testenv.Istiod, stop func(), err error) {
	istiod, err = env.NewIstiod()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		istiod.Run(ctx)
	}()
	return istiod, func() { cancel(); <-done }, nil
}

// startOperator runs the operator's manager in this process, as the given
// module release, with requeue times short enough to watch. exited closes
// when the manager stops; stop stops it and returns its error.
func startOperator(env *testenv.Env, istiodURL, module string) (exited <-chan struct{}, stop func() error, err error) {
	mgr, _, err := controllers.NewManager(rest.CopyConfig(env.Config), controllers.ManagerOptions{
		MetricsAddr:          "0",
		ProbeAddr:            "0",
		ResyncPeriod:         time.Minute,
		ProgressRequeue:      2 * time.Second,
		WarningRequeue:       10 * time.Second,
		MaxConcurrentRollout: 5,
		PageSize:             500,
		IstioNamespace:       testenv.IstioNamespace,
		IstiodRemoteURL:      istiodURL,
		ModuleVersion:        module,
		ShutdownTimeout:      10 * time.Second,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create the operator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mgrErr error
	go func() {
		defer close(done)
		mgrErr = mgr.Start(ctx)
	}()
	return done, func() error { cancel(); <-done; return mgrErr }, nil
}

// ensureAssets makes sure KUBEBUILDER_ASSETS names the test cluster's
// binaries, building them with hack/test-cluster.sh when it is not set.
func ensureAssets(ctx context.Context, root string, p *printer) error {
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return nil
	}
	p.Printf("KUBEBUILDER_ASSETS is not set: building the cluster's binaries with hack/test-cluster.sh if missing (the first build takes 10 to 20 minutes)")
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "test-cluster.sh"))
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("hack/test-cluster.sh: %w", err)
	}
	return os.Setenv("KUBEBUILDER_ASSETS", strings.TrimSpace(string(out)))
}

// lockStateDir keeps two runs from sharing a state folder: the second would
// delete the first one's cluster state.
func lockStateDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("another run-local uses %s: stop it, or pass another --state-dir", displayPath(dir))
	}
	return func() { _ = f.Close() }, nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}
