package podlist

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// Page hands out *corev1.Pod values with most fields left empty. This test
// is the proof that no consumer of those pods notices: on every pod of the
// testdata (all injection profiles, and the synthetic shapes), decoded
// from the API server's protobuf, every function that reads listed pods
// gives the answer it gives on the whole pod. A consumer that starts to
// read a field Page does not decode (labels, say) fails here, not only in
// production. The consumers: the restarter's scan (its whole dry-run
// plan), sidecarmode's pod judgements, and workload.OwnerOf (the status
// command and the restarter name workloads by it).
func TestConsumersAnswerTheSameOnDecodedPods(t *testing.T) {
	full := consumerPods(t)
	got := decodeBytes(protobufFormat.encode(t, podList(full, "")))
	if got.err != nil {
		t.Fatal(got.err)
	}
	decoded := got.pods
	if len(decoded) != len(full) {
		t.Fatalf("decoded %d pods of %d", len(decoded), len(full))
	}
	for _, d := range consumerDecisions(t) {
		t.Run(d.Target(), func(t *testing.T) {
			g := NewWithT(t)
			for i := range full {
				expectSameJudgements(g, full[i], decoded[i], d)
			}
			want := dryRunPlan(t, full, d)
			g.Expect(want.StalePods).To(BeNumerically(">", 0), "the testdata has stale pods for every target")
			g.Expect(want.Workloads).NotTo(BeEmpty())
			g.Expect(dryRunPlan(t, decoded, d)).To(Equal(want))
		})
	}
}

// consumerPods are the testdata's pods as listed, and each again Running
// and Ready, since the restarter checks Running pods only.
func consumerPods(t *testing.T) []*corev1.Pod {
	pods := append(InjectedPods(t), SyntheticPods()...)
	for _, p := range pods[:len(pods):len(pods)] {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		running := p.DeepCopy()
		running.Name += "-running"
		running.Status = corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		pods = append(pods, running)
	}
	return pods
}

// consumerDecisions are targets of both container types, with and without
// compatibility mode.
func consumerDecisions(t *testing.T) []sidecarmode.Decision {
	var out []sidecarmode.Decision
	for _, in := range []struct {
		module string
		compat bool
	}{{sidecarmode.ModuleVersion, false}, {sidecarmode.ModuleVersion, true}, {"1.21.0", false}, {"1.24.0", true}} {
		d, err := sidecarmode.Decide(in.module, in.compat, sidecarmode.ClusterFacts{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func expectSameJudgements(g Gomega, full, decoded *corev1.Pod, d sidecarmode.Decision) {
	name := fmt.Sprintf("pod %s/%s", full.Namespace, full.Name)
	proxy := sidecarmode.Inspect(full.ObjectMeta, full.Spec)
	g.Expect(sidecarmode.Inspect(decoded.ObjectMeta, decoded.Spec)).To(Equal(proxy), name)
	g.Expect(sidecarmode.InjectedGateway(proxy, decoded.Annotations)).To(Equal(sidecarmode.InjectedGateway(proxy, full.Annotations)), name)
	g.Expect(sidecarmode.StaleProxy(proxy, decoded.Annotations, d)).To(Equal(sidecarmode.StaleProxy(proxy, full.Annotations, d)), name)
	g.Expect(sidecarmode.ExpectedType(decoded.Annotations, d)).To(Equal(sidecarmode.ExpectedType(full.Annotations, d)), name)
	g.Expect(workload.OwnerOf(decoded)).To(Equal(workload.OwnerOf(full)), name)
}

// dryRunPlan is the restarter's plan over pods, in a cluster without their
// owners (so every owner is looked up, and gone).
func dryRunPlan(t *testing.T, pods []*corev1.Pod, d sidecarmode.Decision) *restarter.Plan {
	r := restarter.New(fake.NewClientBuilder().Build(), nil, restarter.Options{DryRun: true, Pods: slicePager(pods)})
	plan, err := r.Plan(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// slicePager lists pods in one page.
type slicePager []*corev1.Pod

func (s slicePager) Page(_ context.Context, _ int64, _ string, fn func(*corev1.Pod)) (string, error) {
	for _, p := range s {
		fn(p)
	}
	return "", nil
}
