package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// IstioNamespace is where the installer puts the control plane.
const IstioNamespace = "istio-system"

// Istio releases whose istiod hack/test-cluster.sh builds: this build's, as
// pilot-discovery, and the previous one that upgrade tests start from, as
// pilot-discovery-<version> beside its charts (istio-<version>/manifests).
const (
	IstioVersion         = "1.30.2"
	PreviousIstioVersion = "1.29.2"
)

// IstiodBinary is the pilot-discovery of an Istio release in the assets folder.
func (e *Env) IstiodBinary(version string) (string, error) {
	name := "pilot-discovery"
	if version != IstioVersion {
		name += "-" + version
	}
	bin := filepath.Join(e.Assets, name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no istiod of Istio %s in KUBEBUILDER_ASSETS=%s (hack/test-cluster.sh builds %s and %s): %w",
			version, e.Assets, IstioVersion, PreviousIstioVersion, err)
	}
	return bin, nil
}

// IstioChartsDir is the manifests folder of an earlier Istio release's
// istio.io/istio module, for install.ChartsFromDir.
func (e *Env) IstioChartsDir(version string) (string, error) {
	dir := filepath.Join(e.Assets, "istio-"+version, "manifests")
	if _, err := os.Stat(filepath.Join(dir, "charts")); err != nil {
		return "", fmt.Errorf("no charts of Istio %s in KUBEBUILDER_ASSETS=%s: run hack/test-cluster.sh: %w", version, e.Assets, err)
	}
	return dir, nil
}

// IstiodRun is one istiod process the harness ran: its Istio version, when
// it started serving and when it was stopped (zero while it runs).
type IstiodRun struct {
	Version          string
	Started, Stopped time.Time
}

// Istiod plays the istiod Deployment that the installer applied: kwok only
// pretends the Deployment's pods run, so this harness runs the real
// pilot-discovery (built by hack/test-cluster.sh) as a local process with that
// Deployment's environment. The installer points the webhooks at URL()
// (Istio's setting for an istiod outside the cluster), so pods in
// injection-enabled namespaces are injected by Istio itself.
//
// Like a kubelet, it restarts the process when the Deployment's pod template
// changes (ENABLE_NATIVE_SIDECARS is read only at start) and stops it when the
// Deployment goes away. The binary follows the discovery container's image
// tag: when an upgrade changes it, the old release's istiod is stopped and the
// new release's started, so injection really comes from the new version.
type Istiod struct {
	env  *Env
	port int

	mu       sync.Mutex
	proc     *process
	template string // hash of the pod template the running process plays
	starts   int
	runs     []IstiodRun
}

// NewIstiod reserves a local port for istiod's webhook server. Call Run to
// start following the istiod Deployment.
func (e *Env) NewIstiod() (*Istiod, error) {
	if _, err := e.IstiodBinary(IstioVersion); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &Istiod{env: e, port: port}, nil
}

// StartIstiod creates an Istiod and runs it in the background until Stop:
// what every suite that needs injection does.
func (e *Env) StartIstiod() (*Istiod, error) {
	i, err := e.NewIstiod()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		i.Run(ctx)
	}()
	e.mu.Lock()
	e.cleanups = append(e.cleanups, func() { cancel(); <-done })
	e.mu.Unlock()
	return i, nil
}

// URL is the base URL of istiod's webhook server, for the installer's
// injection and validation URLs.
func (i *Istiod) URL() string { return "https://127.0.0.1:" + strconv.Itoa(i.port) }

// Starts is how many times the process has been (re)started.
func (i *Istiod) Starts() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.starts
}

// Runs lists the istiod processes so far, oldest first.
func (i *Istiod) Runs() []IstiodRun {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]IstiodRun(nil), i.runs...)
}

// Running reports whether a pilot-discovery process is up.
func (i *Istiod) Running() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.proc != nil && !i.proc.exited()
}

// Run follows the istiod Deployment until ctx ends, then stops the process.
func (i *Istiod) Run(ctx context.Context) {
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	defer i.stop()
	for {
		if err := i.sync(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "testenv istiod: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// sync makes the process match the Deployment, as a kubelet would.
func (i *Istiod) sync(ctx context.Context) error {
	c := i.env.Client
	var deploy appsv1.Deployment
	err := c.Get(ctx, client.ObjectKey{Namespace: IstioNamespace, Name: "istiod"}, &deploy)
	if apierrors.IsNotFound(err) || (err == nil && deploy.DeletionTimestamp != nil) {
		i.stop()
		return nil
	}
	if err != nil {
		return err
	}
	// Started before these exist, istiod skips the injector for good.
	for _, name := range []string{"istio", "istio-sidecar-injector"} {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: IstioNamespace, Name: name}, &cm); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	hash, err := templateHash(deploy.Spec.Template)
	if err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc != nil && !i.proc.exited() && i.template == hash {
		return nil
	}
	i.stopLocked()
	return i.startLocked(deploy, hash)
}

func (i *Istiod) startLocked(deploy appsv1.Deployment, hash string) error {
	var container *corev1.Container
	for n := range deploy.Spec.Template.Spec.Containers {
		if deploy.Spec.Template.Spec.Containers[n].Name == "discovery" {
			container = &deploy.Spec.Template.Spec.Containers[n]
		}
	}
	if container == nil {
		return fmt.Errorf("deployment %s/istiod has no container named discovery", IstioNamespace)
	}
	version := sidecarmode.VersionOf(container.Image)
	bin, err := i.env.IstiodBinary(version)
	if err != nil {
		return fmt.Errorf("deployment %s/istiod runs image %s: %w", IstioNamespace, container.Image, err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + i.env.Dir}
	for _, v := range container.Env {
		if v.ValueFrom != nil || v.Name == "KUBECONFIG" || v.Name == "GOMAXPROCS" {
			continue
		}
		env = append(env, v.Name+"="+v.Value)
	}
	// Last ones win: what a pod would get from the downward API, and what a
	// process outside the cluster needs.
	env = append(env,
		"POD_NAMESPACE="+IstioNamespace,
		"POD_NAME=istiod-local",
		"SERVICE_ACCOUNT=istiod",
		"ISTIOD_CUSTOM_HOST=127.0.0.1",
		"PILOT_ENABLE_ANALYSIS=false",
		"CLUSTER_ID=Kubernetes",
	)
	args := []string{
		"discovery",
		"--kubeconfig=" + i.env.Kubeconfig,
		"--domain=cluster.local",
		"--httpsAddr=127.0.0.1:" + strconv.Itoa(i.port),
		"--httpAddr=127.0.0.1:0",
		"--grpcAddr=127.0.0.1:0",
		"--secureGRPCAddr=127.0.0.1:0",
		"--monitoringAddr=127.0.0.1:0",
		"--ctrlz_port=0",
	}
	i.starts++
	proc, err := i.env.startProcess(fmt.Sprintf("istiod-%d-%s", i.starts, version), bin, args, env)
	if err != nil {
		return err
	}
	i.proc, i.template = proc, hash
	i.runs = append(i.runs, IstiodRun{Version: version, Started: time.Now()})
	return nil
}

func (i *Istiod) stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.stopLocked()
}

func (i *Istiod) stopLocked() {
	if i.proc != nil {
		_ = i.proc.stop()
		i.proc = nil
		i.runs[len(i.runs)-1].Stopped = time.Now()
	}
}

func templateHash(t corev1.PodTemplateSpec) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(data)), nil
}

// FreePort is a local TCP port that was free a moment ago, for a server
// to listen on.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
