package workload

import (
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentRollout(t *testing.T) {
	deploy := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		st.ObservedGeneration = observed
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
			Status:     st,
		}
	}
	tests := []struct {
		name            string
		d               *appsv1.Deployment
		settled, failed bool
		progress        string
	}{
		{name: "complete", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), settled: true},
		{
			name: "not observed", d: deploy(3, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			progress: "waiting for the Deployment controller to observe the change",
		},
		{
			name: "updating", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3}),
			progress: "1 of 3 replicas updated",
		},
		{
			name: "old replicas left", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}),
			progress: "1 old replicas pending termination",
		},
		{
			name: "not available", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			progress: "2 of 3 updated replicas available",
		},
		{
			name: "deadline exceeded",
			d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-2" has timed out progressing.`,
			}}}),
			settled: true, failed: true,
			progress: `the rollout exceeded its progress deadline: ReplicaSet "web-2" has timed out progressing.`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			settled, failed, progress := DeploymentRollout(tt.d)
			g.Expect(settled).To(Equal(tt.settled))
			g.Expect(failed).To(Equal(tt.failed))
			g.Expect(progress).To(Equal(tt.progress))
		})
	}
}

func TestStatefulSetRollout(t *testing.T) {
	sts := func(partition *int32, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3)},
			Status:     st,
		}
		s.Status.ObservedGeneration = 2
		s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if partition != nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
		}
		return s
	}
	tests := []struct {
		name     string
		s        *appsv1.StatefulSet
		settled  bool
		progress string
	}{
		{
			name: "complete", s: sts(nil, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "r2", UpdateRevision: "r2"}),
			settled: true,
		},
		{
			name: "updating", s: sts(nil, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r2"}),
			progress: "1 of 3 pods updated",
		},
		{
			name: "not ready", s: sts(nil, appsv1.StatefulSetStatus{ReadyReplicas: 2, UpdatedReplicas: 3, CurrentRevision: "r2", UpdateRevision: "r2"}),
			progress: "2 of 3 pods ready",
		},
		{
			name: "partition reached", s: sts(ptr.To[int32](2), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r2"}),
			settled: true,
		},
		{
			name: "partition not reached", s: sts(ptr.To[int32](1), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "r1", UpdateRevision: "r2"}),
			progress: "1 of 2 pods above the partition updated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			settled, progress := statefulSetRollout(tt.s)
			g.Expect(settled).To(Equal(tt.settled))
			g.Expect(progress).To(Equal(tt.progress))
		})
	}
}

func TestDaemonSetRolloutAndReadiness(t *testing.T) {
	ds := func(st appsv1.DaemonSetStatus) *appsv1.DaemonSet {
		st.ObservedGeneration = 4
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: 4}, Status: st}
	}
	tests := []struct {
		name                 string
		ds                   *appsv1.DaemonSet
		rolledOut, ready     bool
		rolloutMsg, readyMsg string
	}{
		{
			name:      "all updated and ready",
			ds:        ds(appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3, NumberReady: 3}),
			rolledOut: true, ready: true,
		},
		{
			name:       "updating",
			ds:         ds(appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3, NumberReady: 3}),
			rolloutMsg: "1 of 3 pods updated", ready: true,
		},
		{
			name:       "one missing",
			ds:         ds(appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberReady: 2}),
			rolloutMsg: "2 of 3 updated pods available", readyMsg: "2 of 3 pods ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			rolledOut, msg := daemonSetRollout(tt.ds)
			g.Expect(rolledOut).To(Equal(tt.rolledOut))
			g.Expect(msg).To(Equal(tt.rolloutMsg))
			ready, msg := daemonSetReady(tt.ds)
			g.Expect(ready).To(Equal(tt.ready))
			g.Expect(msg).To(Equal(tt.readyMsg))
		})
	}
}

func TestReplicasReady(t *testing.T) {
	tests := []struct {
		name          string
		gen, observed int64
		spec          *int32
		have, ready   int32
		want          bool
		progress      string
	}{
		{name: "ready", gen: 1, observed: 1, spec: ptr.To[int32](2), have: 2, ready: 2, want: true},
		{name: "default one replica", gen: 1, observed: 1, have: 1, ready: 1, want: true},
		{name: "replacement missing", gen: 1, observed: 1, spec: ptr.To[int32](2), have: 1, ready: 1, progress: "1 of 2 pods ready"},
		{name: "replacement not ready", gen: 1, observed: 1, spec: ptr.To[int32](2), have: 2, ready: 1, progress: "1 of 2 pods ready"},
		{name: "not observed", gen: 2, observed: 1, spec: ptr.To[int32](2), have: 2, ready: 2, progress: "waiting for the ReplicaSet controller to observe the change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ok, progress := replicasReady("ReplicaSet", tt.gen, tt.observed, tt.spec, tt.have, tt.ready)
			g.Expect(ok).To(Equal(tt.want))
			g.Expect(progress).To(Equal(tt.progress))
		})
	}
}

// The installer's rule differs from the restarter's where a control plane
// must serve: a missed progress deadline still waits, all desired replicas
// must be available, and so must the Deployment by its condition.
func TestDeploymentServing(t *testing.T) {
	deploy := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		st.ObservedGeneration = observed
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
			Status:     st,
		}
	}
	available := func(status corev1.ConditionStatus, message string) []appsv1.DeploymentCondition {
		return []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: status, Message: message}}
	}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want string
	}{
		{name: "serving", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
			Conditions: available(corev1.ConditionTrue, "")})},
		{name: "not observed", d: deploy(3, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}),
			want: "Deployment istio-system/istiod: waiting for the rollout to be observed"},
		{name: "updating", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3}),
			want: "Deployment istio-system/istiod: 1 of 3 replicas updated"},
		{name: "old replicas left", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}),
			want: "Deployment istio-system/istiod: 1 old replicas pending termination"},
		{name: "fewer available than desired", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}),
			want: "Deployment istio-system/istiod: 2 of 3 updated replicas available"},
		{
			name: "progress deadline exceeded: still waiting, unlike the restarter's rule",
			d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded",
			}}}),
			want: "Deployment istio-system/istiod: 1 of 3 replicas updated",
		},
		{name: "Available condition false", d: deploy(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
			Conditions: available(corev1.ConditionFalse, " Deployment does not have minimum availability. ")}),
			want: "Deployment istio-system/istiod is not available: Deployment does not have minimum availability."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(DeploymentServing(tt.d)).To(Equal(tt.want))
		})
	}
}
