package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/istio-module/operator/internal/peakrss"
	"github.com/istio-module/operator/internal/testenv"
)

// writeCounter sorts the manager's write requests (POST, PUT, PATCH,
// DELETE) by what they write.
type writeCounter struct {
	mu     sync.Mutex
	counts map[string]int
	first  map[string]time.Time // the first write of each kind
	// scans counts the restarter's passes: each begins with the first page
	// of a LIST of all pods.
	scans int
}

func (c *writeCounter) observeRead(r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path != "/api/v1/pods" || q.Get("continue") != "" || q.Get("watch") != "" {
		return
	}
	c.mu.Lock()
	c.scans++
	c.mu.Unlock()
}

// Kinds of writes the counter tells apart.
const (
	writeWorkload = "Deployment patches"
	writeDryRun   = "dry-run pod creates (asking the injector)"
	writeEvent    = "Events"
	writeStatus   = "Istio CR status updates"
	writeOther    = "other (install, finalizer)"
)

func (c *writeCounter) observe(r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		c.observeRead(r)
		return
	}
	kind := writeOther
	switch path := r.URL.Path; {
	case r.URL.Query().Get("dryRun") != "":
		kind = writeDryRun
	case strings.Contains(path, "/events"):
		kind = writeEvent
	case strings.HasPrefix(path, "/apis/apps/v1/namespaces/"+namespacePrefix) && strings.Contains(path, "/deployments/"):
		kind = writeWorkload
	case strings.Contains(path, "/istios/") && strings.HasSuffix(path, "/status"):
		kind = writeStatus
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[kind] == 0 {
		c.first[kind] = time.Now()
	}
	c.counts[kind]++
}

func (c *writeCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// passes is how many times the restarter has scanned all pods.
func (c *writeCounter) passes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scans
}

// firstOf is when the first write of kind went out (zero if none did).
func (c *writeCounter) firstOf(kind string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first[kind]
}

// managerProcess is the manager running as a child process, connected
// through a counting proxy as the operator's ServiceAccount.
type managerProcess struct {
	cmd    *exec.Cmd
	done   chan error
	proxy  *testenv.FaultProxy
	writes *writeCounter
}

// startManager runs bin with the deployed RBAC (the proxy authenticates as
// the admin impersonating the operator's ServiceAccount) and waits until it
// serves /readyz. Its log goes to dir/manager.log.
func startManager(ctx context.Context, env *testenv.Env, istiod *testenv.Istiod, bin, dir string, cfg config) (*managerProcess, error) {
	operator, err := env.DeployOperatorRBAC(ctx)
	if err != nil {
		return nil, err
	}
	writes := &writeCounter{counts: map[string]int{}, first: map[string]time.Time{}}
	// At rate 0 the fault proxy only forwards, and shows each request to
	// the counter.
	proxy, err := testenv.NewFaultProxy(operator.Config, testenv.FaultOptions{Observe: writes.observe})
	if err != nil {
		return nil, err
	}
	m := &managerProcess{proxy: proxy, writes: writes, done: make(chan error, 1)}
	kubeconfig := filepath.Join(dir, "manager.kubeconfig")
	probePort, err := testenv.FreePort()
	probe := "127.0.0.1:" + strconv.Itoa(probePort)
	if err == nil {
		err = writeKubeconfig(kubeconfig, proxy.Config().Host)
	}
	if err != nil {
		return nil, errors.Join(err, proxy.Close())
	}
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, errors.Join(err, proxy.Close())
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--metrics-bind-address=0",
		"--health-probe-bind-address="+probe,
		"--istiod-remote-url="+istiod.URL(),
		"--progress-requeue="+cfg.progressRequeue.String(),
		"--max-concurrent-rollouts="+strconv.Itoa(cfg.slots),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start the manager: %w", err), proxy.Close(), logFile.Close())
	}
	m.cmd = cmd
	go func() { m.done <- cmd.Wait(); _ = logFile.Close() }()
	if err := m.waitReady(ctx, "http://"+probe+"/readyz"); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	return m, nil
}

// waitReady polls the manager's readiness endpoint.
func (m *managerProcess) waitReady(ctx context.Context, url string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-m.done:
			m.done <- err
			return false, fmt.Errorf("the manager exited before it was ready (%v): see manager.log", err)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the manager's /readyz: %w", err)
	}
	return nil
}

// PeakRSSKiB is the manager's peak resident set so far, VmHWM in
// /proc/<pid>/status.
func (m *managerProcess) PeakRSSKiB() (int64, error) {
	return peakrss.Of(m.cmd.Process.Pid)
}

// Stop sends SIGTERM, waits up to 30s for the manager to exit, and closes
// its proxy.
func (m *managerProcess) Stop() error {
	defer m.proxy.Close()
	if m.cmd == nil {
		return nil
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		return errors.New("the manager did not stop within 30s of SIGTERM and was killed")
	}
}

// writeKubeconfig writes a kubeconfig for the plain-HTTP proxy at host.
func writeKubeconfig(path, host string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: host}
	cfg.AuthInfos["proxy"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "proxy"}
	cfg.CurrentContext = "proxy"
	return clientcmd.WriteToFile(*cfg, path)
}
