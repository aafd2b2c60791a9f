package main

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// These tests are quick: they never start a cluster. The benchmark itself
// runs with `make bench`.

func TestTableFormat(t *testing.T) {
	g := NewWithT(t)
	rows := []row{
		{Pods: 1000, Reps: 5, List: 200 * time.Millisecond, Scan: 300 * time.Millisecond, ListRSS: 40 * 1024, ScanRSS: 50 * 1024,
			RealRuns: true, Writes: 34, WritesAgain: 0, Stale: 34},
		{Pods: 50000, Reps: 3, List: 12 * time.Second, Scan: 13200 * time.Millisecond, ListRSS: 41 * 1024, ScanRSS: 65 * 1024,
			Stale: 1667},
	}
	var b strings.Builder
	writeTable(&b, rows)
	g.Expect(b.String()).To(Equal(
		"| pods | reps | bare LIST | scan + plan | scan / LIST | scan peak RSS | RSS / RSS at 1k | LIST peak RSS | writes | writes, 2nd run | stale workloads |\n" +
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" +
			"| 1k | 5 | 0.200 s | 0.300 s | 1.50 | 50.0 MiB | 1.00 | 40.0 MiB | 34 | 0 | 34 |\n" +
			"| 50k | 3 | 12.00 s | 13.20 s | 1.10 | 65.0 MiB | 1.30 | 41.0 MiB | n/a | n/a | 1667 |\n"))

	g.Expect(targetLines(rows)).To(Equal([]string{
		"scan / LIST at 50k pods: 1.10 (target <= 1.20): met",
		"scan peak RSS at 50k pods / at 1k pods: 1.30 (target <= 1.20): MISSED",
		"writes at 1k pods: 34 for 34 stale workloads, 0 on the second run (target: equal, then 0): met",
	}))
}

func TestExperimentsTable(t *testing.T) {
	g := NewWithT(t)
	rows := []row{
		{Pods: 1000, List: 200 * time.Millisecond},
		{Pods: 10000, List: 2 * time.Second, Experiments: true, WatchList: 1900 * time.Millisecond, WatchListRSS: 48 * 1024,
			PodList: 1400 * time.Millisecond, PodListRSS: 44 * 1024,
			OwnersSequential: 1500 * time.Millisecond, OwnersConcurrent: 500 * time.Millisecond, OwnersListed: 300 * time.Millisecond},
	}
	var b strings.Builder
	writeExperiments(&b, rows)
	g.Expect(b.String()).To(Equal(
		"| pods | bare LIST | podlist pages | their peak RSS | streaming list | its peak RSS | owner GETs, one at a time | owner GETs, 16 in flight | LIST of all ReplicaSets and Deployments |\n" +
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" +
			"| 10k | 2.000 s | 1.400 s | 44.0 MiB | 1.900 s | 48.0 MiB | 1.500 s | 0.500 s | 0.300 s |\n"))
}

func TestMedian(t *testing.T) {
	g := NewWithT(t)
	g.Expect(median([]int{5, 1, 3})).To(Equal(3))
	g.Expect(median([]float64{4, 1, 3, 2})).To(Equal(2.5))
	in := []time.Duration{3, 1, 2}
	g.Expect(median(in)).To(Equal(time.Duration(2)))
	g.Expect(in).To(Equal([]time.Duration{3, 1, 2}), "median must not sort its input")
}

func TestConfigParse(t *testing.T) {
	tests := []struct {
		name, sizes, reps string
		want              []int
		err               string
	}{
		{name: "one per size", sizes: "1000,10000,50000", reps: "5,5,3", want: []int{5, 5, 3}},
		{name: "one for all", sizes: "1000,2000", reps: "2", want: []int{2, 2}},
		{name: "last counts for the rest", sizes: "1,2,3,4", reps: "5,3", want: []int{5, 3, 3, 3}},
		{name: "not ascending", sizes: "1000,1000", reps: "1", err: "ascending"},
		{name: "not a number", sizes: "1k", reps: "1", err: "positive numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			c := config{namespaces: 20, workers: 1, pageSize: 500}
			err := c.parse(tt.sizes, tt.reps)
			if tt.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.err)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(c.reps).To(Equal(tt.want))
		})
	}
}

func TestDescribeRequest(t *testing.T) {
	tests := []struct {
		method, path    string
		watch           bool
		key             string
		write, podsList bool
	}{
		{"GET", "/api/v1/pods", false, "LIST pods", false, true},
		{"GET", "/api/v1/pods", true, "WATCH pods", false, false},
		{"GET", "/api/v1/namespaces/bench-01", false, "GET namespaces", false, false},
		{"GET", "/apis/apps/v1/namespaces/bench-01/replicasets/app-00001-x", false, "GET replicasets", false, false},
		{"PATCH", "/apis/apps/v1/namespaces/bench-01/deployments/app-00001", false, "PATCH deployments", true, false},
		{"POST", "/api/v1/namespaces/bench-01/pods/p/eviction", false, "POST pods/eviction", true, false},
		{"GET", "/api/v1/namespaces/bench-01/pods", false, "LIST pods", false, true},
	}
	for _, tt := range tests {
		g := NewWithT(t)
		key, write, podsList := describeRequest(tt.method, tt.path, tt.watch)
		g.Expect([]any{key, write, podsList}).To(Equal([]any{tt.key, tt.write, tt.podsList}), tt.path)
	}
}

// The pods must be what the restarter sees as intended: a third of the
// workloads stale, each for the reason its shape says.
func TestShapes(t *testing.T) {
	g := NewWithT(t)
	d, err := sidecarmode.Decide("1.30.0", false, sidecarmode.ClusterFacts{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(staleWorkloads(100)).To(Equal(34))
	g.Expect(staleWorkloads(5000)).To(Equal(1667))

	seen := map[shape]int{}
	for i := range 90 {
		s := shapeOf(i)
		seen[s]++
		n := namesOf(i, 20)
		dep := newDeployment(n, s)
		rs := newReplicaSet(n, s, dep)
		pod := newPod(n, s, rs, 3, d.IstioVersion)
		reasons := sidecarmode.Stale(pod.ObjectMeta, pod.Spec, d)
		g.Expect(len(reasons) > 0).To(Equal(s.stale()), "workload %d, shape %d: %v", i, s, reasons)
		g.Expect(metav1.GetControllerOf(pod).Name).To(Equal(n.replicaSet))
		g.Expect(metav1.GetControllerOf(rs).Name).To(Equal(n.deployment))
		g.Expect(rs.Spec.Selector.MatchLabels).To(HaveKeyWithValue("pod-template-hash", n.hash))
	}
	g.Expect(seen).To(HaveLen(6), "every shape occurs")
	g.Expect(seen[shapeStaleVersion] + seen[shapeStaleLayout] + seen[shapeStaleBoth]).To(Equal(30))
}
