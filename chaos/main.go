// Command chaos measures how long the operator takes to converge when a
// share of its API requests fail: for each fault rate it starts a fresh test
// cluster with the real istiod, puts a fault-injecting proxy (500, 429 with
// Retry-After, 409 on writes, 410 on list continuations, reads cut short,
// lost answers to writes) between the operator and the API server from the
// start, and runs the scenario of internal/reliability: install Istio, then
// restart a mix of workloads of every kind. It prints a markdown table of the
// times, the faults injected, the rollouts per workload and the states the
// Istio CR showed. Progress goes to stderr.
//
// Run it with `make chaos` (ARGS="--rates 0,0.2" to shorten it); see
// docs/reliability.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/istio-module/operator/internal/loadavg"
	"github.com/istio-module/operator/internal/reliability"
)

func main() {
	var rates string
	var seed int64
	var timeout time.Duration
	flag.StringVar(&rates, "rates", "0,0.1,0.2", "fault rates to measure at, comma-separated, each between 0 and 1")
	flag.Int64Var(&seed, "seed", 1, "seed of the fault draws")
	var logs bool
	flag.DurationVar(&timeout, "timeout", 10*time.Minute, "how long each phase may take before the run counts as not converged")
	flag.BoolVar(&logs, "logs", false, "write the operator's log to stderr (it logs every failed request)")
	flag.Parse()
	// The operator logs every failed request under faults: the table says
	// what matters.
	logger := logr.Discard()
	if logs {
		logger = zap.New(zap.WriteTo(os.Stderr))
	}
	ctrl.SetLogger(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var results []row
	for _, f := range strings.Split(rates, ",") {
		rate, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || rate < 0 || rate > 1 {
			fmt.Fprintf(os.Stderr, "chaos: --rates: %q is not a rate between 0 and 1\n", f)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "chaos: %.0f%% faults: starting a test cluster and istiod\n", rate*100)
		r := measure(ctx, rate, seed, timeout)
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "chaos: %.0f%% faults: %v\n", rate*100, r.err)
		} else {
			fmt.Fprintf(os.Stderr, "chaos: %.0f%% faults: converged in %s (%s)\n", rate*100, r.total().Round(time.Second), r.res.Stats)
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Print(table(results))
	for _, r := range results {
		if r.err != nil {
			os.Exit(1)
		}
	}
}

type row struct {
	res             reliability.Result
	err             error
	loadBefore      string
	loadAfter       string
	wall            time.Duration
	rolloutsCorrect bool
}

func (r row) total() time.Duration { return r.res.Install + r.res.Restart }

func measure(ctx context.Context, rate float64, seed int64, timeout time.Duration) (r row) {
	r.loadBefore = loadAverage()
	defer func() { r.loadAfter = loadAverage() }()
	s, err := reliability.Start()
	if err != nil {
		r.err = err
		return r
	}
	defer func() {
		if err := s.Stop(); err != nil && r.err == nil {
			r.err = err
		}
	}()
	start := time.Now()
	r.res, r.err = s.Run(ctx, reliability.Options{Rate: rate, Seed: seed, Timeout: timeout})
	r.wall = time.Since(start)
	r.rolloutsCorrect = r.err == nil
	for _, w := range reliability.Restartable {
		if r.res.Rollouts[w] != 1 {
			r.rolloutsCorrect = false
		}
	}
	return r
}

func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| faults | install | restart | total | vs 0% | requests | faults injected | rollouts per workload | restart Events | Error states | Processing with an error | load average (1/5/15 min) before, after |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var base time.Duration
	for _, r := range rows {
		if r.res.Rate == 0 && r.err == nil {
			base = r.total()
		}
	}
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(&b, "| %.0f%% | not converged: %s | | | | %d | %d | | | %d | %d | %s, %s |\n", r.res.Rate*100,
				strings.ReplaceAll(r.err.Error(), "|", "/"), r.res.Stats.Requests, r.res.Stats.Total(), len(r.res.ErrorStates),
				r.res.TransientShown, r.loadBefore, r.loadAfter)
			continue
		}
		ratio := "-"
		if base > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(r.total())/float64(base))
		}
		rollouts := "each exactly 1"
		if !r.rolloutsCorrect {
			rollouts = fmt.Sprint(r.res.Rollouts)
		}
		events := make([]string, 0, len(r.res.Events))
		for _, k := range reliability.Keys(r.res.Events) {
			events = append(events, fmt.Sprintf("%s: %d", k, r.res.Events[k]))
		}
		fmt.Fprintf(&b, "| %.0f%% | %s | %s | %s | %s | %d | %d | %s | %s | %d | %d | %s, %s |\n", r.res.Rate*100,
			sec(r.res.Install), sec(r.res.Restart), sec(r.total()), ratio, r.res.Stats.Requests, r.res.Stats.Total(),
			rollouts, strings.Join(events, ", "), len(r.res.ErrorStates), r.res.TransientShown, r.loadBefore, r.loadAfter)
	}
	return b.String()
}

func sec(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// loadAverage is the 1, 5 and 15 minute load average, "/"-separated.
func loadAverage() string { return loadavg.String("/") }
