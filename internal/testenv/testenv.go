// Package testenv starts the real Kubernetes control plane that every test
// suite of this repository runs against: kube-apiserver and etcd through
// controller-runtime's envtest (API mode), plus kube-controller-manager,
// kube-scheduler and kwok with fake nodes (cluster mode), so Deployments get
// ReplicaSets and Pods that reach Running, and pod-template changes roll out.
//
// The binaries come from hack/test-cluster.sh (built from Go modules, since
// setup-envtest cannot download here); KUBEBUILDER_ASSETS names their folder.
// There is one way to start a test cluster: this package.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	operatorv1alpha2 "github.com/istio-module/operator/api/v1alpha2"
)

// KubeletVersion is what the fake nodes report, so the operator's kubelet gate
// sees a cluster that supports native sidecars unless a test says otherwise.
const KubeletVersion = "v1.37.2"

// Env is a running test control plane.
type Env struct {
	// Config is an admin (system:masters) connection to the API server.
	Config *rest.Config
	// Client uses Scheme, which knows the built-in kinds and the Istio CR.
	Client client.Client
	Scheme *runtime.Scheme
	// Kubeconfig is a file with the admin connection, for processes and kubectl.
	Kubeconfig string
	// Assets is the folder with the control-plane binaries.
	Assets string
	// Dir holds the processes' logs and state; it is removed by Stop.
	Dir string

	envtest   *envtest.Environment
	reaper    *reaper    // kills envtest's kube-apiserver and etcd if this process dies
	mu        sync.Mutex // guards processes and cleanups: istiod restarts from its own goroutine
	processes []*process
	cleanups  []func() // run first by Stop, last added first
	keepDir   bool
	// componentFlags are appended to the cluster-mode components' flags.
	componentFlags map[string][]string
}

// options of a start.
type options struct {
	nodes          int
	kubeletVersion string
	crdPaths       []string
	dir            string              // see WithDir; "" means a temporary directory
	componentFlags map[string][]string // see WithComponentFlags
}

// Option tunes a start.
type Option func(*options)

// WithNodes sets how many fake nodes cluster mode creates (default 3).
func WithNodes(n int) Option { return func(o *options) { o.nodes = n } }

// WithKubeletVersion sets the kubelet version the fake nodes report.
func WithKubeletVersion(v string) Option { return func(o *options) { o.kubeletVersion = v } }

// WithCRDs adds CRD files or folders to install besides config/crd/bases.
func WithCRDs(paths ...string) Option {
	return func(o *options) { o.crdPaths = append(o.crdPaths, paths...) }
}

// StartAPI starts kube-apiserver and etcd with the Istio CRD installed. Nothing
// acts on the objects: no controllers, no nodes.
func StartAPI(opts ...Option) (*Env, error) {
	return start(false, opts)
}

// StartCluster starts the API server with ServiceAccount admission on (as in a
// real cluster), then kube-controller-manager, kube-scheduler and kwok, and
// creates fake nodes that kwok keeps Ready, so workloads really roll out.
func StartCluster(opts ...Option) (*Env, error) {
	return start(true, opts)
}

func start(cluster bool, opts []Option) (env *Env, err error) {
	o := options{nodes: 3, kubeletVersion: KubeletVersion}
	for _, opt := range opts {
		opt(&o)
	}
	assets, err := assetsDir()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := stateDir(o.dir)
	if err != nil {
		return nil, err
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "config", "crd", "bases")}, o.crdPaths...),
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	if cluster {
		// envtest turns ServiceAccount admission off because it runs no
		// controller that creates service accounts; cluster mode runs one, and
		// Istio-injected pods mount a projected token that needs the account.
		te.ControlPlane.GetAPIServer().Configure().Set("disable-admission-plugins", "")
	}
	env = &Env{Scheme: scheme, Assets: assets, Dir: dir, envtest: te, keepDir: o.dir != "", componentFlags: o.componentFlags}
	defer func() {
		if err != nil {
			_ = env.Stop()
			env = nil
		}
	}()
	if err := env.connect(); err != nil {
		return env, err
	}
	if !cluster {
		return env, nil
	}
	return env, env.startCluster(o)
}

// assetsDir is KUBEBUILDER_ASSETS, checked to hold the control plane.
func assetsDir() (string, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export KUBEBUILDER_ASSETS=$(hack/test-cluster.sh)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return "", fmt.Errorf("%s is missing in KUBEBUILDER_ASSETS=%s: run hack/test-cluster.sh to build it", bin, assets)
		}
	}
	return assets, nil
}

// stateDir is the folder for the cluster's files: dir, created if needed,
// or a new temporary folder when dir is "".
func stateDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "testenv-")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// newScheme knows Kubernetes' built-in kinds, CRDs and the Istio CR.
func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, operatorv1alpha2.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

