package workload

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Where a workload is rolled out: these functions judge a workload's status
// the way `kubectl rollout status` does. They are pure: callers hand them
// the objects they read.

// DeploymentRollout reports whether a Deployment's rollout has settled:
// complete, or failed because its progress deadline passed. progress says
// what it waits for, or why it failed. The restarter judges its restarts by
// it.
func DeploymentRollout(d *appsv1.Deployment) (settled, failed bool, progress string) {
	if d.Status.ObservedGeneration < d.Generation {
		return false, false, "waiting for the Deployment controller to observe the change"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return true, true, fmt.Sprintf("the rollout exceeded its progress deadline: %s", c.Message)
		}
	}
	if p := replicasRollingOut(d, d.Status.UpdatedReplicas); p != "" {
		return false, false, p
	}
	return true, false, ""
}

// DeploymentServing returns what a Deployment still waits for before it
// serves from its current template, or "". It is stricter than
// DeploymentRollout, because a control plane must serve, not only settle: a
// rollout past its progress deadline still waits, every desired replica
// (not only every updated one) must be available, and so must the
// Deployment by its Available condition. The messages name the Deployment.
// The installer waits for istiod and the gateways by it.
func DeploymentServing(d *appsv1.Deployment) string {
	name := d.Namespace + "/" + d.Name
	if d.Status.ObservedGeneration < d.Generation {
		return fmt.Sprintf("Deployment %s: waiting for the rollout to be observed", name)
	}
	if p := replicasRollingOut(d, replicas(d.Spec.Replicas)); p != "" {
		return fmt.Sprintf("Deployment %s: %s", name, p)
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("Deployment %s is not available: %s", name, strings.TrimSpace(c.Message))
		}
	}
	return ""
}

// replicasRollingOut says what the replicas of a Deployment's rollout still
// wait for: every desired replica updated, no old one left, and at least
// available of them available; "" when nothing.
func replicasRollingOut(d *appsv1.Deployment, available int32) string {
	st := d.Status
	want := replicas(d.Spec.Replicas)
	switch {
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < available:
		return fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, available)
	}
	return ""
}

// statefulSetRollout reports whether a StatefulSet with the RollingUpdate
// strategy has rolled out its current template (up to its partition).
func statefulSetRollout(s *appsv1.StatefulSet) (settled bool, progress string) {
	st := s.Status
	want := replicas(s.Spec.Replicas)
	if st.ObservedGeneration < s.Generation {
		return false, "waiting for the StatefulSet controller to observe the change"
	}
	partition := int32(0)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	if partition > 0 {
		if wantUpdated := want - partition; st.UpdatedReplicas < wantUpdated {
			return false, fmt.Sprintf("%d of %d pods above the partition updated", st.UpdatedReplicas, wantUpdated)
		}
	} else if st.UpdateRevision != st.CurrentRevision {
		return false, fmt.Sprintf("%d of %d pods updated", st.UpdatedReplicas, want)
	}
	if st.ReadyReplicas < want {
		return false, fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, want)
	}
	return true, ""
}

// daemonSetRollout reports whether a DaemonSet with the RollingUpdate
// strategy has rolled out its current template on every node.
func daemonSetRollout(ds *appsv1.DaemonSet) (settled bool, progress string) {
	st := ds.Status
	if st.ObservedGeneration < ds.Generation {
		return false, "waiting for the DaemonSet controller to observe the change"
	}
	if st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return false, fmt.Sprintf("%d of %d pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	}
	if st.NumberAvailable < st.DesiredNumberScheduled {
		return false, fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled)
	}
	return true, ""
}

// statefulSetReady reports whether every pod of a StatefulSet exists and is
// ready: the moment to evict the next one.
func statefulSetReady(s *appsv1.StatefulSet) (ready bool, progress string) {
	st := s.Status
	if st.ObservedGeneration < s.Generation {
		return false, "waiting for the StatefulSet controller to observe the change"
	}
	want := replicas(s.Spec.Replicas)
	if st.Replicas != want || st.ReadyReplicas < want {
		return false, fmt.Sprintf("%d of %d pods ready", st.ReadyReplicas, want)
	}
	return true, ""
}

// daemonSetReady reports whether a DaemonSet runs a ready pod on every node
// that should run one.
func daemonSetReady(ds *appsv1.DaemonSet) (ready bool, progress string) {
	st := ds.Status
	if st.ObservedGeneration < ds.Generation {
		return false, "waiting for the DaemonSet controller to observe the change"
	}
	if st.CurrentNumberScheduled < st.DesiredNumberScheduled || st.NumberReady < st.DesiredNumberScheduled {
		return false, fmt.Sprintf("%d of %d pods ready", st.NumberReady, st.DesiredNumberScheduled)
	}
	return true, ""
}

// replicasReady reports whether a ReplicaSet or ReplicationController has
// all its replicas and all of them ready.
func replicasReady(kind string, generation, observed int64, spec *int32, have, ready int32) (bool, string) {
	if observed < generation {
		return false, fmt.Sprintf("waiting for the %s controller to observe the change", kind)
	}
	want := replicas(spec)
	if have != want || ready < want {
		return false, fmt.Sprintf("%d of %d pods ready", ready, want)
	}
	return true, ""
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}
