package restarter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/podlist"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// restartable is a workload of the "mixed" namespace that the restarter
// restarts itself.
type restartable struct {
	kind, name string
	pods       int
	evicted    bool // its pods are evicted (OnDelete, no owner) rather than rolled out
}

func (w restartable) ref() string { return w.kind + " mixed/" + w.name }

var mixed = []restartable{
	{kind: "Deployment", name: "web", pods: 2},
	{kind: "Deployment", name: "legacy", pods: 2},
	{kind: "StatefulSet", name: "db-rolling", pods: 2},
	{kind: "StatefulSet", name: "db-ondelete", pods: 2, evicted: true},
	{kind: "DaemonSet", name: "agent", pods: 3},
	{kind: "DaemonSet", name: "agent-ondelete", pods: 3, evicted: true},
	{kind: "ReplicaSet", name: "lonely", pods: 2, evicted: true},
	{kind: "ReplicationController", name: "old-rc", pods: 2, evicted: true},
}

// manual are the workloads of "mixed" the restarter reports but never touches.
var manual = []string{"CronJob mixed/nightly", "Deployment mixed/paused", "Job mixed/batch", "Pod mixed/bare-native", "Pod mixed/bare-regular"}

const (
	// podsBefore counts the pods with a proxy outside istio-system: 24 in
	// "mixed", 1 in "quiet", 6 each in "stop" and "pace", the gateway in "gw".
	podsBefore = 38
	// optedOut counts the opted-out workloads while "stop", "pace" and "gw"
	// are opted out: mixed/mine, quiet/web, 6 in stop, 6 in pace, gw/ingress.
	optedOutCount = 15
)

// runUntilSettled runs the restarter the way the reconciler does, again and
// again, until it reports nothing in progress, and returns the last summary.
// Every workload here converges, so none may ever be reported as not
// converging on the way.
func runUntilSettled(ctx context.Context, r *restarter.Restarter, d sidecarmode.Decision, afterRun func(Gomega)) restarter.Summary {
	GinkgoHelper()
	var last restarter.Summary
	runs := 0
	Eventually(func(g Gomega) {
		s, err := r.Run(ctx, d)
		runs++
		g.Expect(err).NotTo(HaveOccurred())
		if s.String() != last.String() {
			GinkgoWriter.Printf("run %d: %s\n", runs, s)
		}
		last = s
		Expect(s.NotConverging.Count).To(BeZero(), "run %d: %s", runs, s)
		if afterRun != nil {
			afterRun(g)
		}
		g.Expect(s.InProgress).To(BeFalse(), "%s", s)
	}).Should(Succeed())
	return last
}

