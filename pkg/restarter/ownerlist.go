package restarter

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

// When the plan needs many owners of one kind, paging through all objects of
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

// listMinObjects: below this many needed objects, GETs are cheap enough
// whatever the cluster's size. A variable for tests.
var listMinObjects = 32

// listOwners resolves groups before the plan does, by listing each kind of
// owner of which it needs many: ReplicaSets, then the Deployments they point
// at, StatefulSets, DaemonSets and namespaces. It keeps the facts of the
// workloads needed, never the objects. Whatever it does not resolve (an
// object created or deleted meanwhile, a ReplicaSet that is its own
// workload, a kind not worth listing), resolve reads on its own; a failed
// listing only costs those reads, so its error is logged and not returned.
func (o *owners) listOwners(ctx context.Context, groups []*group) {
	log := ctrl.LoggerFrom(ctx)
	replicaSets := map[types.NamespacedName]*group{}
	wanted := map[string]wantedWorkloads{"Deployment": {}, "StatefulSet": {}, "DaemonSet": {}}
	namespaces := map[string]bool{}
	for _, g := range groups {
		k := g.owner
		namespaces[k.Namespace] = true
		switch k.gk() {
		case groupKindReplicaSet:
			replicaSets[types.NamespacedName{Namespace: k.Namespace, Name: k.Name}] = g
		case groupKindStatefulSet, groupKindDaemonSet:
			wanted[k.Kind].add(k.Namespace, k.Name, k.UID, g)
		}
	}

	// ReplicaSets by their metadata only: all the plan needs of one with a
	// controller is its controller reference, and old revisions, listed
	// too, are the bulk of them. One without a controller is the workload
	// itself, and one owned by another kind is reported by that kind:
	// resolve reads both whole.
	rsList := metadataList(appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"))
	if o.worthListing(ctx, rsList(), len(replicaSets)) {
		err := o.listAll(ctx, min(o.pageSize, metadataPageSize), rsList, func(obj client.Object) {
			g, ok := replicaSets[types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}]
			if !ok {
				return
			}
			k := g.owner
			switch ref := metav1.GetControllerOfNoCopy(obj); {
			case k.UID != "" && obj.GetUID() != k.UID:
				o.resolved(g, goneWorkload(k.workloadRef(), k.UID))
			case ref != nil && groupKindOf(ref) == groupKindDeployment:
				wanted["Deployment"].add(k.Namespace, ref.Name, ref.UID, g)
			}
		})
		if err != nil {
			log.Info("Could not list ReplicaSets; reading the stale pods' ReplicaSets one by one", "error", err.Error())
		}
	}

	for _, kind := range []struct {
		name    string
		newList func() client.ObjectList
	}{
		{"Deployment", func() client.ObjectList { return &appsv1.DeploymentList{} }},
		{"StatefulSet", func() client.ObjectList { return &appsv1.StatefulSetList{} }},
		{"DaemonSet", func() client.ObjectList { return &appsv1.DaemonSetList{} }},
	} {
		want := wanted[kind.name]
		if !o.worthListing(ctx, kind.newList(), len(want)) {
			continue
		}
		err := o.listAll(ctx, min(o.pageSize, workloadPageSize), kind.newList, func(obj client.Object) {
			nn := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
			wl, ok := want[nn]
			if !ok {
				return
			}
			ref := WorkloadRef{APIVersion: "apps/v1", Kind: kind.name, Namespace: nn.Namespace, Name: nn.Name}
			w := &workload{ref: ref}
			if wl.uid != "" && obj.GetUID() != wl.uid {
				w = goneWorkload(ref, wl.uid)
			} else {
				describe(w, obj)
			}
			o.cacheRef(ref, w)
			for _, g := range wl.groups {
				o.resolved(g, w)
			}
		})
		if err != nil {
			log.Info("Could not list "+kind.name+"s; reading the ones needed one by one", "error", err.Error())
		}
	}

	// Namespaces by their metadata only: the opt-out is an annotation.
	nsList := metadataList(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if o.worthListing(ctx, nsList(), len(namespaces)) {
		err := o.listAll(ctx, min(o.pageSize, metadataPageSize), nsList, func(obj client.Object) {
			if namespaces[obj.GetName()] {
				o.mu.Lock()
				o.namespaces[obj.GetName()] = obj.GetAnnotations()[OptOutAnnotation] == OptOutDisabled
				o.mu.Unlock()
			}
		})
		if err != nil {
			log.Info("Could not list namespaces; reading the ones needed one by one", "error", err.Error())
		}
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

// wantedWorkloads are the workloads of one kind that listOwners looks for,
// by name, with the groups of pods each one resolves.
type wantedWorkloads map[types.NamespacedName]*wantedWorkload

type wantedWorkload struct {
	uid    types.UID
	groups []*group
}

// add wants the workload for g. A listing that starts over adds a group
// again; that is a no-op. So is a group whose owner points at an earlier
// incarnation of a workload already wanted: resolve reads that one.
func (ws wantedWorkloads) add(namespace, name string, uid types.UID, g *group) {
	nn := types.NamespacedName{Namespace: namespace, Name: name}
	wl, ok := ws[nn]
	if !ok {
		ws[nn] = &wantedWorkload{uid: uid, groups: []*group{g}}
		return
	}
	if wl.uid == uid && !slices.Contains(wl.groups, g) {
		wl.groups = append(wl.groups, g)
	}
}

// worthListing reports whether listing all objects of list's kind is cheaper
// than reading the wanted ones one by one. It asks the API server for one
// object to learn how many there are (remainingItemCount); when the server
// does not say, the number wanted alone decides.
func (o *owners) worthListing(ctx context.Context, list client.ObjectList, wanted int) bool {
	if wanted < listMinObjects {
		return false
	}
	if err := o.c.List(ctx, list, client.Limit(1)); err != nil {
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
// each to fn. When the API server expires the continue token it starts over
// (fn must not mind seeing an object twice), at most maxListRestarts times.
func (o *owners) listAll(ctx context.Context, pageSize int64, newList func() client.ObjectList, fn func(client.Object)) error {
	for restarts := 0; ; restarts++ {
		err := o.pageThrough(ctx, pageSize, newList, fn)
		if err == nil || !isExpired(err) || restarts >= maxListRestarts {
			return err
		}
		listRestartsTotal.Inc()
	}
}

func (o *owners) pageThrough(ctx context.Context, pageSize int64, newList func() client.ObjectList, fn func(client.Object)) error {
	cont := ""
	for {
		list := newList()
		if err := o.c.List(ctx, list, pageOptions(pageSize, "", cont)...); err != nil {
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
