package workload

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Namer names the workloads of pods by WorkloadOf for reports, which need
// a pod's workload but none of its facts: it reads each owner it looks
// through once, metadata only. Not safe for concurrent use.
type Namer struct {
	c client.Client
	// uppers caches, by an owner's UID, its own controller reference (nil:
	// none, or the owner is gone).
	uppers map[types.UID]*metav1.OwnerReference
}

// NewNamer returns a Namer reading through c.
func NewNamer(c client.Client) *Namer {
	return &Namer{c: c, uppers: map[types.UID]*metav1.OwnerReference{}}
}

// WorkloadOf names the workload pod belongs to, as a restarter's plan names
// it.
func (n *Namer) WorkloadOf(ctx context.Context, pod *corev1.Pod) (Ref, error) {
	var upper *metav1.OwnerReference
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
		if LooksThrough(gvk.GroupKind()) {
			var err error
			if upper, err = n.controllerOf(ctx, gvk, pod.Namespace, ref); err != nil {
				return Ref{}, err
			}
		}
	}
	return WorkloadOf(pod, upper), nil
}

// controllerOf reads the controller reference of the pod's owner ref; nil
// when it has none or is gone (being garbage-collected with its pods).
func (n *Namer) controllerOf(ctx context.Context, gvk schema.GroupVersionKind, namespace string,
	ref *metav1.OwnerReference) (*metav1.OwnerReference, error) {
	if up, ok := n.uppers[ref.UID]; ok {
		return up, nil
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(gvk)
	err := n.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get %s %s/%s: %w", ref.Kind, namespace, ref.Name, err)
	}
	var up *metav1.OwnerReference
	if err == nil && (ref.UID == "" || obj.UID == ref.UID) {
		up = metav1.GetControllerOf(obj)
	}
	n.uppers[ref.UID] = up
	return up, nil
}