// connect starts the control plane and gives the Env its admin config,
// kubeconfig file and client.
func (e *Env) connect() error {
	cfg, err := e.startControlPlane()
	if err != nil {
		return err
	}
	// Tests create many objects quickly; the default client-side limits would
	// throttle them and slow every suite.
	cfg.QPS, cfg.Burst = 500, 1000
	e.Config = cfg
	e.Kubeconfig = filepath.Join(e.Dir, "admin.kubeconfig")
	if err := writeKubeconfig(e.envtest, e.Kubeconfig); err != nil {
		return err
	}
	e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme})
	return err
}

// startCluster adds what makes the control plane a cluster: the
// controllers, kwok's nodes and the default ServiceAccount pods need.
func (e *Env) startCluster(o options) error {
	if err := e.startControllers(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.CreateNodes(ctx, o.nodes, o.kubeletVersion); err != nil {
		return err
	}
	return e.waitForDefaultServiceAccount(ctx)
}

// startControlPlane starts envtest's kube-apiserver and etcd, and a reaper
// that kills them should this process die before Stop.
func (e *Env) startControlPlane() (*rest.Config, error) {
	startMu.Lock()
	defer startMu.Unlock()
	const apiServer, etcd = "kube-apiserver", "etcd"
	before, err := children(apiServer, etcd)
	if err != nil {
		return nil, fmt.Errorf("list this process's children: %w", err)
	}
	cfg, err := e.envtest.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd: %w", err)
	}
	after, err := children(apiServer, etcd)
	if err != nil {
		return nil, fmt.Errorf("list this process's children: %w", err)
	}
	if e.reaper, err = reapOnExit(newPIDs(before, after)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Stop stops every process this Env started, then the API server and etcd.
// It is safe to call on a partly started Env.
func (e *Env) Stop() error {
	var errs []error
	e.mu.Lock()
	cleanups := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	e.mu.Lock()
	processes := e.processes
	e.mu.Unlock()
	for i := len(processes) - 1; i >= 0; i-- {
		errs = append(errs, processes[i].stop())
	}
	if e.envtest != nil {
		e.reaper.stop()
		errs = append(errs, e.envtest.Stop())
	}
	if e.keepDir || os.Getenv("TESTENV_KEEP") != "" {
		fmt.Fprintf(os.Stderr, "testenv: logs of the test cluster kept in %s\n", e.Dir)
	} else {
		errs = append(errs, os.RemoveAll(e.Dir))
	}
	return errors.Join(errs...)
}

// KeepLogs keeps Dir with the processes' logs after Stop, e.g. when a test failed.
func (e *Env) KeepLogs() { e.keepDir = true }

// CreateNodes creates n fake nodes (kwok keeps them Ready) reporting the given
// kubelet version, named kwok-node-<i> after those that exist.
func (e *Env) CreateNodes(ctx context.Context, n int, kubeletVersion string) error {
	var existing corev1.NodeList
	if err := e.Client.List(ctx, &existing); err != nil {
		return err
	}
	for i := range n {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", len(existing.Items)+i),
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/os": "linux"},
			},
		}
		if err := e.Client.Create(ctx, node); err != nil {
			return fmt.Errorf("create node %s: %w", node.Name, err)
		}
		if err := e.SetKubeletVersion(ctx, node.Name, kubeletVersion); err != nil {
			return err
		}
	}
	return nil
}

// SetKubeletVersion makes a node report the given kubelet version; kwok keeps
// a version that is set.
func (e *Env) SetKubeletVersion(ctx context.Context, nodeName, version string) error {
	patch := fmt.Appendf(nil, `{"status":{"nodeInfo":{"kubeletVersion":%q}}}`, version)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
	if err := e.Client.Status().Patch(ctx, node, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("set kubelet version of node %s: %w", nodeName, err)
	}
	return nil
}

// waitForDefaultServiceAccount waits until the controller-manager has created
// the default namespace's service account, the sign that it is working.
func (e *Env) waitForDefaultServiceAccount(ctx context.Context) error {
	return poll(ctx, func() (bool, error) {
		var sa corev1.ServiceAccount
		err := e.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &sa)
		return err == nil, nil
	}, "the controller-manager to create the default service account (see its log in "+e.Dir+")")
}

// RepoRoot is the folder holding this repository's go.mod, found from the
// working directory upwards (tests run in their package's folder).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isOperatorModule(data) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod of github.com/istio-module/operator) above the working directory")
		}
		dir = parent
	}
}

func isOperatorModule(goMod []byte) bool {
	const want = "module github.com/istio-module/operator\n"
	return len(goMod) >= len(want) && string(goMod[:len(want)]) == want
}

// poll calls check every 100ms until it reports done, fails, or ctx ends.
func poll(ctx context.Context, check func() (bool, error), what string) error {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		done, err := check()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-ticker.C:
		}
	}
}