// watch calls fn every 20ms in the background until the returned stop is
// called; stop waits for the last call to finish.
func watch(ctx context.Context, fn func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		for {
			fn(ctx)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func evictions(cc *countingClient, uids map[string]bool) (n int, unique map[string]int) {
	unique = map[string]int{}
	for _, w := range cc.Writes() {
		if w.Verb == "evict" && uids[string(w.UID)] {
			n++
			unique[string(w.UID)]++
		}
	}
	return n, unique
}

var _ = Describe("Restarter in a cluster with istiod injecting", Ordered, func() {
	var old, cur sidecarmode.Decision

	BeforeAll(func(ctx SpecContext) {
		old, cur = decide("1.27.3", false), decide("1.30.0", false)
		Expect(old.Target()).To(Equal("1.29.2/native"))
		Expect(cur.Target()).To(Equal("1.30.2/native"))
		installIstio(ctx, old)

		createNamespace(ctx, "mixed", nil)
		createNamespace(ctx, "quiet", map[string]string{restarter.OptOutAnnotation: restarter.OptOutDisabled})
		createNamespace(ctx, "stop", map[string]string{restarter.OptOutAnnotation: restarter.OptOutDisabled})
		createNamespace(ctx, "pace", map[string]string{restarter.OptOutAnnotation: restarter.OptOutDisabled})
		createNamespace(ctx, "gw", map[string]string{restarter.OptOutAnnotation: restarter.OptOutDisabled})

		mine := deployment("mixed", "mine", 1, nil)
		mine.Annotations = map[string]string{restarter.OptOutAnnotation: restarter.OptOutDisabled}
		cron := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Namespace: "mixed", Name: "nightly"},
			Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", Suspend: ptr.To(true),
				JobTemplate: batchv1.JobTemplateSpec{Spec: jobSpec("nightly")}},
		}
		objs := []client.Object{
			deployment("mixed", "web", 2, nil),
			deployment("mixed", "legacy", 2, regular),
			deployment("mixed", "paused", 1, nil),
			mine,
			statefulSet("mixed", "db-rolling", 2, appsv1.RollingUpdateStatefulSetStrategyType, nil),
			statefulSet("mixed", "db-ondelete", 2, appsv1.OnDeleteStatefulSetStrategyType, regular),
			daemonSet("mixed", "agent", appsv1.RollingUpdateDaemonSetStrategyType, nil),
			daemonSet("mixed", "agent-ondelete", appsv1.OnDeleteDaemonSetStrategyType, regular),
			replicaSet("mixed", "lonely", 2, nil),
			replicationController("mixed", "old-rc", 2),
			job("mixed", "batch"),
			cron,
			barePod("mixed", "bare-native", nil),
			barePod("mixed", "bare-regular", regular),
			deployment("quiet", "web", 1, nil),
			gatewayDeployment("gw", "ingress"),
		}
		for i := range 6 {
			objs = append(objs, deployment("stop", fmt.Sprintf("s%d", i), 1, nil))
			p := deployment("pace", fmt.Sprintf("p%d", i), 1, nil)
			// Rollouts take a while, so the pacing limit is really exercised.
			p.Spec.MinReadySeconds = 2
			objs = append(objs, p)
		}
		for _, obj := range objs {
			Expect(env.Client.Create(ctx, obj)).To(Succeed(), "create %T %s", obj, obj.GetName())
		}
		// A Job started by hand from the CronJob, as `kubectl create job --from` does.
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cron), cron)).To(Succeed())
		fromCron := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Namespace: "mixed", Name: "nightly-manual", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "batch/v1", Kind: "CronJob", Name: cron.Name, UID: cron.UID, Controller: ptr.To(true),
			}}},
			Spec: cron.Spec.JobTemplate.Spec,
		}
		Expect(env.Client.Create(ctx, fromCron)).To(Succeed())
		runJobPods(ctx, "mixed", "batch", 1)
		runJobPods(ctx, "mixed", "nightly", 1)

		for _, w := range mixed {
			expectPods(ctx, "mixed", w.name, w.pods, old)
		}
		for _, app := range []string{"paused", "mine", "batch", "nightly", "bare-native", "bare-regular"} {
			expectPods(ctx, "mixed", app, 1, old)
		}
		expectPods(ctx, "quiet", "web", 1, old)
		expectPods(ctx, "gw", "ingress", 1, old)
		for i := range 6 {
			expectPods(ctx, "stop", fmt.Sprintf("s%d", i), 1, old)
			expectPods(ctx, "pace", fmt.Sprintf("p%d", i), 1, old)
		}
		paused := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "mixed", Name: "paused"}}
		Expect(env.Client.Patch(ctx, paused, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"paused":true}}`)))).To(Succeed())
	})

	It("writes nothing when nothing is stale", func(ctx SpecContext) {
		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods, PageSize: 7})
		for range 3 {
			s, err := r.Run(ctx, old)
			Expect(err).NotTo(HaveOccurred())
			Expect(s).To(Equal(restarter.Summary{Target: old.Target(), PodsScanned: podsBefore}))
		}
		Expect(cc.Writes()).To(BeEmpty())
		Expect(events.events).To(BeEmpty())
	})

	It("plans the same when it lists the owners it needs as when it reads them one by one, with fewer reads", func(ctx SpecContext) {
		plan := func(cc *countingClient, listMin int) *restarter.Plan {
			GinkgoHelper()
			defer restarter.SetListMinObjects(listMin)()
			p, err := restarter.New(cc, nil, restarter.Options{Pods: pods, PageSize: 5}).Plan(ctx, cur)
			Expect(err).NotTo(HaveOccurred())
			return p
		}
		var oneByOne, listed *countingClient
		Eventually(func(g Gomega) {
			oneByOne = newCountingClient(operatorClient)
			want := plan(oneByOne, 1_000_000)
			listed = newCountingClient(operatorClient)
			// A continue token of the ReplicaSet listing expires: it starts over.
			listed.expireContinueAt, listed.expireOnly = 1, &metav1.PartialObjectMetadataList{}
			got := plan(listed, 1)
			g.Expect(got.Workloads).NotTo(BeEmpty())
			g.Expect(got).To(Equal(want))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		// Read one by one: a GET per ReplicaSet of stale pods, and one per
		// Deployment, StatefulSet and namespace.
		Expect(oneByOne.Reads("get ReplicaSet")).To(BeNumerically(">=", 16))
		Expect(oneByOne.Reads("list ReplicaSetList")).To(BeZero())
		Expect(listed.Expired()).To(Equal(1))
		for _, kind := range []string{"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Namespace"} {
			Expect(oneByOne.Reads("get "+kind)).NotTo(BeZero(), kind)
			Expect(listed.Reads("list "+kind+"List")).To(BeNumerically(">=", 2), "%s: counted, then listed", kind)
			if kind == "ReplicaSet" {
				// ReplicaSets are listed by their metadata: the one without
				// an owner, mixed/lonely, is the workload and is read whole.
				Expect(listed.Reads("get " + kind)).To(Equal(1))
				continue
			}
			Expect(listed.Reads("get "+kind)).To(BeZero(), "%s: every one needed was listed", kind)
		}
		Expect(listed.Writes()).To(BeEmpty())
	})

	It("after an upgrade, restarts every restartable workload exactly once and reports the others by name", func(ctx SpecContext) {
		installIstio(ctx, cur)
		before := map[string]map[string]bool{}
		for _, w := range mixed {
			before[w.name] = podUIDs(ctx, "mixed", w.name)
		}

		By("planning in a dry run: the same plan, nothing written")
		dry := newCountingClient(operatorClient)
		s, err := restarter.New(dry, &eventRecorder{}, restarter.Options{Pods: pods, DryRun: true}).Run(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.StalePods).To(Equal(podsBefore))
		Expect(s.Restarted.Count).To(Equal(restarter.DefaultMaxConcurrentRollouts))
		Expect(s.Pending.Count).To(Equal(len(mixed) - restarter.DefaultMaxConcurrentRollouts))
		Expect(s.ManualRestart.Names).To(Equal(manual))
		Expect(s.OptedOut.Count).To(Equal(optedOutCount))
		Expect(dry.Writes()).To(BeEmpty())

		plan, err := restarter.New(operatorClient, nil, restarter.Options{Pods: pods}).Plan(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		entries := map[string]restarter.WorkloadPlan{}
		for _, wp := range plan.Workloads {
			entries[wp.Workload.String()] = wp
		}
		job := entries["Job mixed/batch"]
		Expect(job.Workload).To(Equal(restarter.WorkloadRef{APIVersion: "batch/v1", Kind: "Job", Namespace: "mixed", Name: "batch"}))
		Expect(job.Layouts).To(Equal([]sidecarmode.Layout{sidecarmode.LayoutNative}))
		Expect(job.ProxyVersions).To(Equal([]string{"1.29.2"}))
		Expect(job.StalePods).To(Equal(1))
		Expect(job.Reasons).To(Equal([]string{"1.29.2, expected 1.30.2"}))
		Expect(job.Action).To(Equal(restarter.ActionManual))
		Expect(job.Why).To(ContainSubstring("a Job: a restart would cut its run short"))
		Expect(entries["CronJob mixed/nightly"].Why).To(ContainSubstring("its Job nightly-manual runs pods with stale proxies"))
		Expect(entries["Pod mixed/bare-regular"].Layouts).To(Equal([]sidecarmode.Layout{sidecarmode.LayoutRegular}))
		Expect(entries["Deployment mixed/legacy"].Layouts).To(Equal([]sidecarmode.Layout{sidecarmode.LayoutRegular}))
		Expect(entries["Deployment mixed/legacy"].Action).To(Equal(restarter.ActionRolloutRestart))
		Expect(entries["DaemonSet mixed/agent-ondelete"].Action).To(Equal(restarter.ActionEvict))
		Expect(entries["DaemonSet mixed/agent-ondelete"].Strategy).To(Equal("OnDelete"))
		Expect(entries["DaemonSet mixed/agent-ondelete"].StalePods).To(Equal(3))
		Expect(entries["Deployment mixed/paused"].Why).To(ContainSubstring("a paused Deployment"))
		Expect(entries["Deployment mixed/mine"].Action).To(Equal(restarter.ActionOptedOut))

		By("running it like the reconciler until nothing is in progress")
		// Pods are evicted one at a time: at most one pod of a workload is
		// missing or not ready at any moment.
		var mu sync.Mutex
		fewestReady := map[string]int{}
		stopWatching := watch(ctx, func(ctx context.Context) {
			for _, w := range mixed {
				if !w.evicted {
					continue
				}
				var pods corev1.PodList
				if err := env.Client.List(ctx, &pods, client.InNamespace("mixed"), client.MatchingLabels(labels(w.name))); err != nil {
					continue
				}
				ready := 0
				for _, p := range pods.Items {
					if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
						ready++
					}
				}
				mu.Lock()
				if n, ok := fewestReady[w.name]; !ok || ready < n {
					fewestReady[w.name] = ready
				}
				mu.Unlock()
			}
		})
		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods})
		last := runUntilSettled(ctx, r, cur, nil)
		stopWatching()
		for _, w := range mixed {
			if w.evicted {
				Expect(fewestReady[w.name]).To(BeNumerically(">=", w.pods-1), "ready pods of %s during its evictions", w.ref())
			}
		}
		// Left stale: one pod of each manual workload, one of each opted-out one.
		Expect(last.StalePods).To(Equal(len(manual) + optedOutCount))
		Expect(last.Restarted.Count).To(BeZero())
		Expect(last.NotConverging.Count).To(BeZero())
		Expect(last.ManualRestart.Names).To(Equal(manual))
		Expect(last.OptedOut.Count).To(Equal(optedOutCount))

		By("every restartable workload was rolled out exactly once and runs fresh pods")
		for _, w := range mixed {
			expectPods(ctx, "mixed", w.name, w.pods, cur)
			Expect(cc.Count("patch", w.ref())).To(Equal(1), w.ref())
			Expect(events.Count(restarter.EventRolloutRestarted, w.ref())+events.Count(restarter.EventPodEvicted, w.ref())).
				To(BeNumerically(">=", 1), w.ref())
			n, unique := evictions(cc, before[w.name])
			if w.evicted {
				Expect(n).To(Equal(w.pods), "evictions of %s", w.ref())
				for uid, times := range unique {
					Expect(times).To(Equal(1), "pod %s of %s evicted more than once", uid, w.ref())
				}
			} else {
				Expect(n).To(BeZero(), w.ref())
			}
		}
		// 8 marker patches and 9 evictions, nothing else.
		Expect(cc.Writes()).To(HaveLen(len(mixed) + 2 + 3 + 2 + 2))
		for _, ref := range manual {
			Expect(events.Count(restarter.EventManualRestartRequired, ref)).To(Equal(1), ref)
		}
		Expect(cc.Count("patch", "Deployment mixed/mine")).To(BeZero())
		Expect(cc.Count("patch", "Deployment quiet/web")).To(BeZero())

		By("running again, by this restarter and by a new one, writes nothing more")
		writes := len(cc.Writes())
		again := restarter.New(cc, events, restarter.Options{Pods: pods})
		Consistently(func(g Gomega) {
			for _, rr := range []*restarter.Restarter{r, again} {
				s, err := rr.Run(ctx, cur)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(s.InProgress).To(BeFalse())
			}
			g.Expect(cc.Writes()).To(HaveLen(writes))
		}).WithTimeout(3 * time.Second).Should(Succeed())
	})

	It("restarts a gateway deployed by injection once after an upgrade, and it comes back with the new proxy", func(ctx SpecContext) {
		// The upgrade above left gw/ingress, opted out, with the 1.29.2
		// proxy the previous injector gave it.
		const ref = "Deployment gw/ingress"
		before := livePods(ctx, Default, "gw", "ingress")
		Expect(before).To(HaveLen(1))
		proxy := sidecarmode.Inspect(before[0].ObjectMeta, before[0].Spec)
		Expect(proxy.Layout).To(Equal(sidecarmode.LayoutGateway))
		Expect(proxy.Version).To(Equal("1.29.2"))
		Expect(sidecarmode.StaleProxy(proxy, before[0].Annotations, cur)).To(Equal([]sidecarmode.StaleReason{
			{Kind: sidecarmode.ReasonWrongVersion, Message: "1.29.2, expected 1.30.2"}}))

		setNamespaceOptOut(ctx, "gw", false)
		DeferCleanup(setNamespaceOptOut, "gw", true)
		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods})
		runUntilSettled(ctx, r, cur, nil)

		expectPods(ctx, "gw", "ingress", 1, cur)
		after := livePods(ctx, Default, "gw", "ingress")
		proxy = sidecarmode.Inspect(after[0].ObjectMeta, after[0].Spec)
		Expect(proxy.Layout).To(Equal(sidecarmode.LayoutGateway))
		Expect(proxy.Version).To(Equal("1.30.2"))
		Expect(cc.Count("patch", ref)).To(Equal(1))
		Expect(cc.Writes()).To(HaveLen(1))
		Expect(events.Count(restarter.EventRolloutRestarted, ref)).To(Equal(1))
		// The injector was asked once, before the restart.
		Expect(cc.DryRuns()).To(HaveLen(1))
	})

	It("survives a continue token that expires in the middle of the scan", func(ctx SpecContext) {
		clean, err := restarter.New(operatorClient, nil, restarter.Options{Pods: pods, PageSize: 4}).Plan(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		Expect(clean.PodsListed).To(BeNumerically(">", 3*4), "several pages")
		Expect(clean.ListRestarts).To(BeZero())

		By("listing the pods with podlist, as the operator does")
		var continued, expired atomic.Int32
		cfg := rest.CopyConfig(operator.Config)
		cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
				if req.URL.Path == "/api/v1/pods" && req.URL.Query().Get("continue") != "" && continued.Add(1) == 3 {
					expired.Add(1)
					return expiredContinue(req), nil
				}
				return next.RoundTrip(req)
			})
		})
		expiring, err := podlist.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		got, err := restarter.New(operatorClient, nil, restarter.Options{Pods: expiring, PageSize: 4}).Plan(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		Expect(expired.Load()).To(BeEquivalentTo(1))
		expectSamePlanAfterOneRestart(got, clean)

		By("listing the pods through the client")
		cc := newCountingClient(operatorClient)
		cc.expireContinueAt = 3
		got, err = restarter.New(cc, nil, restarter.Options{PageSize: 4}).Plan(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		Expect(cc.Expired()).To(Equal(1))
		expectSamePlanAfterOneRestart(got, clean)
		Expect(cc.Writes()).To(BeEmpty())
	})

	It("stopped in the middle of a plan, a new restarter patches no workload twice", func(ctx SpecContext) {
		setNamespaceOptOut(ctx, "stop", false)

		stopped, stop := context.WithCancel(ctx)
		defer stop()
		first := newCountingClient(operatorClient)
		first.afterPatch = func(n int) {
			if n == 2 {
				stop() // the operator dies right after its second patch
			}
		}
		_, err := restarter.New(first, nil, restarter.Options{Pods: pods, MaxConcurrentRollouts: 10}).Run(stopped, cur)
		Expect(err).To(MatchError(context.Canceled))
		Expect(first.Writes()).To(HaveLen(2))

		second := newCountingClient(operatorClient)
		runUntilSettled(ctx, restarter.New(second, nil, restarter.Options{Pods: pods, MaxConcurrentRollouts: 10}), cur, nil)
		for i := range 6 {
			ref := fmt.Sprintf("Deployment stop/s%d", i)
			Expect(first.Count("patch", ref)+second.Count("patch", ref)).To(Equal(1), ref)
			expectPods(ctx, "stop", fmt.Sprintf("s%d", i), 1, cur)
		}
		Expect(second.Writes()).To(HaveLen(4))
	})

	It("never has more than MaxConcurrentRollouts rollouts in progress", func(ctx SpecContext) {
		const limit = 2
		setNamespaceOptOut(ctx, "pace", false)

		// Watch the Deployments from outside while the restarter works.
		var most atomic.Int32
		stopWatching := watch(ctx, func(ctx context.Context) {
			if n, err := rollingDeployments(ctx, "pace", cur.Target()); err == nil && int32(n) > most.Load() {
				most.Store(int32(n))
			}
		})

		cc := newCountingClient(operatorClient)
		r := restarter.New(cc, nil, restarter.Options{Pods: pods, MaxConcurrentRollouts: limit})
		s, err := r.Run(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Restarted.Names).To(Equal([]string{"Deployment pace/p0", "Deployment pace/p1"}))
		Expect(s.Pending.Count).To(Equal(4))

		runUntilSettled(ctx, r, cur, func(g Gomega) {
			n, err := rollingDeployments(ctx, "pace", cur.Target())
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(n).To(BeNumerically("<=", limit), "rollouts in progress right after a run")
		})
		stopWatching()
		Expect(most.Load()).To(Equal(int32(limit)))
		for i := range 6 {
			Expect(cc.Count("patch", fmt.Sprintf("Deployment pace/p%d", i))).To(Equal(1))
			expectPods(ctx, "pace", fmt.Sprintf("p%d", i), 1, cur)
		}
		Expect(cc.Writes()).To(HaveLen(6))
	})

	It("restarts nothing when the operator's expectation and istiod's setting disagree: the injector vetoes each restart", func(ctx SpecContext) {
		for _, ns := range []string{"mixed", "stop", "pace"} {
			setNamespaceOptOut(ctx, ns, true)
		}
		createNamespace(ctx, "loop", nil)
		Expect(env.Client.Create(ctx, deployment("loop", "web", 2, nil))).To(Succeed())
		Expect(env.Client.Create(ctx, statefulSet("loop", "db", 2, appsv1.OnDeleteStatefulSetStrategyType, nil))).To(Succeed())
		expectPods(ctx, "loop", "web", 2, cur)
		expectPods(ctx, "loop", "db", 2, cur)
		original := map[string]map[string]bool{"web": podUIDs(ctx, "loop", "web"), "db": podUIDs(ctx, "loop", "db")}

		// istiod keeps injecting native sidecars; the restarter is told to
		// expect regular containers. Before the dry-run check, this gave one
		// restart of each workload and then "not converging".
		wrong := cur
		wrong.DefaultType, wrong.EnableNativeSidecars = sidecarmode.Regular, "false"

		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods})
		operatorRestarted := restarter.New(cc, events, restarter.Options{Pods: pods})
		runs := 0
		Consistently(func(g Gomega) {
			for _, rr := range []*restarter.Restarter{r, operatorRestarted} {
				s, err := rr.Run(ctx, wrong)
				runs++
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(s.SameProxy.Names).To(ConsistOf("Deployment loop/web", "StatefulSet loop/db"))
				g.Expect(s.Restarted.Count).To(BeZero())
				g.Expect(s.NotConverging.Count).To(BeZero())
				g.Expect(s.InProgress).To(BeFalse())
			}
		}).WithTimeout(5 * time.Second).Should(Succeed())
		Expect(runs).To(BeNumerically(">=", 20))

		Expect(cc.Writes()).To(BeEmpty())
		// Each restarter asked the injector once per workload, then
		// remembered its answer.
		Expect(cc.DryRuns()).To(HaveLen(4))
		Expect(events.Count(restarter.EventRestartSkipped, "Deployment loop/web")).To(Equal(2), "once per restarter")
		Expect(podUIDs(ctx, "loop", "web")).To(Equal(original["web"]))
		Expect(podUIDs(ctx, "loop", "db")).To(Equal(original["db"]))

		plan, err := restarter.New(operatorClient, nil, restarter.Options{Pods: pods}).Plan(ctx, wrong)
		Expect(err).NotTo(HaveOccurred())
		for _, wp := range plan.Workloads {
			if wp.Workload.Namespace == "loop" {
				// Plan alone does not ask the injector: it says what Run would try.
				Expect(wp.Reasons).To(Equal([]string{"native, expected regular"}))
				Expect(wp.RestartedFor).To(BeEmpty())
			}
		}
		var web appsv1.Deployment
		Expect(env.Client.Get(ctx, client.ObjectKey{Namespace: "loop", Name: "web"}, &web)).To(Succeed())
		Expect(web.Spec.Template.Annotations).NotTo(HaveKey(restarter.RestartAnnotation))

		By("the injector's answer, in the plan's words")
		s, err := restarter.New(operatorClient, nil, restarter.Options{Pods: pods}).Run(ctx, wrong)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.SameProxy.Count).To(Equal(2))
		webRef := restarter.WorkloadRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "loop", Name: "web"}
		answer, err := r.AskInjector(ctx, webRef, wrong.Target())
		Expect(err).NotTo(HaveOccurred())
		Expect(restarter.ProxyPhrase(answer)).To(Equal("native 1.30.2"))

		By("what one ask costs (reported, not asserted: docs/restarter.md quotes it)")
		const asks = 20
		start := time.Now()
		for range asks {
			_, err := r.AskInjector(ctx, webRef, wrong.Target())
			Expect(err).NotTo(HaveOccurred())
		}
		AddReportEntry("injector dry run (GET + dry-run create through istiod's webhook)", (time.Since(start) / asks).String())
	})

	It("leaves a workload whose dry run is refused untouched and pending, with the error", func(ctx SpecContext) {
		setNamespaceOptOut(ctx, "loop", true)
		createNamespace(ctx, "refused", nil)
		Expect(env.Client.Create(ctx, deployment("refused", "web", 1, nil))).To(Succeed())
		expectPods(ctx, "refused", "web", 1, cur)
		original := podUIDs(ctx, "refused", "web")
		// A quota the running pod already fills: the API server refuses
		// every new pod of the namespace, the dry run's too.
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Namespace: "refused", Name: "full"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}},
		}
		Expect(env.Client.Create(ctx, quota)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			setNamespaceOptOut(ctx, "refused", true)
		})
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(quota), quota)).To(Succeed())
			g.Expect(quota.Status.Used).To(HaveKey(corev1.ResourcePods))
		}).Should(Succeed())

		wrong := cur
		wrong.DefaultType, wrong.EnableNativeSidecars = sidecarmode.Regular, "false"
		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods})
		Consistently(func(g Gomega) {
			s, err := r.Run(ctx, wrong)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.Pending.Names).To(Equal([]string{"Deployment refused/web"}))
			g.Expect(s.Restarted.Count).To(BeZero())
			g.Expect(s.InProgress).To(BeTrue())
		}).WithTimeout(3 * time.Second).Should(Succeed())
		Expect(cc.Writes()).To(BeEmpty())
		Expect(podUIDs(ctx, "refused", "web")).To(Equal(original))
		Expect(events.Count(restarter.EventInjectorDryRunFailed, "Deployment refused/web")).To(Equal(1))
		note := events.Note(restarter.EventInjectorDryRunFailed, "Deployment refused/web")
		Expect(note).To(ContainSubstring("not restarted, because the injector could not be asked"))
		Expect(note).To(ContainSubstring("exceeded quota"))
	})

	It("evicts through the Eviction API: a PodDisruptionBudget holds the eviction back until it allows it", func(ctx SpecContext) {
		setNamespaceOptOut(ctx, "loop", true)
		setNamespaceOptOut(ctx, "refused", true)
		createNamespace(ctx, "guarded", nil)
		Expect(env.Client.Create(ctx, statefulSet("guarded", "db", 2, appsv1.OnDeleteStatefulSetStrategyType, nil))).To(Succeed())
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: "guarded", Name: "db"},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(2)),
				Selector:     &metav1.LabelSelector{MatchLabels: labels("db")},
			},
		}
		Expect(env.Client.Create(ctx, pdb)).To(Succeed())
		expectPods(ctx, "guarded", "db", 2, cur)
		original := podUIDs(ctx, "guarded", "db")

		// The operator expects regular containers and the template now asks
		// for them (a change an OnDelete StatefulSet does not roll out): a
		// restart changes the proxy, so the injector lets it go ahead.
		wrong := cur
		wrong.DefaultType, wrong.EnableNativeSidecars = sidecarmode.Regular, "false"
		sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "guarded", Name: "db"}}
		Expect(env.Client.Patch(ctx, sts, client.RawPatch("application/merge-patch+json", fmt.Appendf(nil,
			`{"spec":{"template":{"metadata":{"annotations":{%q:"false"}}}}}`, sidecarmode.AnnotationNativeSidecar)))).To(Succeed())
		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods})
		var s restarter.Summary
		Eventually(func(g Gomega) {
			// Until the StatefulSet controller has observed the change.
			var err error
			s, err = r.Run(ctx, wrong)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.Restarted.Names).To(Equal([]string{"StatefulSet guarded/db"}))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			s, err := r.Run(ctx, wrong)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.Pending.Names).To(Equal([]string{"StatefulSet guarded/db"}))
			g.Expect(podUIDs(ctx, "guarded", "db")).To(Equal(original))
		}).WithTimeout(2 * time.Second).Should(Succeed())
		Expect(cc.Count("patch", "StatefulSet guarded/db")).To(Equal(1))
		Expect(events.Count(restarter.EventEvictionBlocked, "StatefulSet guarded/db")).To(Equal(1))
		plan, err := restarter.New(operatorClient, nil, restarter.Options{Pods: pods}).Plan(ctx, wrong)
		Expect(err).NotTo(HaveOccurred())
		Expect(plan.Workloads).To(ContainElement(SatisfyAll(
			HaveField("Workload.Name", "db"), HaveField("Action", restarter.ActionEvict), HaveField("RestartedFor", "1.30.2/regular"))))

		Expect(env.Client.Delete(ctx, pdb)).To(Succeed())
		runUntilSettled(ctx, r, wrong, nil)
		expectPods(ctx, "guarded", "db", 2, wrong)
		for uid := range podUIDs(ctx, "guarded", "db") {
			Expect(original).NotTo(HaveKey(uid))
		}
		Expect(cc.Count("patch", "StatefulSet guarded/db")).To(Equal(1))
		// Both original pods were evicted (the count includes the attempts
		// the PodDisruptionBudget refused).
		_, unique := evictions(cc, original)
		Expect(unique).To(HaveLen(2))
		// Asked once, before the first eviction; not again per pod.
		Expect(cc.DryRuns()).To(HaveLen(1))
	})

	It("never restarts workloads of the grpc-agent template or of a custom template: the model does not guess, the injector answers", func(ctx SpecContext) {
		for _, ns := range []string{"mixed", "stop", "pace", "loop", "refused", "guarded"} {
			setNamespaceOptOut(ctx, ns, true)
		}
		// A custom template in the injector's configuration, as a user adds
		// one (sidecarInjectorWebhook.templates): istiod reads the ConfigMap
		// as it changes.
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: testenv.IstioNamespace, Name: "istio-sidecar-injector"}}
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		original := cm.Data["config"]
		var config map[string]any
		Expect(yaml.Unmarshal([]byte(original), &config)).To(Succeed())
		config["templates"].(map[string]any)["custom"] = "spec:\n  containers:\n  - name: istio-proxy\n" +
			"    image: \"{{ .ProxyImage }}\"\n    args: [proxy, sidecar]\n"
		b, err := yaml.Marshal(config)
		Expect(err).NotTo(HaveOccurred())
		cm.Data["config"] = string(b)
		Expect(env.Client.Update(ctx, cm)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			cm.Data["config"] = original
			Expect(env.Client.Update(ctx, cm)).To(Succeed())
		})

		createNamespace(ctx, "tmpl", nil)
		Expect(env.Client.Create(ctx, deployment("tmpl", "agent", 1, map[string]string{sidecarmode.AnnotationInjectTemplates: sidecarmode.TemplateGRPCAgent}))).To(Succeed())
		Expect(env.Client.Create(ctx, deployment("tmpl", "custom", 1, map[string]string{sidecarmode.AnnotationInjectTemplates: "custom"}))).To(Succeed())
		// Until istiod has read the new template, the custom pod is refused;
		// its ReplicaSet retries.
		expectPods(ctx, "tmpl", "agent", 1, cur)
		expectPods(ctx, "tmpl", "custom", 1, cur)
		for _, app := range []string{"agent", "custom"} {
			p := livePods(ctx, Default, "tmpl", app)[0]
			Expect(sidecarmode.Inspect(p.ObjectMeta, p.Spec).Layout).To(Equal(sidecarmode.LayoutRegular), app)
		}
		Expect(sidecarmode.ExpectedType(map[string]string{sidecarmode.AnnotationInjectTemplates: "custom"}, cur)).
			To(Equal(sidecarmode.TypeUnknown))

		By("under the target istiod injects, nothing of theirs is stale")
		cc, events := newCountingClient(operatorClient), &eventRecorder{}
		r := restarter.New(cc, events, restarter.Options{Pods: pods})
		plan, err := r.Plan(ctx, cur)
		Expect(err).NotTo(HaveOccurred())
		for _, wp := range plan.Workloads {
			Expect(wp.Workload.Namespace).NotTo(Equal("tmpl"), "%s: %s", wp.Workload, wp.Why)
		}

		By("under a target istiod does not inject, the injector vetoes both restarts")
		newer := cur
		newer.IstioVersion = "1.30.3"
		Consistently(func(g Gomega) {
			s, err := r.Run(ctx, newer)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(s.SameProxy.Names).To(ConsistOf("Deployment tmpl/agent", "Deployment tmpl/custom"))
			g.Expect(s.Restarted.Count).To(BeZero())
			g.Expect(s.NotConverging.Count).To(BeZero())
		}).WithTimeout(3 * time.Second).Should(Succeed())
		Expect(cc.Writes()).To(BeEmpty())
		Expect(cc.DryRuns()).To(HaveLen(2))
		Expect(events.Note(restarter.EventRestartSkipped, "Deployment tmpl/custom")).
			To(ContainSubstring("the injector gives a new pod the same proxy (regular 1.30.2)"))
	})
})

// expectSamePlanAfterOneRestart compares a plan whose pod listing restarted
// once, after an expired continue token, with a clean one.
func expectSamePlanAfterOneRestart(got, clean *restarter.Plan) {
	GinkgoHelper()
	Expect(got.ListRestarts).To(Equal(1))
	Expect(got.PodsListed).To(Equal(clean.PodsListed))
	Expect(got.PodsScanned).To(Equal(clean.PodsScanned))
	Expect(got.StalePods).To(Equal(clean.StalePods))
	Expect(got.StaleByReason).To(Equal(clean.StaleByReason))
	type line struct {
		ref     string
		action  restarter.Action
		stale   int
		reasons []string
	}
	lines := func(p *restarter.Plan) []line {
		var out []line
		for _, wp := range p.Workloads {
			out = append(out, line{wp.Workload.String(), wp.Action, wp.StalePods, wp.Reasons})
		}
		return out
	}
	Expect(lines(got)).To(Equal(lines(clean)))
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// expiredContinue is the API server's answer to a continue token whose
// snapshot was compacted away.
func expiredContinue(req *http.Request) *http.Response {
	status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",` +
		`"message":"The provided continue parameter is too old to display a consistent list result.",` +
		`"reason":"Expired","code":410}`
	return &http.Response{
		StatusCode: http.StatusGone,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(status)),
		Request:    req,
	}
}
