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
)

// IstioNamespace is where the installer puts the control plane.
const IstioNamespace = "istio-system"

// Istiod plays the istiod Deployment that the installer applied: kwok only
// pretends the Deployment's pods run, so this harness runs the real
// pilot-discovery (built by hack/test-cluster.sh) as a local process with that
// Deployment's environment. The installer points the webhooks at URL()
// (Istio's setting for an istiod outside the cluster), so pods in
// injection-enabled namespaces are injected by Istio itself.
//
// Like a kubelet, it restarts the process when the Deployment's pod template
// changes (ENABLE_NATIVE_SIDECARS is read only at start) and stops it when the
// Deployment goes away.
type Istiod struct {
	env  *Env
	port int

	mu       sync.Mutex
	proc     *process
	template string // hash of the pod template the running process plays
	starts   int
}

// NewIstiod reserves a local port for istiod's webhook server. Call Run to
// start following the istiod Deployment.
func (e *Env) NewIstiod() (*Istiod, error) {
	bin := filepath.Join(e.Assets, "pilot-discovery")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("pilot-discovery is missing in KUBEBUILDER_ASSETS=%s: run hack/test-cluster.sh to build it", e.Assets)
	}
	port, err := freePort()
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
	proc, err := i.env.startProcess(fmt.Sprintf("istiod-%d", i.starts), filepath.Join(i.env.Assets, "pilot-discovery"), args, env)
	if err != nil {
		return err
	}
	i.proc, i.template = proc, hash
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
	}
}

func templateHash(t corev1.PodTemplateSpec) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", sha256.Sum256(data)), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
