package workload

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Everything this package knows per kind is in the table kinds: how to
// read an object of it, what its facts are, and how pods it controls
// directly find their workload. Kinds not in it are workloads of their own
// that no restarter restarts.

var (
	groupKindPod                   = schema.GroupKind{Kind: "Pod"}
	groupKindReplicaSet            = schema.GroupKind{Group: appsv1.GroupName, Kind: "ReplicaSet"}
	groupKindDeployment            = schema.GroupKind{Group: appsv1.GroupName, Kind: "Deployment"}
	groupKindStatefulSet           = schema.GroupKind{Group: appsv1.GroupName, Kind: "StatefulSet"}
	groupKindDaemonSet             = schema.GroupKind{Group: appsv1.GroupName, Kind: "DaemonSet"}
	groupKindJob                   = schema.GroupKind{Group: batchv1.GroupName, Kind: "Job"}
	groupKindCronJob               = schema.GroupKind{Group: batchv1.GroupName, Kind: "CronJob"}
	groupKindReplicationController = schema.GroupKind{Kind: "ReplicationController"}
)

// kind is what this package knows about one kind.
type kind struct {
	newObject func() client.Object
	// describe fills the facts of an object of the kind; nil for kinds that
	// are only looked through (Job).
	describe func(*Facts, client.Object)
	// restartable: a restarter patches objects of the kind.
	restartable bool
	// resolve finds the workload of the pods an object of the kind controls
	// directly; nil: the object is a workload of a kind no restarter
	// restarts.
	resolve func(r *Reader, ctx context.Context, o Owner) (*Facts, error)
}

// kinds is filled by init: its resolvers read through the table.
var kinds map[schema.GroupKind]kind

func init() {
	kinds = map[schema.GroupKind]kind{
		groupKindPod: {resolve: func(_ *Reader, _ context.Context, o Owner) (*Facts, error) { return barePod(o), nil }},
		groupKindDeployment: typed(func() *appsv1.Deployment { return &appsv1.Deployment{} }, describeDeployment,
			true, nil),
		groupKindStatefulSet: typed(func() *appsv1.StatefulSet { return &appsv1.StatefulSet{} }, describeStatefulSet,
			true, readOwner),
		groupKindDaemonSet: typed(func() *appsv1.DaemonSet { return &appsv1.DaemonSet{} }, describeDaemonSet,
			true, readOwner),
		groupKindReplicaSet: typed(func() *appsv1.ReplicaSet { return &appsv1.ReplicaSet{} }, describeReplicaSet,
			true, (*Reader).resolveReplicaSet),
		groupKindReplicationController: typed(func() *corev1.ReplicationController { return &corev1.ReplicationController{} },
			describeReplicationController, true, readOwner),
		groupKindCronJob: typed(func() *batchv1.CronJob { return &batchv1.CronJob{} }, describeCronJob, false, nil),
		groupKindJob:     {newObject: func() client.Object { return &batchv1.Job{} }, resolve: (*Reader).resolveJob},
	}
}

// typed makes the table entry of a kind from functions on its Go type.
func typed[T client.Object](newObject func() T, describe func(*Facts, T), restartable bool,
	resolve func(*Reader, context.Context, Owner) (*Facts, error)) kind {
	return kind{
		newObject:   func() client.Object { return newObject() },
		describe:    func(f *Facts, obj client.Object) { describe(f, obj.(T)) },
		restartable: restartable,
		resolve:     resolve,
	}
}

// readOwner resolves an owner that is the workload itself.
func readOwner(r *Reader, ctx context.Context, o Owner) (*Facts, error) {
	return r.Read(ctx, o.Ref(), o.UID)
}

// NewRestartable is an empty typed object naming a workload of a kind a
// restarter patches, for patches and reads of its pod template.
func NewRestartable(ref Ref) (client.Object, error) {
	k, ok := kinds[ref.GroupKind()]
	if !ok || !k.restartable {
		return nil, fmt.Errorf("restart %s: the restarter does not restart this kind", ref)
	}
	obj := k.newObject()
	obj.SetNamespace(ref.Namespace)
	obj.SetName(ref.Name)
	return obj, nil
}

