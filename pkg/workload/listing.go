package workload

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// When a scan needs many owners of one kind, paging through all objects of
// that kind is far cheaper than reading them one by one: at 50k pods, the
// owners of 1667 stale workloads took 3354 GETs (2.0 s with 16 in flight)
// but 0.63 s to list, although the list also reads every other ReplicaSet
// and Deployment of the cluster (docs/performance.md). Listing a kind pays
// off when the objects needed are at least a tenth of all objects of it.
const listCostRatio = 10 // listed objects that cost about one GET

// Owner listings page in small steps: each page is decoded whole, on top of
// what the scan has gathered. Measured: at 50k pods, pages of 500
// ReplicaSets' metadata (managedFields included) took the heap from 8 to
// 17 MB; at 1k pods, pages of 100 Deployments with their pod templates cost
// about 5 MiB of peak RSS. At 100 and 50 a page, the listings add
// about 2 MB of heap to the scan's, for a few tenths of a second more at
// 50k pods (docs/performance.md).
const (
	metadataPageSize = 100
	workloadPageSize = 50
)

// ListMinObjects: below this many needed objects, GETs are cheap enough
// whatever the cluster's size. A variable for tests of both ways of reading
// owners.
var ListMinObjects = 32

// listedKinds are the workload kinds ListOwners lists whole when it needs
// many of them, in the order it lists them.
var listedKinds = []struct {
	gk      schema.GroupKind
	newList func() client.ObjectList
}{
	{groupKindDeployment, func() client.ObjectList { return &appsv1.DeploymentList{} }},
	{groupKindStatefulSet, func() client.ObjectList { return &appsv1.StatefulSetList{} }},
	{groupKindDaemonSet, func() client.ObjectList { return &appsv1.DaemonSetList{} }},
}

// ListOwners resolves owners before Resolve is asked for them, by listing
// each kind of which it needs many: ReplicaSets, then the Deployments they
// point at, StatefulSets, DaemonSets and namespaces. It keeps the facts of
// the workloads needed, never the objects. Whatever it does not resolve (an
// object created or deleted meanwhile, a ReplicaSet that is its own
// workload, a kind not worth listing), Resolve reads on its own; a failed
// listing only costs those reads, so its error is logged and not returned.
func (r *Reader) ListOwners(ctx context.Context, owners []Owner) {
	replicaSets := map[types.NamespacedName]Owner{}
	wanted := map[schema.GroupKind]wantedWorkloads{}
	for _, k := range listedKinds {
		wanted[k.gk] = wantedWorkloads{}
	}
	namespaces := map[string]bool{}
	for _, o := range owners {
		namespaces[o.Namespace] = true
		switch gk := o.GroupKind(); gk {
		case groupKindReplicaSet:
			replicaSets[types.NamespacedName{Namespace: o.Namespace, Name: o.Name}] = o
		case groupKindStatefulSet, groupKindDaemonSet:
			wanted[gk].add(o.Namespace, o.Name, o.UID, o)
		}
	}
	r.listReplicaSets(ctx, replicaSets, wanted[groupKindDeployment])
	for _, k := range listedKinds {
		r.listWorkloads(ctx, k.gk, k.newList, wanted[k.gk])
	}
	r.listNamespaces(ctx, namespaces)
}

// listReplicaSets lists ReplicaSets by their metadata only: all a plan needs
// of one with a controller is its controller reference, and old revisions,
// listed too, are the bulk of them. One without a controller is the
// workload itself, and one owned by another kind is reported by that kind:
// Resolve reads both whole.
func (r *Reader) listReplicaSets(ctx context.Context, replicaSets map[types.NamespacedName]Owner, deployments wantedWorkloads) {
	list := metadataList(appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"))
	if !r.worthListing(ctx, list(), len(replicaSets)) {
		return
	}
	err := r.listAll(ctx, min(r.pageSize, metadataPageSize), list, func(obj client.Object) {
		o, ok := replicaSets[types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}]
		if !ok {
			return
		}
		switch ref := metav1.GetControllerOfNoCopy(obj); {
		case o.UID != "" && obj.GetUID() != o.UID:
			store(r, r.byOwner, o, gone(o.Ref(), o.UID))
		case ref != nil && groupKindOf(ref) == groupKindDeployment:
			deployments.add(o.Namespace, ref.Name, ref.UID, o)
		}
	})
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not list ReplicaSets; reading the stale pods' ReplicaSets one by one", "error", err.Error())
	}
}

