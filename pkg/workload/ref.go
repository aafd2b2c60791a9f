package workload

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Ref names a workload: the object a restart acts on or a report names.
type Ref struct {
	// APIVersion of the workload, e.g. "apps/v1", "argoproj.io/v1alpha1".
	APIVersion string
	// Kind is e.g. "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
	// "ReplicationController", "Job", "CronJob", "Pod" or any other owner kind.
	Kind      string
	Namespace string
	Name      string
}

// String is "Kind namespace/name", the form used in summaries and Events.
func (r Ref) String() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// Less orders workloads by namespace, kind and name, the order of plans and
// reports.
func (r Ref) Less(o Ref) bool {
	if r.Namespace != o.Namespace {
		return r.Namespace < o.Namespace
	}
	if r.Kind != o.Kind {
		return r.Kind < o.Kind
	}
	return r.Name < o.Name
}

// GroupKind is the workload's kind with its API group.
func (r Ref) GroupKind() schema.GroupKind {
	return schema.FromAPIVersionAndKind(r.APIVersion, r.Kind).GroupKind()
}

// Owner names what directly controls a pod: its controller owner
// reference, or the pod itself when it has none.
type Owner struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

// OwnerOf is the pod's controller, or the pod itself.
func OwnerOf(pod *corev1.Pod) Owner {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return Owner{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: pod.Namespace, Name: ref.Name, UID: ref.UID}
	}
	return Owner{APIVersion: "v1", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
}

// Ref is the owner as a workload, for owners that are the workload their
// pods belong to.
func (o Owner) Ref() Ref {
	return Ref{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

// GroupKind is the owner's kind with its API group.
func (o Owner) GroupKind() schema.GroupKind {
	return schema.FromAPIVersionAndKind(o.APIVersion, o.Kind).GroupKind()
}

// Less orders owners by namespace, kind, name and UID, so that work over
// a set of owners does not depend on a map's order.
func (o Owner) Less(p Owner) bool {
	if o.Namespace != p.Namespace || o.Kind != p.Kind || o.Name != p.Name {
		return o.Ref().Less(p.Ref())
	}
	return o.UID < p.UID
}

// LooksThrough reports whether the workload of pods controlled by an object
// of kind gk is found through that object's own controller reference: a
// ReplicaSet belongs to its Deployment, or to whatever else controls it; a
// Job to its CronJob.
func LooksThrough(gk schema.GroupKind) bool {
	return gk == groupKindReplicaSet || gk == groupKindJob
}

// WorkloadOf names the workload pod belongs to: its controller (the pod
// itself without one) or, where LooksThrough says so, that controller's own
// controller reference upper (nil: it has none, or it is gone). A Job's
// controller counts only when it is a CronJob.
func WorkloadOf(pod *corev1.Pod, upper *metav1.OwnerReference) Ref {
	return OwnerOf(pod).workloadThrough(upper)
}

func (o Owner) workloadThrough(upper *metav1.OwnerReference) Ref {
	gk := o.GroupKind()
	if upper != nil && (gk == groupKindReplicaSet || gk == groupKindJob && groupKindOf(upper) == groupKindCronJob) {
		return Ref{APIVersion: upper.APIVersion, Kind: upper.Kind, Namespace: o.Namespace, Name: upper.Name}
	}
	return o.Ref()
}

func groupKindOf(ref *metav1.OwnerReference) schema.GroupKind {
	return schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind).GroupKind()
}
