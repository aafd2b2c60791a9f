// Command run-local shows the istio-module operator at work on this machine,
// without a cloud cluster. It starts an embedded cluster (kube-apiserver,
// etcd, kube-controller-manager, kube-scheduler and kwok with fake nodes) and
// the real istiod as a local process, installs an older Istio the way a
// previous module release left it, creates demo workloads that Istio injects
// with regular and old proxies, then applies config/samples and runs the
// operator in this process. It prints what happens: Istio installed, each
// workload restarted and why, what needs a manual restart, the CR's state.
//
// Usage (from the repository root; `make run-local` sets KUBEBUILDER_ASSETS):
//
//	go run ./cmd/run-local [--once] [--timeout 10m] [--state-dir bin/local] [--nodes 3]
//
// With --once it exits 0 once the demo has converged, 1 if it has not within
// --timeout. Without it, it keeps running until Ctrl-C (SIGINT) or SIGTERM,
// then stops every process it started. State (logs, the admin kubeconfig)
// lives in --state-dir.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	once     bool
	timeout  time.Duration
	stateDir string
	nodes    int
}

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130 // --once was interrupted before convergence
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	p := newPrinter(stdout)
	err = runLocal(ctx, o, p)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInterrupted) && !o.once:
		// Ctrl-C is how a run without --once ends.
		return exitOK
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(stderr, "run-local: interrupted before the demo converged")
		return exitInterrupted
	default:
		fmt.Fprintln(stderr, "run-local: error:", err)
		return exitFailed
	}
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("run-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.once, "once", false, "Exit once the demo has converged (status 0), or with status 1 if it has not within --timeout.")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "How long the demo may take to converge, from the start of the cluster.")
	fs.StringVar(&o.stateDir, "state-dir", filepath.Join("bin", "local"), "Folder for the cluster's logs and state, the operator's log and the kubeconfig; emptied of a previous run's state at start.")
	fs.IntVar(&o.nodes, "nodes", 3, "How many fake nodes (kwok) the cluster gets.")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: run-local [flags]\n\n"+
			"Starts an embedded cluster with the real istiod, demo workloads with stale istio-proxies\n"+
			"and the operator, and prints what the operator does. Ctrl-C stops everything.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %v", fs.Args())
		fmt.Fprintln(stderr, "run-local:", err)
		fs.Usage()
		return o, err
	}
	if o.nodes < 1 || o.timeout <= 0 {
		err := errors.New("--nodes must be at least 1 and --timeout positive")
		fmt.Fprintln(stderr, "run-local:", err)
		return o, err
	}
	return o, nil
}

// printer writes progress lines for a person, each stamped with the time
// since the start.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newPrinter(w io.Writer) *printer { return &printer{w: w, start: time.Now()} }

// Printf prints one stamped line.
func (p *printer) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// Lines prints lines indented under the previous stamped line.
func (p *printer) Lines(lines ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintf(p.w, "           %s\n", l)
	}
}

// displayPath is path relative to the working directory when it lies below
// it, so printed commands stay short.
func displayPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || len(rel) > 2 && rel[:3] == "../" {
		return path
	}
	return rel
}
