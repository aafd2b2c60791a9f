package restarter

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
)

func TestSummaryCategories(t *testing.T) {
	g := NewWithT(t)
	plan := &Plan{Target: target, PodsScanned: 40, StalePods: 12}
	for i := range 7 {
		plan.Workloads = append(plan.Workloads, WorkloadPlan{
			Workload: WorkloadRef{Kind: "Job", Namespace: "a", Name: fmt.Sprintf("j%d", i)}, Action: ActionManual,
		})
	}
	plan.Workloads = append(plan.Workloads,
		WorkloadPlan{Workload: WorkloadRef{Kind: "Deployment", Namespace: "b", Name: "ok"}, Action: ActionRolloutRestart},
		WorkloadPlan{Workload: WorkloadRef{Kind: "Deployment", Namespace: "b", Name: "conflict"}, Action: ActionRolloutRestart},
		WorkloadPlan{Workload: WorkloadRef{Kind: "Deployment", Namespace: "b", Name: "loop"}, Action: ActionNotConverging},
		WorkloadPlan{Workload: WorkloadRef{Kind: "StatefulSet", Namespace: "b", Name: "db"}, Action: ActionEvict, RestartedFor: target},
		WorkloadPlan{Workload: WorkloadRef{Kind: "Deployment", Namespace: "c", Name: "mine"}, Action: ActionOptedOut},
	)
	outcomes := make([]outcome, len(plan.Workloads))
	outcomes[7] = outcome{started: true}
	outcomes[8] = outcome{pending: "the workload changed since it was read; deciding again on the next run"}
	outcomes[10] = outcome{evicted: "db-1"}

	s := summarize(plan, outcomes)
	g.Expect(s.Target).To(Equal(target))
	g.Expect(s.PodsScanned).To(Equal(40))
	g.Expect(s.StalePods).To(Equal(12))
	g.Expect(s.ManualRestart).To(Equal(Category{Count: 7, Names: []string{
		"Job a/j0", "Job a/j1", "Job a/j2", "Job a/j3", "Job a/j4", "and 2 more",
	}}))
	g.Expect(s.Restarted).To(Equal(Category{Count: 1, Names: []string{"Deployment b/ok"}}))
	g.Expect(s.Pending).To(Equal(Category{Count: 2, Names: []string{"Deployment b/conflict", "StatefulSet b/db"}}))
	g.Expect(s.NotConverging).To(Equal(Category{Count: 1, Names: []string{"Deployment b/loop"}}))
	g.Expect(s.OptedOut).To(Equal(Category{Count: 1, Names: []string{"Deployment c/mine"}}))
	g.Expect(s.InProgress).To(BeTrue())
	// The conflict makes the workload Pending; the plan stays as it was made.
	action, _ := actedOn(&plan.Workloads[8], outcomes[8])
	g.Expect(action).To(Equal(ActionPending))
	g.Expect(plan.Workloads[8].Action).To(Equal(ActionRolloutRestart))
	g.Expect(s.String()).To(Equal("12 of 40 pods have a stale istio-proxy for 1.30.2/native; " +
		"restarted 1: Deployment b/ok; pending 2: Deployment b/conflict, StatefulSet b/db; " +
		"manual restart required 7: Job a/j0, Job a/j1, Job a/j2, Job a/j3, Job a/j4, and 2 more; " +
		"not converging 1: Deployment b/loop; opted out 1: Deployment c/mine"))
}

func TestSummaryNothingToDo(t *testing.T) {
	g := NewWithT(t)
	s := summarize(&Plan{Target: target, PodsScanned: 3}, []outcome{})
	g.Expect(s).To(Equal(Summary{Target: target, PodsScanned: 3}))
	g.Expect(s.InProgress).To(BeFalse())
}
