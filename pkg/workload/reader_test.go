package workload

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestResolveByKind walks the table of kinds: what the pods of each kind of
// direct owner resolve to, and in which mode.
func TestResolveByKind(t *testing.T) {
	meta := func(name string, owner client.Object) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name)}
		if owner != nil {
			gvk := owner.GetObjectKind().GroupVersionKind()
			m.OwnerReferences = []metav1.OwnerReference{{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
				Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}
		}
		return m
	}
	typeMeta := func(apiVersion, kind string) metav1.TypeMeta {
		return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
	}
	deploy := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta("web", nil)}
	paused := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta("paused", nil),
		Spec: appsv1.DeploymentSpec{Paused: true}}
	cronJob := &batchv1.CronJob{TypeMeta: typeMeta("batch/v1", "CronJob"), ObjectMeta: meta("nightly", nil)}
	objects := []client.Object{
		deploy, paused, cronJob,
		&appsv1.ReplicaSet{ObjectMeta: meta("web-1", deploy)},
		&appsv1.ReplicaSet{ObjectMeta: meta("paused-1", paused)},
		&appsv1.ReplicaSet{ObjectMeta: meta("lonely", nil)},
		&appsv1.StatefulSet{ObjectMeta: meta("db", nil), Spec: appsv1.StatefulSetSpec{
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}},
		&appsv1.DaemonSet{ObjectMeta: meta("agent", nil), Spec: appsv1.DaemonSetSpec{
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}}},
		&batchv1.Job{ObjectMeta: meta("nightly-29", cronJob)},
		&batchv1.Job{ObjectMeta: meta("once", nil)},
		&corev1.ReplicationController{ObjectMeta: meta("old", nil), Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{}}},
	}
	r := NewReader(fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(objects...).Build(), 100)
	owner := func(apiVersion, kind, name string) Owner {
		return Owner{APIVersion: apiVersion, Kind: kind, Namespace: "shop", Name: name, UID: types.UID(name)}
	}
	tests := []struct {
		owner    Owner
		want     Ref
		mode     Mode
		strategy string
	}{
		{owner("apps/v1", "ReplicaSet", "web-1"), Ref{"apps/v1", "Deployment", "shop", "web"}, ModeRollout, ""},
		{owner("apps/v1", "ReplicaSet", "paused-1"), Ref{"apps/v1", "Deployment", "shop", "paused"}, ModeManual, ""},
		{owner("apps/v1", "ReplicaSet", "lonely"), Ref{"apps/v1", "ReplicaSet", "shop", "lonely"}, ModeEvict, StrategyNoOwner},
		{owner("apps/v1", "ReplicaSet", "gone"), Ref{"apps/v1", "ReplicaSet", "shop", "gone"}, ModeUnresolved, ""},
		{owner("apps/v1", "StatefulSet", "db"), Ref{"apps/v1", "StatefulSet", "shop", "db"}, ModeEvict, "OnDelete"},
		{owner("apps/v1", "DaemonSet", "agent"), Ref{"apps/v1", "DaemonSet", "shop", "agent"}, ModeRollout, "RollingUpdate"},
		{owner("batch/v1", "Job", "nightly-29"), Ref{"batch/v1", "CronJob", "shop", "nightly"}, ModeManual, ""},
		{owner("batch/v1", "Job", "once"), Ref{"batch/v1", "Job", "shop", "once"}, ModeManual, ""},
		{owner("v1", "ReplicationController", "old"), Ref{"v1", "ReplicationController", "shop", "old"}, ModeEvict, StrategyNoOwner},
		{owner("v1", "Pod", "bare"), Ref{"v1", "Pod", "shop", "bare"}, ModeManual, ""},
		{owner("argoproj.io/v1alpha1", "Rollout", "canary"), Ref{"argoproj.io/v1alpha1", "Rollout", "shop", "canary"}, ModeManual, ""},
	}
	for _, tt := range tests {
		t.Run(tt.owner.Kind+" "+tt.owner.Name, func(t *testing.T) {
			g := NewWithT(t)
			f, err := r.Resolve(context.Background(), tt.owner)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(f.Ref).To(Equal(tt.want))
			g.Expect(f.Mode).To(Equal(tt.mode), f.Why)
			g.Expect(f.Strategy).To(Equal(tt.strategy))
			_, err = NewRestartable(f.Ref)
			g.Expect(err == nil).To(Equal(kinds[f.Ref.GroupKind()].restartable), "NewRestartable(%s)", f.Ref)
		})
	}
}
