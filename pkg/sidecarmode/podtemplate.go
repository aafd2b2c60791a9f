package sidecarmode

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodTemplateOf returns the pod metadata and spec of a typed object that
// carries one: a Pod itself, or the pod template of a Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob or
// PodTemplate. The result is shared, not copied. ok is false for other
// objects and for a ReplicationController without a template.
func PodTemplateOf(obj runtime.Object) (meta metav1.ObjectMeta, spec corev1.PodSpec, ok bool) {
	var t *corev1.PodTemplateSpec
	switch o := obj.(type) {
	case *corev1.Pod:
		if o == nil {
			return meta, spec, false
		}
		return o.ObjectMeta, o.Spec, true
	case *appsv1.Deployment:
		if o != nil {
			t = &o.Spec.Template
		}
	case *appsv1.StatefulSet:
		if o != nil {
			t = &o.Spec.Template
		}
	case *appsv1.DaemonSet:
		if o != nil {
			t = &o.Spec.Template
		}
	case *appsv1.ReplicaSet:
		if o != nil {
			t = &o.Spec.Template
		}
	case *corev1.ReplicationController:
		if o != nil {
			t = o.Spec.Template
		}
	case *batchv1.Job:
		if o != nil {
			t = &o.Spec.Template
		}
	case *batchv1.CronJob:
		if o != nil {
			t = &o.Spec.JobTemplate.Spec.Template
		}
	case *corev1.PodTemplate:
		if o != nil {
			t = &o.Template
		}
	}
	if t == nil {
		return meta, spec, false
	}
	return t.ObjectMeta, t.Spec, true
}
