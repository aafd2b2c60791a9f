package restarter

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/workload"
)

// generatedPods is an API server stand-in that serves a large pod list in
// pages, making each page's pods on demand, so the test itself holds no pod
// list. Continue tokens are offsets. It can expire the continue token of
// chosen List calls and measure the heap before each page.
type generatedPods struct {
	client.Client // nil: only List is served
	total, owners int
	// expire lists the List calls with a continue token (1 is the first)
	// that fail with 410 Expired.
	expire map[int]bool

	continueCalls int
	pages         int
	// measure reads the live heap (after a GC) before every page.
	measure  bool
	peakHeap uint64
}

func (g *generatedPods) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	start := 0
	if lo.Continue != "" {
		g.continueCalls++
		if g.expire[g.continueCalls] {
			return apierrors.NewResourceExpired("the provided continue parameter is too old")
		}
		start, _ = strconv.Atoi(lo.Continue)
	}
	if g.measure {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		g.peakHeap = max(g.peakHeap, m.HeapAlloc)
	}
	g.pages++
	end := min(start+int(lo.Limit), g.total)
	pods := list.(*corev1.PodList)
	pods.Items = make([]corev1.Pod, 0, end-start)
	for i := start; i < end; i++ {
		owner := fmt.Sprintf("web-%d", i%g.owners)
		layout := "native"
		if i%2 == 1 {
			layout = "regular"
		}
		pods.Items = append(pods.Items, *testPod(fmt.Sprintf("ns-%d", i%g.owners), fmt.Sprintf("%s-%d", owner, i), layout,
			"1.27.3", ownedBy("apps/v1", "ReplicaSet", owner)))
	}
	pods.Continue = ""
	if end < g.total {
		pods.Continue = strconv.Itoa(end)
	}
	return nil
}

func TestScanPagesAndKeepsStatePerOwner(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	api := &generatedPods{total: 10_000, owners: 7}
	r := New(api, nil, Options{PageSize: 500})
	res, err := r.scan(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(api.pages).To(Equal(20))
	g.Expect(res.listed).To(Equal(10_000))
	g.Expect(res.scanned).To(Equal(10_000))
	g.Expect(res.stale).To(Equal(10_000))
	g.Expect(res.groups).To(HaveLen(7))
	for _, grp := range res.groups {
		g.Expect(grp.reasons).To(HaveLen(2)) // version; type for the regular half
		g.Expect(grp.layouts).To(HaveLen(2))
		g.Expect(grp.versions).To(HaveLen(1))
		g.Expect(grp.evict).NotTo(BeNil())
	}
}

func TestScanStartsOverWhenTheContinueTokenExpires(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	api := &generatedPods{total: 2_000, owners: 3, expire: map[int]bool{2: true}}
	res, err := New(api, nil, Options{PageSize: 300}).scan(context.Background(), d)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.listRestarts).To(Equal(1))
	g.Expect(res.listed).To(Equal(2_000), "nothing counted twice")
	g.Expect(res.stale).To(Equal(2_000))
	// 2 pages, the failed call, then all 7 pages again.
	g.Expect(api.pages).To(Equal(2 + 7))
}

func TestScanGivesUpWhenTheTokenKeepsExpiring(t *testing.T) {
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	always := map[int]bool{}
	for i := 1; i <= 100; i++ {
		always[i] = true
	}
	api := &generatedPods{total: 2_000, owners: 3, expire: always}
	_, err := New(api, nil, Options{PageSize: 300}).scan(context.Background(), d)
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsResourceExpired(err)).To(BeTrue())
	g.Expect(api.continueCalls).To(Equal(workload.MaxListRestarts + 1))
}

// TestScanMemoryDoesNotGrowWithPods measures the live heap between pages:
// ten times the pods (same workloads) must not mean more retained memory.
func TestScanMemoryDoesNotGrowWithPods(t *testing.T) {
	if testing.Short() {
		t.Skip("scans 50000 pods")
	}
	g := NewWithT(t)
	d := decision(t, "1.30.0", false)
	peak := func(pods int) uint64 {
		api := &generatedPods{total: pods, owners: 50, measure: true}
		_, err := New(api, nil, Options{PageSize: 500}).scan(context.Background(), d)
		g.Expect(err).NotTo(HaveOccurred())
		return api.peakHeap
	}
	small, large := peak(5_000), peak(50_000)
	t.Logf("peak live heap between pages: %d KiB for 5000 pods, %d KiB for 50000 pods", small/1024, large/1024)
	// A page of 500 pods is about 1 MiB; the aggregation of 50 workloads a
	// few KiB. Growth with the pod count would show as tens of MiB here.
	g.Expect(int64(large) - int64(small)).To(BeNumerically("<", 2<<20))
}

// BenchmarkScan reports the cost of classifying and aggregating pods, per
// scan of the given number of pods.
func BenchmarkScan(b *testing.B) {
	d := decision(b, "1.30.0", false)
	for _, n := range []int{1_000, 10_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				api := &generatedPods{total: n, owners: 100}
				if _, err := New(api, nil, Options{}).scan(context.Background(), d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
