package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// row is one size's medians.
type row struct {
	Pods int
	Reps int
	// List and Scan are the median durations of the bare LIST and of the
	// restarter's scan and plan.
	List, Scan time.Duration
	// ListRSS and ScanRSS are the median peak RSS of their processes, KiB.
	ListRSS, ScanRSS int64
	// RealRuns: the writes were measured at this size.
	RealRuns bool
	// Writes of the first real run, WritesAgain of the second one.
	Writes, WritesAgain int
	// Stale counts the stale restartable workloads (Deployments) created.
	Stale int

	// Breakdown of the scan, medians.
	PodPages     time.Duration // time until the last page of pods was read
	ListRequests int           // LIST requests of pods
	OwnerReads   int           // GET requests (owners, namespaces)
	BytesPerPod  float64       // wire bytes per pod
	ListAllocPod float64       // heap bytes allocated per pod by the bare LIST
	ScanAllocPod float64       // by the scan
	RunSeconds   time.Duration // first real run
	ListGCs      uint32
	ScanGCs      uint32
	// Load is the 1-minute load average before and after the measurements.
	LoadBefore, LoadAfter string

	// Experiments (--experiments), medians.
	Experiments                        bool
	WatchList                          time.Duration // streaming list of all pods
	WatchListRSS                       int64         // its peak RSS, KiB
	PodList                            time.Duration // podlist pages of all pods, no-op per pod
	PodListRSS                         int64         // its peak RSS, KiB
	OwnersSequential, OwnersConcurrent time.Duration // owner reads of the stale workloads
	OwnersListed                       time.Duration // paged LISTs of all ReplicaSets and Deployments

	// With --outside-mesh: the pods without a proxy, and the scan that
	// lists only pods with meshMarkLabel (median time, peak RSS in KiB,
	// LIST requests of pods, the 1-minute load after them).
	OutsideMesh       int
	ScanSelected      time.Duration
	ScanSelectedRSS   int64
	SelectedRequests  int
	SelectedLoadAfter string

	// The manager's full pass (--manager): its time from the Istio CR's
	// creation to the restarter's status, its process's peak RSS (KiB),
	// the workloads it restarted and the 1-minute load around it.
	ManagerPass                         time.Duration
	ManagerRSS                          int64
	ManagerRestarted                    int
	ManagerLoadBefore, ManagerLoadAfter string
}

// writeTable prints the benchmark's result table in markdown. Ratios of
// RSS are against the first row (the smallest size).
func writeTable(w io.Writer, rows []row) {
	if len(rows) == 0 {
		return
	}
	base := rows[0]
	fmt.Fprintf(w, "| pods | reps | bare LIST | scan + plan | scan / LIST | scan peak RSS | RSS / RSS at %s | LIST peak RSS | writes | writes, 2nd run | stale workloads |\n",
		countLabel(base.Pods))
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		writes, again := "n/a", "n/a"
		if r.RealRuns {
			writes, again = fmt.Sprint(r.Writes), fmt.Sprint(r.WritesAgain)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n",
			countLabel(r.Pods), r.Reps, seconds(r.List), seconds(r.Scan), ratio(float64(r.Scan), float64(r.List)),
			mib(r.ScanRSS), ratio(float64(r.ScanRSS), float64(base.ScanRSS)), mib(r.ListRSS),
			writes, again, r.Stale)
	}
}

// writeBreakdown prints where the scan's time and memory go.
func writeBreakdown(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| pods | scan: pod pages | scan: plan (owner reads) | LIST requests | GET requests | wire bytes / pod | allocated / pod, LIST | allocated / pod, scan | GCs, LIST / scan | real run | load before / after |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		run := "n/a"
		if r.RealRuns {
			run = seconds(r.RunSeconds)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %.0f B | %s | %s | %d / %d | %s | %s / %s |\n",
			countLabel(r.Pods), seconds(r.PodPages), seconds(r.Scan-r.PodPages), r.ListRequests, r.OwnerReads,
			r.BytesPerPod, kib(r.ListAllocPod), kib(r.ScanAllocPod), r.ListGCs, r.ScanGCs, run, r.LoadBefore, r.LoadAfter)
	}
}

// writeExperiments prints what the alternatives to the restarter's reads
// cost.
func writeExperiments(w io.Writer, rows []row) {
	fmt.Fprintf(w, "| pods | bare LIST | podlist pages | their peak RSS | streaming list | its peak RSS | owner GETs, one at a time | owner GETs, %d in flight | LIST of all ReplicaSets and Deployments |\n", ownerConcurrency)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		if !r.Experiments {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", countLabel(r.Pods), seconds(r.List),
			seconds(r.PodList), mib(r.PodListRSS), seconds(r.WatchList), mib(r.WatchListRSS), seconds(r.OwnersSequential), seconds(r.OwnersConcurrent), seconds(r.OwnersListed))
	}
}

