package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/peakrss"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
)

// The Istio CR the manager is given: the minimal sample's.
const (
	operatorNamespace = "kyma-system"
	istioCRName       = "default"
)

// managerHarness runs the operator's own manager binary against the bench
// cluster, as a Deployment would run it, and plays the kubelet of the
// control plane it installs.
type managerHarness struct {
	c          client.Client
	binary     string
	kubeconfig string
	logDir     string
}

// settleControlPlane stands in for the kube-controller-manager and kubelets
// an API-mode cluster lacks, for the control plane only: whenever a
// Deployment in istio-system is not rolled out, it writes the status of a
// finished rollout, so the installer's readiness wait passes as soon as it
// would in a healthy cluster. It runs until ctx ends, during a pass.
func (m *managerHarness) settleControlPlane(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var list appsv1.DeploymentList
		if err := m.c.List(ctx, &list, client.InNamespace(install.DefaultNamespace)); err == nil {
			for k := range list.Items {
				d := &list.Items[k]
				if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == replicasOf(d) {
					continue
				}
				settleDeployment(d)
				if err := m.c.Status().Update(ctx, d); err != nil && !apierrors.IsConflict(err) && ctx.Err() == nil {
					logf("  settle Deployment %s/%s: %v", d.Namespace, d.Name, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// managerPass is one full pass of the manager: from the Istio CR's creation
// to the status reporting the restarter's run over every pod.
type managerPass struct {
	Seconds    float64
	PeakRSSKiB int64
	Restarted  int
}

// measurePass starts a fresh manager process (empty caches, as after a pod
// restart), creates the Istio CR once the manager is ready, and waits for
// the status to report a restarter run over all pods: render, apply,
// readiness, scan, plan and one patch per stale workload. It then reads the
// process's peak RSS and stops it.
func (m *managerHarness) measurePass(ctx context.Context, pods int) (managerPass, error) {
	probePort, err := testenv.FreePort()
	if err != nil {
		return managerPass{}, err
	}
	logFile, err := os.Create(filepath.Join(m.logDir, fmt.Sprintf("manager-%d.log", pods)))
	if err != nil {
		return managerPass{}, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, m.binary, "--kubeconfig", m.kubeconfig,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(probePort),
		// Every stale workload in the one pass: pacing would spread the
		// patches over several.
		"--max-concurrent-rollouts", "1000000")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Only while the manager runs: the other measurements see an API
	// server that serves them alone.
	settleCtx, stopSettling := context.WithCancel(ctx)
	settled := make(chan struct{})
	go func() {
		defer close(settled)
		m.settleControlPlane(settleCtx)
	}()
	defer func() { stopSettling(); <-settled }()
	if err := cmd.Start(); err != nil {
		return managerPass{}, fmt.Errorf("start the manager: %w", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	if err := waitFor(ctx, time.Minute, "the manager's /readyz", func() (bool, error) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(probePort) + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		return managerPass{}, fmt.Errorf("%w (log: %s)", err, logFile.Name())
	}

	istio := &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: istioCRName}}
	start := time.Now()
	if err := m.c.Create(ctx, istio); err != nil {
		return managerPass{}, fmt.Errorf("create the Istio CR: %w", err)
	}
	var pass managerPass
	err = waitFor(ctx, 30*time.Minute, "the Istio CR's status to report a restarter run over every pod", func() (bool, error) {
		if err := m.c.Get(ctx, client.ObjectKeyFromObject(istio), istio); err != nil {
			return false, err
		}
		pr := istio.Status.ProxyRestart
		if pr == nil || pr.LastRunTime == nil || int(pr.PodsScanned) != pods {
			return false, nil
		}
		pass.Restarted = int(pr.Restarted)
		return true, nil
	})
	pass.Seconds = time.Since(start).Seconds()
	if err != nil {
		return pass, fmt.Errorf("%w; state %s: %s (log: %s)", err, istio.Status.State, istio.Status.Description, logFile.Name())
	}
	if pass.PeakRSSKiB, err = peakrss.Of(cmd.Process.Pid); err != nil {
		return pass, err
	}
	return pass, nil
}

// removeIstioCR deletes the Istio CR without an uninstall, so the next
// pass starts from the same installed objects: its finalizer is removed
// while no manager runs.
func (m *managerHarness) removeIstioCR(ctx context.Context) error {
	istio := &v1alpha2.Istio{}
	key := client.ObjectKey{Namespace: operatorNamespace, Name: istioCRName}
	if err := m.c.Get(ctx, key, istio); err != nil {
		return client.IgnoreNotFound(err)
	}
	if len(istio.Finalizers) > 0 {
		patch := client.MergeFrom(istio.DeepCopy())
		istio.Finalizers = nil
		if err := m.c.Patch(ctx, istio, patch); err != nil {
			return fmt.Errorf("remove the Istio CR's finalizer: %w", err)
		}
	}
	if err := client.IgnoreNotFound(m.c.Delete(ctx, istio)); err != nil {
		return fmt.Errorf("delete the Istio CR: %w", err)
	}
	return waitFor(ctx, time.Minute, "the Istio CR to be gone", func() (bool, error) {
		err := m.c.Get(ctx, key, istio)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

// createOperatorNamespaces creates the namespaces of the Istio CR and of
// the control plane, as `make deploy` and the cluster's admin would.
func (m *managerHarness) createOperatorNamespaces(ctx context.Context) error {
	for _, name := range []string{operatorNamespace, install.DefaultNamespace} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := m.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// waitFor polls check every 100ms until it reports done, fails, or timeout
// passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waited %s for %s: %w", timeout, what, ctx.Err())
		case <-tick.C:
		}
	}
}

// startManagerHarness builds the manager and creates its namespaces.
func (h *harness) startManagerHarness(ctx context.Context, c client.Client) error {
	dir, err := os.MkdirTemp("", "bench-manager-")
	if err != nil {
		return err
	}
	logf("Building the manager (go build ./cmd) into %s", dir)
	bin, err := testenv.BuildManager(ctx, dir)
	if err != nil {
		return err
	}
	h.manager = &managerHarness{c: c, binary: bin, kubeconfig: h.kubeconfig, logDir: dir}
	return h.manager.createOperatorNamespaces(ctx)
}

// managerPass measures one full pass of the manager at the cluster's
// current size, checks that it restarted exactly the stale workloads, and
// then undoes its restarts and its Istio CR for the next size.
func (h *harness) managerPass(ctx context.Context, cl *cluster, r *row) error {
	r.ManagerLoadBefore = strings.Fields(loadAverage())[0]
	logf("Manager pass at %d pods; load average %s", r.Pods, loadAverage())
	pass, err := h.manager.measurePass(ctx, r.Pods)
	r.ManagerLoadAfter = strings.Fields(loadAverage())[0]
	if err != nil {
		return err
	}
	r.ManagerPass, r.ManagerRSS, r.ManagerRestarted = secondsOf(pass.Seconds), pass.PeakRSSKiB, pass.Restarted
	logf("  pass: %.3f s, peak RSS %.1f MiB, %d restarted", pass.Seconds, float64(pass.PeakRSSKiB)/1024, pass.Restarted)
	marked, err := cl.markedDeployments(ctx)
	if err != nil {
		return err
	}
	if err := sameKeys(marked, cl.expectedStale()); err != nil {
		return fmt.Errorf("after the manager's pass: %w", err)
	}
	if err := h.manager.removeIstioCR(ctx); err != nil {
		return err
	}
	return cl.forEach(ctx, marked, cl.unmark)
}
