package main

import (
	"net/http"
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

func TestManagerTable(t *testing.T) {
	g := NewWithT(t)
	rows := []row{
		{Pods: 1000, List: 200 * time.Millisecond, Stale: 34, ManagerPass: 4 * time.Second, ManagerRSS: 80 * 1024,
			ManagerRestarted: 34, ManagerLoadBefore: "0.50", ManagerLoadAfter: "0.90"},
		{Pods: 100000, List: 20 * time.Second, Stale: 3334, ManagerPass: 40 * time.Second, ManagerRSS: 110 * 1024,
			ManagerRestarted: 3334, ManagerLoadBefore: "2.10", ManagerLoadAfter: "2.60"},
	}
	var b strings.Builder
	writeManagerTable(&b, rows)
	g.Expect(b.String()).To(Equal(
		"| pods | bare LIST | manager pass | pass / LIST | manager peak RSS | RSS / RSS at 1k | restarted | stale workloads | load before / after |\n" +
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" +
			"| 1k | 0.200 s | 4.000 s | 20.00 | 80.0 MiB | 1.00 | 34 | 34 | 0.50 / 0.90 |\n" +
			"| 100k | 20.00 s | 40.00 s | 2.00 | 110.0 MiB | 1.38 | 3334 | 3334 | 2.10 / 2.60 |\n"))
	g.Expect(targetLines(rows)).To(ContainElements(
		"manager peak RSS at 100k pods: 110.0 MiB (target <= 128.0 MiB, the Deployment's memory request): met",
		"manager peak RSS at 100k pods / at 1k pods: 1.38 (target <= 1.30): MISSED",
	))
}

func TestSelectedTable(t *testing.T) {
	g := NewWithT(t)
	rows := []row{{Pods: 10000, OutsideMesh: 10000, List: 10 * time.Second, Scan: 8 * time.Second, ScanSelected: 4 * time.Second,
		ScanRSS: 70 * 1024, ScanSelectedRSS: 69 * 1024, ListRequests: 40, SelectedRequests: 21, LoadBefore: "1.00", SelectedLoadAfter: "1.50"}}
	var b strings.Builder
	writeSelectedTable(&b, rows)
	g.Expect(b.String()).To(Equal(
		"| pods with a proxy | pods without | bare LIST of all | scan + plan, all pods | scan + plan, selected | selected / LIST | selected / full scan | peak RSS, full / selected | pod LISTs, full / selected | load before / after |\n" +
			"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" +
			"| 10k | 10k | 10.00 s | 8.000 s | 4.000 s | 0.40 | 0.50 | 70.0 MiB / 69.0 MiB | 40 / 21 | 1.00 / 1.50 |\n"))
}

// The selected scan narrows LISTs of pods, and nothing else.
func TestSelectMeshPods(t *testing.T) {
	g := NewWithT(t)
	var seen []string
	rt := selectMeshPods(roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		seen = append(seen, req.URL.RequestURI())
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}))
	for _, u := range []string{
		"https://api/api/v1/pods?limit=500",
		"https://api/api/v1/namespaces/a/pods?limit=500&continue=x",
		"https://api/api/v1/namespaces/a/pods/p1",
		"https://api/apis/apps/v1/deployments?limit=50",
	} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		g.Expect(err).NotTo(HaveOccurred())
		_, err = rt.RoundTrip(req)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(seen).To(Equal([]string{
		"/api/v1/pods?labelSelector=service.istio.io%2Fcanonical-name&limit=500",
		"/api/v1/namespaces/a/pods?continue=x&labelSelector=service.istio.io%2Fcanonical-name&limit=500",
		"/api/v1/namespaces/a/pods/p1",
		"/apis/apps/v1/deployments?limit=50",
	}))
}
