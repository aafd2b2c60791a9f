package workload

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestWorkloadOf(t *testing.T) {
	controller := func(apiVersion, kind, name string) *metav1.OwnerReference {
		return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: ptr.To(true)}
	}
	podOwnedBy := func(owner *metav1.OwnerReference) *corev1.Pod {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}}
		if owner != nil {
			pod.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		return pod
	}
	replicaSet := controller("apps/v1", "ReplicaSet", "web-5d8f")
	job := controller("batch/v1", "Job", "report-29")
	tests := []struct {
		name         string
		owner, upper *metav1.OwnerReference
		want         Ref
		looksThrough bool
	}{
		{name: "bare pod", want: Ref{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: "web-1"}},
		{name: "ReplicaSet of a Deployment", owner: replicaSet, upper: controller("apps/v1", "Deployment", "web"),
			want: Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, looksThrough: true},
		{name: "ReplicaSet of another controller", owner: replicaSet, upper: controller("argoproj.io/v1alpha1", "Rollout", "web"),
			want: Ref{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Namespace: "shop", Name: "web"}, looksThrough: true},
		{name: "ReplicaSet alone (or gone)", owner: replicaSet,
			want: Ref{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "shop", Name: "web-5d8f"}, looksThrough: true},
		{name: "Job of a CronJob", owner: job, upper: controller("batch/v1", "CronJob", "report"),
			want: Ref{APIVersion: "batch/v1", Kind: "CronJob", Namespace: "shop", Name: "report"}, looksThrough: true},
		{name: "Job of another controller", owner: job, upper: controller("example.com/v1", "Pipeline", "nightly"),
			want: Ref{APIVersion: "batch/v1", Kind: "Job", Namespace: "shop", Name: "report-29"}, looksThrough: true},
		{name: "Job alone", owner: job,
			want: Ref{APIVersion: "batch/v1", Kind: "Job", Namespace: "shop", Name: "report-29"}, looksThrough: true},
		{name: "StatefulSet", owner: controller("apps/v1", "StatefulSet", "db"), upper: controller("example.com/v1", "Cluster", "db"),
			want: Ref{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: "shop", Name: "db"}},
		{name: "a kind of another group named ReplicaSet", owner: controller("example.com/v1", "ReplicaSet", "x"),
			upper: controller("apps/v1", "Deployment", "web"),
			want:  Ref{APIVersion: "example.com/v1", Kind: "ReplicaSet", Namespace: "shop", Name: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(WorkloadOf(podOwnedBy(tt.owner), tt.upper)).To(Equal(tt.want))
			if tt.owner != nil {
				gk := schema.FromAPIVersionAndKind(tt.owner.APIVersion, tt.owner.Kind).GroupKind()
				g.Expect(LooksThrough(gk)).To(Equal(tt.looksThrough))
			}
		})
	}
}
