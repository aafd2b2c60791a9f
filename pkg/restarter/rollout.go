package restarter

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// These functions judge a workload's status the way `kubectl rollout status`
// does. They are pure: the plan calls them on the objects the scan read.

// deploymentRollout reports whether a Deployment's rollout has settled:
// complete, or failed because its progress deadline passed. progress says
// what it waits for, or why it failed.
func deploymentRollout(d *appsv1.Deployment) (settled, failed bool, progress string) {
	st := d.Status
	want := replicas(d.Spec.Replicas)
	if st.ObservedGeneration < d.Generation {
		return false, false, "waiting for the Deployment controller to observe the change"
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return true, true, fmt.Sprintf("the rollout exceeded its progress deadline: %s", c.Message)
		}
	}
	switch {
	case st.UpdatedReplicas < want:
		return false, false, fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, false, fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, false, fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	}
	return true, false, ""
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
