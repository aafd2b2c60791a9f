package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// These tests run the real command as a newcomer would: built with go build,
// against the embedded cluster, with the real istiod.

func TestOnceExitsZeroAfterTheDemoConverges(t *testing.T) {
	run := startRunLocal(t, "--once", "--timeout", "8m")
	code := run.wait(t, 12*time.Minute)
	if code != 0 {
		t.Fatalf("run-local --once exited %d, want 0", code)
	}
	target, err := sidecarmode.Decide(sidecarmode.ModuleVersion, false, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
	if err != nil {
		t.Fatal(err)
	}
	run.expectOutput(t, "Converged:", "Istio "+target.IstioVersion+" installed by the operator",
		"Operator restarted Deployment demo/regular-proxy", "Operator restarted StatefulSet demo/db",
		"Manual restart needed", "Job demo/batch", "Pod demo/lonely", "Stopped every process")
	run.expectNoneLeft(t)
	if _, err := os.Stat(filepath.Join(run.stateDir, "cluster", "kube-controller-manager.log")); err != nil {
		t.Errorf("the cluster's logs are not kept under --state-dir: %v", err)
	}
}

func TestInterruptStopsEveryProcessItStarted(t *testing.T) {
	run := startRunLocal(t)
	if !run.waitForLine(t, "Converged:", 12*time.Minute) {
		t.Fatal("run-local did not print a Converged line")
	}
	if _, err := os.Stat(filepath.Join(run.stateDir, "kubeconfig")); err != nil {
		t.Errorf("no kubeconfig under --state-dir while it runs: %v", err)
	}
	run.track() // the processes running now, right before the signal
	if err := run.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := run.wait(t, 2*time.Minute)
	if code != 0 {
		t.Errorf("run-local exited %d after SIGINT, want 0", code)
	}
	run.expectOutput(t, "Stopping the cluster", "Final state of Istio CR kyma-system/default: Warning", "Stopped every process")
	run.expectNoneLeft(t)
}

// commandRun is one run of the command.
type commandRun struct {
	cmd      *exec.Cmd
	stateDir string
	exited   chan struct{}
	waitErr  error

	mu      sync.Mutex
	stdout  []string
	stderr  bytes.Buffer
	lines   chan string
	tracked map[int]proc // every descendant seen while it ran, by pid
}

// proc identifies a process: a pid may be reused, its start time not.
type proc struct {
	pid   int
	start string // field 22 of /proc/<pid>/stat
	name  string
}

func startRunLocal(t *testing.T, args ...string) *commandRun {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run with `make test` (it builds the test cluster), or export KUBEBUILDER_ASSETS=$(hack/test-cluster.sh)")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "run-local")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	r := &commandRun{
		stateDir: filepath.Join(t.TempDir(), "state"),
		exited:   make(chan struct{}),
		lines:    make(chan string, 1000),
		tracked:  map[int]proc{},
	}
	r.cmd = exec.Command(bin, append([]string{"--state-dir", r.stateDir}, args...)...)
	r.cmd.Dir = root
	r.cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.stderr}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.stdout = append(r.stdout, sc.Text())
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		<-readDone // Wait closes the pipe: read it all first
		r.waitErr = r.cmd.Wait()
		close(r.exited)
	}()
	// Record the descendants while it runs, so short-lived ones (istiod
	// before an upgrade) are checked too.
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			r.track()
			select {
			case <-r.exited:
				return
			case <-tick.C:
			}
		}
	}()

	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-r.exited:
			case <-time.After(time.Minute):
				_ = r.cmd.Process.Kill()
				<-r.exited
			}
		}
		if t.Failed() {
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Logf("stdout of run-local:\n%s\nstderr:\n%s", strings.Join(r.stdout, "\n"), r.stderr.String())
			t.Logf("logs kept in %s", r.stateDir)
		}
	})
	return r
}

// wait waits for the command to exit and returns its exit code.
func (r *commandRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(timeout):
		t.Fatalf("run-local did not exit within %s", timeout)
	}
	var exitErr *exec.ExitError
	if errors.As(r.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if r.waitErr != nil {
		t.Fatal(r.waitErr)
	}
	return 0
}

// waitForLine waits for a line of stdout containing s.
func (r *commandRun) waitForLine(t *testing.T, s string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-r.lines:
			if strings.Contains(line, s) {
				return true
			}
		case <-r.exited:
			return false
		case <-deadline:
			return false
		}
	}
}

func (r *commandRun) expectOutput(t *testing.T, want ...string) {
	t.Helper()
	r.mu.Lock()
	out := strings.Join(r.stdout, "\n")
	r.mu.Unlock()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("stdout has no %q", w)
		}
	}
}

// track records the command's descendants running now.
func (r *commandRun) track() {
	if r.cmd.Process == nil {
		return
	}
	found := descendants(r.cmd.Process.Pid)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range found {
		r.tracked[p.pid] = p
	}
}

// expectNoneLeft fails for every process the command started that still
// runs after it exited; it also checks that the cluster's processes were
// seen at all, so the check means something.
func (r *commandRun) expectNoneLeft(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	names := map[string]bool{}
	for _, p := range r.tracked {
		names[p.name] = true
		if alive(p) {
			t.Errorf("process %d (%s) started by run-local still runs after it exited", p.pid, p.name)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
	for _, want := range []string{"kube-apiserver", "etcd", "kube-controller", "kube-scheduler", "kwok", "pilot-discovery"} {
		if !names[want] {
			t.Errorf("never saw a %s process under run-local (seen: %v)", want, names)
		}
	}
}

// descendants lists the processes below pid, from
// /proc/<pid>/task/<tid>/children (Linux).
func descendants(pid int) []proc {
	var out []proc
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			child, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			if p, ok := readProc(child); ok {
				out = append(out, p)
				out = append(out, descendants(child)...)
			}
		}
	}
	return out
}

// readProc reads a live process's identity; ok is false when it is gone or
// a zombie (it has exited; only its parent has not collected it yet).
func readProc(pid int) (proc, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	s := string(data)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return proc{}, false
	}
	// After "pid (comm) ": field 3 (state) ... field 22 (starttime).
	fields := strings.Fields(s[closing+1:])
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return proc{}, false
	}
	return proc{pid: pid, name: s[open+1 : closing], start: fields[19]}, true
}

// alive: the same process (pid and start time) still runs.
func alive(p proc) bool {
	now, ok := readProc(p.pid)
	return ok && now.start == p.start
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