// listWorkloads lists all workloads of one kind when that is cheaper than
// reading the wanted ones.
func (r *Reader) listWorkloads(ctx context.Context, gk schema.GroupKind, newList func() client.ObjectList, want wantedWorkloads) {
	if !r.worthListing(ctx, newList(), len(want)) {
		return
	}
	describe := kinds[gk].describe
	err := r.listAll(ctx, min(r.pageSize, workloadPageSize), newList, func(obj client.Object) {
		nn := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
		wl, ok := want[nn]
		if !ok {
			return
		}
		ref := Ref{APIVersion: "apps/v1", Kind: gk.Kind, Namespace: nn.Namespace, Name: nn.Name}
		f := &Facts{Ref: ref}
		if wl.uid != "" && obj.GetUID() != wl.uid {
			f = gone(ref, wl.uid)
		} else {
			describe(f, obj)
		}
		store(r, r.byRef, ref, f)
		for _, o := range wl.owners {
			store(r, r.byOwner, o, f)
		}
	})
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not list "+gk.Kind+"s; reading the ones needed one by one", "error", err.Error())
	}
}

// listNamespaces lists namespaces by their metadata only: the opt-out is an
// annotation.
func (r *Reader) listNamespaces(ctx context.Context, namespaces map[string]bool) {
	list := metadataList(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if !r.worthListing(ctx, list(), len(namespaces)) {
		return
	}
	err := r.listAll(ctx, min(r.pageSize, metadataPageSize), list, func(obj client.Object) {
		if namespaces[obj.GetName()] {
			store(r, r.namespaces, obj.GetName(), obj.GetAnnotations()[OptOutAnnotation] == OptOutDisabled)
		}
	})
	if err != nil {
		ctrl.LoggerFrom(ctx).Info("Could not list namespaces; reading the ones needed one by one", "error", err.Error())
	}
}

// metadataList makes empty lists of the metadata of one kind's objects.
func metadataList(gvk schema.GroupVersionKind) func() client.ObjectList {
	return func() client.ObjectList {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk)
		return list
	}
}

// wantedWorkloads are the workloads of one kind that ListOwners looks for,
// by name, with the owners of pods each one resolves.
type wantedWorkloads map[types.NamespacedName]*wantedWorkload

type wantedWorkload struct {
	uid    types.UID
	owners []Owner
}

// add wants the workload for o. A listing that starts over adds an owner
// again; that is a no-op. So is an owner that points at an earlier
// incarnation of a workload already wanted: Resolve reads that one.
func (ws wantedWorkloads) add(namespace, name string, uid types.UID, o Owner) {
	nn := types.NamespacedName{Namespace: namespace, Name: name}
	wl, ok := ws[nn]
	if !ok {
		ws[nn] = &wantedWorkload{uid: uid, owners: []Owner{o}}
		return
	}
	if wl.uid == uid && !slices.Contains(wl.owners, o) {
		wl.owners = append(wl.owners, o)
	}
}

// worthListing reports whether listing all objects of list's kind is cheaper
// than reading the wanted ones one by one. It asks the API server for one
// object to learn how many there are (remainingItemCount); when the server
// does not say, the number wanted alone decides.
func (r *Reader) worthListing(ctx context.Context, list client.ObjectList, wanted int) bool {
	if wanted < ListMinObjects {
		return false
	}
	if err := r.c.List(ctx, list, client.Limit(1)); err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("Could not count objects; reading the ones needed one by one",
			"list", fmt.Sprintf("%T", list), "error", err.Error())
		return false
	}
	total := int64(apimeta.LenList(list))
	if n := list.GetRemainingItemCount(); n != nil {
		total += *n
	} else if list.GetContinue() != "" {
		return true
	}
	return int64(wanted)*listCostRatio >= total
}

// listAll pages through all objects of a kind, pageSize at a time, and hands
// each to fn, starting over when the continue token expires (fn must not
// mind seeing an object twice).
func (r *Reader) listAll(ctx context.Context, pageSize int64, newList func() client.ObjectList, fn func(client.Object)) error {
	return ListFromStart(func() error { return r.pageThrough(ctx, pageSize, newList, fn) }, func(int) {
		if r.OnListRestart != nil {
			r.OnListRestart()
		}
	})
}

func (r *Reader) pageThrough(ctx context.Context, pageSize int64, newList func() client.ObjectList, fn func(client.Object)) error {
	cont := ""
	for {
		list := newList()
		if err := r.c.List(ctx, list, PageOptions(pageSize, "", cont)...); err != nil {
			return fmt.Errorf("list %T: %w", list, err)
		}
		err := apimeta.EachListItem(list, func(obj runtime.Object) error {
			co, ok := obj.(client.Object)
			if !ok {
				return fmt.Errorf("list %T holds a %T, not an object", list, obj)
			}
			fn(co)
			return nil
		})
		if err != nil {
			return err
		}
		if cont = list.GetContinue(); cont == "" {
			return nil
		}
	}
}
