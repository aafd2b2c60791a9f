package reliability_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/reliability"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

const timeout = 8 * time.Minute

var _ = Describe("The operator under API faults", Ordered, func() {
	It("installs Istio and restarts every workload once through 20% faults from the start, never showing Error", func(ctx context.Context) {
		res, err := scenario.Run(ctx, reliability.Options{
			Rate: 0.2, Seed: 20,
			// client-go's Event broadcaster drops an Event the API server
			// answers with an error (it retries only unreachable servers):
			// Event writes pass, so the count below is the operator's.
			Exempt:  testenv.EventWrites,
			Timeout: timeout,
		})
		Expect(err).NotTo(HaveOccurred(), "faults: %s", res.Stats)
		GinkgoWriter.Printf("install %s, restart %s, %s, %d Processing states with an error\n",
			res.Install.Round(time.Second), res.Restart.Round(time.Second), res.Stats, res.TransientShown)
		Expect(res.Stats.Total()).To(BeNumerically(">", 20), "faults were injected: %s", res.Stats)
		for _, w := range reliability.Restartable {
			Expect(res.Rollouts).To(HaveKeyWithValue(w, int64(1)), "rolled out exactly once")
		}
		for _, w := range reliability.RolledOut {
			Expect(res.Events).To(HaveKeyWithValue(w, 1), "one Event for the restart of %s", w)
		}
		Expect(res.Events).To(HaveKeyWithValue(reliability.Evicted, reliability.EvictedPods), "one Event per evicted pod")
		Expect(res.ErrorStates).To(BeEmpty())
	})

	It("reports every restart once, with one Event, when 30% of the writes' answers are lost", func(ctx context.Context) {
		before, err := scenario.Generations(ctx)
		Expect(err).NotTo(HaveOccurred())
		eventsBefore, err := scenario.RestartEvents(ctx)
		Expect(err).NotTo(HaveOccurred())
		proxy, err := scenario.Env.StartFaultProxy(testenv.FaultOptions{Rate: 0.3, Seed: 30, Faults: []testenv.Fault{testenv.FaultLostResponse}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		rec, err := scenario.RecordStates(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(rec.Stop)

		// Back to regular containers: every restartable workload is stale again.
		mgr, err := reliability.StartManager(ctx, proxy.Config(), scenario.ManagerOptions(reliability.RegularRow))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(mgr.Stop)
		Eventually(func(g Gomega) {
			msg, err := scenario.Converged(ctx, sidecarmode.LayoutRegular, true)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(msg).To(BeEmpty())
		}).WithTimeout(timeout).Should(Succeed())
		GinkgoWriter.Printf("lost answers: %s\n", proxy.Stats())
		Expect(proxy.Stats().Injected[testenv.FaultLostResponse]).To(BeNumerically(">", 10))

		after, err := scenario.Generations(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, w := range reliability.Restartable {
			Expect(after[w]-before[w]).To(Equal(int64(1)), "%s rolled out exactly once", w)
		}
		Eventually(func(g Gomega) {
			events, err := scenario.RestartEvents(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			for _, w := range reliability.RolledOut {
				g.Expect(events[w]-eventsBefore[w]).To(Equal(1), "one Event for the restart of %s", w)
			}
			g.Expect(events[reliability.Evicted] - eventsBefore[reliability.Evicted]).To(Equal(reliability.EvictedPods))
		}).WithTimeout(time.Minute).Should(Succeed())
		Consistently(func() map[string]int64 {
			g, _ := scenario.Generations(ctx)
			return g
		}).WithTimeout(3 * time.Second).Should(Equal(after))
		Expect(rec.Errors()).To(BeEmpty())
	})

	It("never rolls a workload out twice for one target when a tool strips the template's marker and the operator restarts", func(ctx context.Context) {
		// Its pods keep a hand-made proxy of an old version, whatever the
		// injector does, and a record of other proxy settings than the CR's
		// (DNS proxying on): the injector's dry run cannot show settings, so it
		// does not hold the restart back, and the restart cannot fix them. It
		// is restarted once.
		otherSettings := install.ProxySettingsFor(v1alpha2.IstioSpec{Config: v1alpha2.Config{EnableDNSProxying: ptr.To(true)}})
		handmade := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: reliability.AppNamespace, Name: "handmade"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "handmade"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "handmade"},
						Annotations: map[string]string{"sidecar.istio.io/inject": "false",
							sidecarmode.AnnotationProxySettings: otherSettings.Record()}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "app", Image: "nginx"},
						{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.29.2"},
					}},
				},
			},
		}
		Expect(scenario.Env.Client.Create(ctx, handmade)).To(Succeed())
		mgr, err := reliability.StartManager(ctx, scenario.Env.Config, scenario.ManagerOptions(reliability.RegularRow))
		Expect(err).NotTo(HaveOccurred())
		notConverging := func(g Gomega) *v1alpha2.Istio {
			var istio v1alpha2.Istio
			g.Expect(scenario.Env.Client.Get(ctx, reliability.CRKey, &istio)).To(Succeed())
			g.Expect(istio.Status.ProxyRestart).NotTo(BeNil())
			g.Expect(istio.Status.ProxyRestart.NotConvergingWorkloads).To(ConsistOf("Deployment shop/handmade"))
			return &istio
		}
		Eventually(notConverging).WithTimeout(timeout).Should(Not(BeNil()))
		key := client.ObjectKeyFromObject(handmade)
		Expect(scenario.Env.Client.Get(ctx, key, handmade)).To(Succeed())
		target := handmade.Spec.Template.Annotations[restarter.RestartAnnotation]
		Expect(target).To(HavePrefix("1.30.2/regular/"), "the target with the proxy settings' fingerprint")
		Expect(handmade.Annotations).To(HaveKeyWithValue(restarter.RestartAnnotation, target), "the record on the workload itself")
		Expect(mgr.Stop()).To(Succeed())

		// A GitOps tool reverts the template: a rollout of its own.
		strip := []byte(`[{"op":"remove","path":"/spec/template/metadata/annotations/istio-module.kyma-project.io~1restarted-for"}]`)
		Expect(scenario.Env.Client.Patch(ctx, handmade, client.RawPatch(types.JSONPatchType, strip))).To(Succeed())
		stripped := handmade.Generation

		// A new operator remembers nothing; the workload's annotation says
		// it was restarted for the target.
		mgr, err = reliability.StartManager(ctx, scenario.Env.Config, scenario.ManagerOptions(reliability.RegularRow))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(mgr.Stop)
		Eventually(func(g Gomega) {
			istio := notConverging(g)
			g.Expect(istio.Status.Description).To(Or(ContainSubstring("handmade"), ContainSubstring("not restarted again")))
			g.Expect(istio.Status.ObservedGeneration).To(Equal(istio.Generation))
		}).WithTimeout(timeout).Should(Succeed())
		Consistently(func(g Gomega) {
			var d appsv1.Deployment
			g.Expect(scenario.Env.Client.Get(ctx, key, &d)).To(Succeed())
			g.Expect(d.Generation).To(Equal(stripped), "no second rollout by the operator")
			g.Expect(d.Spec.Template.Annotations).NotTo(HaveKey(restarter.RestartAnnotation))
		}).WithTimeout(5 * time.Second).Should(Succeed())
	})
})
