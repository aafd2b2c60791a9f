package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// envtest starts kube-apiserver and etcd without a parent-death signal, so
// a test binary killed by go test's timeout, or run-local killed with
// SIGKILL, would leave both running for good. A reaper kills them once this
// process is gone, however it ends: a shell blocked reading a pipe whose
// write end only this process holds; when the process dies, the kernel
// closes that end and the read returns.
type reaper struct {
	cmd   *exec.Cmd
	write *os.File
}

// startMu makes the children that appear during a start those of that
// start: tests may start more than one Env in a process.
var startMu sync.Mutex

// reapOnExit starts a reaper for pids.
func reapOnExit(pids []int) (*reaper, error) {
	if len(pids) == 0 {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start a reaper: %w", err)
	}
	defer r.Close()
	list := make([]string, len(pids))
	for i, pid := range pids {
		list[i] = strconv.Itoa(pid)
	}
	cmd := exec.Command("/bin/sh", "-c", "read -r _; kill -KILL "+strings.Join(list, " ")+" 2>/dev/null")
	cmd.Stdin = r
	// Its own process group: a Ctrl-C to ours must not end it before us.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("start a reaper: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return &reaper{cmd: cmd, write: w}, nil
}

// stop ends the reaper without letting it kill anything: Stop ends the
// processes in order, and their PIDs may be reused after that.
func (r *reaper) stop() {
	if r == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.write.Close()
}

// children returns the PIDs of this process's running children named one
// of names.
func children(names ...string) ([]int, error) { return childrenOf(os.Getpid(), names...) }

// childrenOf returns the PIDs of the running children of ppid named one of
// names.
func childrenOf(ppid int, names ...string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 {
			continue
		}
		parent, err := strconv.Atoi(fields[1])
		if err != nil || parent != ppid || fields[0] == "Z" {
			continue
		}
		for _, name := range names {
			if s[open+1:end] == name {
				out = append(out, pid)
			}
		}
	}
	return out, nil
}

// newPIDs returns the members of after that are not in before.
func newPIDs(before, after []int) []int {
	seen := map[int]bool{}
	for _, pid := range before {
		seen[pid] = true
	}
	var out []int
	for _, pid := range after {
		if !seen[pid] {
			out = append(out, pid)
		}
	}
	return out
}
