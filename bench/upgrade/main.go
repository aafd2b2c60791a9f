// Command upgrade measures what users run: a real upgrade of many workloads,
// from the Istio CR change to the last fresh pod, in cluster mode.
//
// It starts the test cluster (API server, controller-manager, scheduler,
// kwok's fake nodes) with the components' client rate limits raised,
// installs Istio 1.29.2 from its own charts as module 1.27.3 left it, with
// the real istiod 1.29.2 injecting, and creates Deployments whose pods it
// injects: native proxies of 1.29.2, stale for this build. Then it starts
// this build's manager (cmd/main.go, built and run as a child process,
// under the operator's ServiceAccount, through a proxy that counts its
// writes), creates the Istio CR, and measures:
//
//   - the time from creating the CR to the last fresh pod: every pod of
//     every Deployment runs istiod 1.30.2's native proxy and is Ready;
//   - the bound that pacing sets: ceil(Deployments / slots) times the time
//     slots Deployments take to roll out at once, measured afterwards in
//     the same cluster;
//   - the manager's writes by kind (one patch per stale Deployment) and
//     its peak RSS (VmHWM of the child process);
//   - the 1-minute load average before the CR change and at the last fresh
//     pod.
//
// Progress goes to stderr, the markdown table to stdout. Run it with
// `make bench-upgrade` (ARGS="--deployments 100" for a short run); see
// docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

func main() {
	cfg := config{replicas: 2}
	flag.IntVar(&cfg.deployments, "deployments", 1000, "stale Deployments to upgrade, of 2 pods each")
	flag.IntVar(&cfg.workers, "workers", 16, "concurrent creates while populating")
	flag.IntVar(&cfg.slots, "max-concurrent-rollouts", 5, "the operator's pacing: workloads rolling out at once")
	flag.DurationVar(&cfg.progressRequeue, "progress-requeue", time.Second,
		"the operator's --progress-requeue: how soon it looks again while rollouts progress (deployed default 10s)")
	flag.IntVar(&cfg.samples, "samples", 3, "rollouts timed alone, and batches timed, for the pacing bound (medians)")
	flag.DurationVar(&cfg.timeout, "timeout", time.Hour, "longest wait for all pods to be stale, and then fresh")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upgrade:", err)
		os.Exit(1)
	}
	printTable(os.Stdout, res)
	if problems := res.check(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, "upgrade: wrong:", p)
		}
		os.Exit(1)
	}
}

// pacingBound is the shortest the restarts can take with slots rollouts at
// a time, each batch taking as long as slots rollouts at once did.
func (r result) pacingBound() time.Duration {
	batches := (r.deployments + r.slots - 1) / r.slots
	return time.Duration(batches) * r.batchRollout
}

// check lists what is wrong with the outcome, never with the timing: every
// pod fresh is what the run waited for; each stale Deployment must have
// been patched once and rolled out once.
func (r result) check() []string {
	var out []string
	if got := r.writes[writeWorkload]; got != r.deployments {
		out = append(out, fmt.Sprintf("%d Deployment patches for %d stale Deployments", got, r.deployments))
	}
	if r.rolledOnce != r.deployments {
		out = append(out, fmt.Sprintf("%d of %d Deployments had their pod template changed exactly once", r.rolledOnce, r.deployments))
	}
	return out
}

func printTable(w io.Writer, r result) {
	bound := r.pacingBound()
	restarts := r.upgrade - r.firstPatch
	fmt.Fprintln(w, "| Deployments | pods | populate | CR change to last fresh pod | to first patch | restarts | to CR Ready | one rollout | "+
		fmt.Sprint(r.slots)+" at once | pacing bound | restarts / bound | passes | restarts / pass | Deployment patches | rolled once | manager peak RSS | load before / after |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %d | %s | %d | %d | %.1f MiB | %s / %s |\n",
		r.deployments, r.pods, seconds(r.populate), seconds(r.upgrade), seconds(r.firstPatch), seconds(restarts), seconds(r.ready),
		seconds(r.oneRollout), seconds(r.batchRollout), seconds(bound), float64(restarts)/float64(bound),
		r.passes, seconds(restarts/time.Duration(max(r.passes, 1))),
		r.writes[writeWorkload], r.rolledOnce, float64(r.peakRSSKiB)/1024, r.loadBefore, r.loadAfter)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The manager's writes (--max-concurrent-rollouts %d, --progress-requeue %s):\n\n", r.slots, r.progressRequeue)
	fmt.Fprintln(w, "| writes | count |")
	fmt.Fprintln(w, "|---|---:|")
	for _, k := range slices.Sorted(maps.Keys(r.writes)) {
		fmt.Fprintf(w, "| %s | %d |\n", k, r.writes[k])
	}
	for _, reason := range slices.Sorted(maps.Keys(r.events)) {
		fmt.Fprintf(w, "| Events %s, as listed afterwards | %d |\n", reason, r.events[reason])
	}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
