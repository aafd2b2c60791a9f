package restarter

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The rule by which pods belong to a workload, exported so that reports
// made outside the restarter (kubectl istio-proxies) name the workloads its
// plan names.

// LooksThrough reports whether the workload of pods controlled by an object
// of kind gk is found through that object's own controller reference: a
// ReplicaSet belongs to its Deployment, or to whatever else controls it; a
// Job to its CronJob.
func LooksThrough(gk schema.GroupKind) bool {
	return gk == groupKindReplicaSet || gk == groupKindJob
}

// WorkloadOf names the workload the restarter plans for pod: its controller
// (the pod itself without one) or, where LooksThrough says so, that
// controller's own controller reference upper (nil: it has none, or it is
// gone). A Job's controller counts only when it is a CronJob.
func WorkloadOf(pod *corev1.Pod, upper *metav1.OwnerReference) WorkloadRef {
	return workloadOf(ownerKeyOf(pod), upper)
}

func workloadOf(k ownerKey, upper *metav1.OwnerReference) WorkloadRef {
	if upper != nil && (k.gk() == groupKindReplicaSet || k.gk() == groupKindJob && groupKindOf(upper) == groupKindCronJob) {
		return WorkloadRef{APIVersion: upper.APIVersion, Kind: upper.Kind, Namespace: k.Namespace, Name: upper.Name}
	}
	return k.workloadRef()
}