// describeObject fills the facts every kind has; tmpl is the object's pod
// template, nil when it has none a restart marks.
func describeObject(f *Facts, obj client.Object, tmpl *corev1.PodTemplateSpec) {
	f.UID = obj.GetUID()
	f.ResourceVersion = obj.GetResourceVersion()
	f.Generation = obj.GetGeneration()
	f.Recorded = obj.GetAnnotations()[RestartAnnotation]
	f.OptedOut = obj.GetAnnotations()[OptOutAnnotation] == OptOutDisabled
	if tmpl != nil {
		f.Marker = tmpl.Annotations[RestartAnnotation]
	}
}

func describeDeployment(f *Facts, d *appsv1.Deployment) {
	describeObject(f, d, &d.Spec.Template)
	f.Strategy = string(d.Spec.Strategy.Type)
	if d.Spec.Paused {
		f.Mode = ModeManual
		f.Why = "a paused Deployment: a template change rolls nothing out until it is resumed"
		return
	}
	f.Mode = ModeRollout
	f.Settled, f.Failed, f.Progress = DeploymentRollout(d)
}

func describeStatefulSet(f *Facts, s *appsv1.StatefulSet) {
	describeObject(f, s, &s.Spec.Template)
	f.Strategy = string(s.Spec.UpdateStrategy.Type)
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		f.Mode = ModeEvict
		f.Desired = replicas(s.Spec.Replicas)
		f.Settled, f.Progress = statefulSetReady(s)
		return
	}
	f.Mode = ModeRollout
	f.Settled, f.Progress = statefulSetRollout(s)
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
		f.Keeps = fmt.Sprintf("its RollingUpdate partition %d keeps the pods below ordinal %d on the old template",
			*ru.Partition, *ru.Partition)
	}
}

func describeDaemonSet(f *Facts, ds *appsv1.DaemonSet) {
	describeObject(f, ds, &ds.Spec.Template)
	f.Strategy = string(ds.Spec.UpdateStrategy.Type)
	if ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		f.Mode = ModeEvict
		f.Desired = ds.Status.DesiredNumberScheduled
		f.Settled, f.Progress = daemonSetReady(ds)
		return
	}
	f.Mode = ModeRollout
	f.Settled, f.Progress = daemonSetRollout(ds)
}

func describeReplicaSet(f *Facts, rs *appsv1.ReplicaSet) {
	describeObject(f, rs, &rs.Spec.Template)
	evictedWithoutOwner(f, "ReplicaSet", rs.Status.ObservedGeneration, rs.Spec.Replicas, rs.Status.Replicas, rs.Status.ReadyReplicas)
}

// evictedWithoutOwner describes a ReplicaSet or ReplicationController that
// no controller owns: its stale pods are evicted once all are ready.
func evictedWithoutOwner(f *Facts, kind string, observed int64, spec *int32, have, ready int32) {
	f.Mode = ModeEvict
	f.Strategy = StrategyNoOwner
	f.Desired = replicas(spec)
	f.Settled, f.Progress = replicasReady(kind, f.Generation, observed, spec, have, ready)
}

func describeReplicationController(f *Facts, rc *corev1.ReplicationController) {
	describeObject(f, rc, rc.Spec.Template)
	if owner := metav1.GetControllerOf(rc); owner != nil {
		f.Mode = ModeManual
		f.Why = fmt.Sprintf("its ReplicationController is owned by a %s %s, a kind the restarter does not restart: "+
			"restart it with its own tooling", owner.Kind, owner.Name)
		return
	}
	if rc.Spec.Template == nil {
		f.Mode = ModeManual
		f.Why = "a ReplicationController without a pod template: it cannot recreate evicted pods"
		return
	}
	evictedWithoutOwner(f, "ReplicationController", rc.Status.ObservedGeneration, rc.Spec.Replicas,
		rc.Status.Replicas, rc.Status.ReadyReplicas)
}

func describeCronJob(f *Facts, cj *batchv1.CronJob) {
	describeObject(f, cj, nil)
	f.Mode = ModeManual
	f.Why = "a CronJob: a restart would cut a run short; the next scheduled run gets fresh proxies"
}