// writeSelectedTable prints the scan that lists only pods with the
// injector's label against the full scan and the bare LIST of all pods.
func writeSelectedTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| pods with a proxy | pods without | bare LIST of all | scan + plan, all pods | scan + plan, selected | selected / LIST | selected / full scan | peak RSS, full / selected | pod LISTs, full / selected | load before / after |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s / %s | %d / %d | %s / %s |\n", countLabel(r.Pods), countLabel(r.OutsideMesh),
			seconds(r.List), seconds(r.Scan), seconds(r.ScanSelected), ratio(float64(r.ScanSelected), float64(r.List)),
			ratio(float64(r.ScanSelected), float64(r.Scan)), mib(r.ScanRSS), mib(r.ScanSelectedRSS), r.ListRequests, r.SelectedRequests,
			r.LoadBefore, r.SelectedLoadAfter)
	}
}

// writeManagerTable prints the manager's full passes.
func writeManagerTable(w io.Writer, rows []row) {
	if len(rows) == 0 {
		return
	}
	base := rows[0]
	fmt.Fprintf(w, "| pods | bare LIST | manager pass | pass / LIST | manager peak RSS | RSS / RSS at %s | restarted | stale workloads | load before / after |\n",
		countLabel(base.Pods))
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %d | %s / %s |\n", countLabel(r.Pods), seconds(r.List),
			seconds(r.ManagerPass), ratio(float64(r.ManagerPass), float64(r.List)), mib(r.ManagerRSS),
			ratio(float64(r.ManagerRSS), float64(base.ManagerRSS)), r.ManagerRestarted, r.Stale, r.ManagerLoadBefore, r.ManagerLoadAfter)
	}
}

// managerMemoryRequest is the manager Deployment's memory request, in KiB:
// the bound on its peak RSS.
const managerMemoryRequest = 128 * 1024

// targetLines checks the targets against the rows.
func targetLines(rows []row) []string {
	if len(rows) == 0 {
		return nil
	}
	var out []string
	base := rows[0]
	for _, r := range rows {
		if r.Pods >= 10_000 {
			q := float64(r.Scan) / float64(r.List)
			out = append(out, fmt.Sprintf("scan / LIST at %s pods: %.2f (target <= 1.20): %s", countLabel(r.Pods), q, verdict(q <= 1.2)))
		}
	}
	last := rows[len(rows)-1]
	if len(rows) > 1 {
		q := float64(last.ScanRSS) / float64(base.ScanRSS)
		out = append(out, fmt.Sprintf("scan peak RSS at %s pods / at %s pods: %.2f (target <= 1.20): %s",
			countLabel(last.Pods), countLabel(base.Pods), q, verdict(q <= 1.2)))
	}
	if last.ManagerRSS > 0 {
		out = append(out, fmt.Sprintf("manager peak RSS at %s pods: %s (target <= %s, the Deployment's memory request): %s",
			countLabel(last.Pods), mib(last.ManagerRSS), mib(managerMemoryRequest), verdict(last.ManagerRSS <= managerMemoryRequest)))
		if len(rows) > 1 {
			q := float64(last.ManagerRSS) / float64(base.ManagerRSS)
			out = append(out, fmt.Sprintf("manager peak RSS at %s pods / at %s pods: %.2f (target <= 1.30): %s",
				countLabel(last.Pods), countLabel(base.Pods), q, verdict(q <= 1.3)))
		}
	}
	for _, r := range rows {
		if !r.RealRuns {
			continue
		}
		ok := r.Writes == r.Stale && r.WritesAgain == 0
		out = append(out, fmt.Sprintf("writes at %s pods: %d for %d stale workloads, %d on the second run (target: equal, then 0): %s",
			countLabel(r.Pods), r.Writes, r.Stale, r.WritesAgain, verdict(ok)))
	}
	return out
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// countLabel is 1000 -> "1k", 50000 -> "50k", 1500 -> "1500".
func countLabel(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.3f s", d.Seconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func mib(kibibytes int64) string { return fmt.Sprintf("%.1f MiB", float64(kibibytes)/1024) }

func kib(bytes float64) string { return fmt.Sprintf("%.1f KiB", bytes/1024) }

// median of a non-empty slice; the mean of the two middle values for an
// even length.
func median[T int | int64 | uint32 | float64 | time.Duration](vs []T) T {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// parseInts parses "1000,10000,50000".
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a list of positive numbers", s)
		}
		out = append(out, v)
	}
	return out, nil
}
