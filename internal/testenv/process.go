package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// process is a control-plane binary started by this package, its output
// captured to a log file in the Env's folder.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startProcess starts bin with args from an empty working directory. The
// process dies with the test binary (Pdeathsig), so a crashed test leaves
// nothing running.
func (e *Env) startProcess(name, bin string, args, env []string) (*process, error) {
	logFile, err := os.Create(filepath.Join(e.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	workDir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = workDir
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.mu.Lock()
	e.processes = append(e.processes, p)
	e.mu.Unlock()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL if the process is still running after 10s.
func (p *process) stop() error {
	if p.exited() {
		_ = p.log.Close()
		return nil
	}
	defer p.log.Close()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within 10s of SIGTERM and was killed", p.name)
	}
}

// writeKubeconfig writes envtest's admin kubeconfig to path.
func writeKubeconfig(te *envtest.Environment, path string) error {
	if len(te.KubeConfig) == 0 {
		return errors.New("envtest returned no kubeconfig")
	}
	return os.WriteFile(path, te.KubeConfig, 0o600)
}

// startControllers starts kube-controller-manager, kube-scheduler and kwok.
func (e *Env) startControllers() error {
	certDir := e.envtest.ControlPlane.GetAPIServer().CertDir
	bin := func(name string) string { return filepath.Join(e.Assets, name) }
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(bin(name)); err != nil {
			return fmt.Errorf("%s is missing in KUBEBUILDER_ASSETS=%s: run hack/test-cluster.sh to build it", name, e.Assets)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.Dir}
	starts := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{
			"--kubeconfig=" + e.Kubeconfig,
			"--leader-elect=false",
			"--use-service-account-credentials=false",
			"--secure-port=0",
			"--service-account-private-key-file=" + filepath.Join(certDir, "sa-signer.key"),
			"--root-ca-file=" + filepath.Join(certDir, "apiserver.crt"),
			// Fake nodes never run a real kubelet: keep them from being
			// declared lost while a slow machine runs a long suite.
			"--node-monitor-grace-period=1h",
			"--concurrent-deployment-syncs=10",
			"--concurrent-replicaset-syncs=10",
		}},
		{"kube-scheduler", []string{
			"--kubeconfig=" + e.Kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
		}},
		{"kwok", []string{
			"--kubeconfig=" + e.Kubeconfig,
			"--manage-all-nodes=true",
			"--config=" + bin("kwok-stages.yaml"),
			"--server-address=",
		}},
	}
	for _, s := range starts {
		args := append(s.args, e.componentFlags[s.name]...)
		if _, err := e.startProcess(s.name, bin(s.name), args, env); err != nil {
			return err
		}
	}
	return nil
}
