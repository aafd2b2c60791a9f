package restarter

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// workloadPageSize bounds the pages of Deployments, StatefulSets and
// DaemonSets, which are decoded whole: 500 Deployments are about 5 MiB of
// live heap, and at 50k pods such pages were most of the scan's peak.
const workloadPageSize = 100

// listMinObjects: below this many needed objects, GETs are cheap enough
// whatever the cluster's size. A variable for tests.
var listMinObjects = 32

// listOwners fills the caches, before the plan resolves its groups, by
// listing each kind of owner of which it needs many: ReplicaSets, then the
// Deployments they point at, StatefulSets, DaemonSets and namespaces. It
// keeps the facts of the objects needed, never the objects. Whatever it does
// not find (an object created since, or gone, or a kind not worth listing),
// resolve reads on its own; a failed listing only costs those reads, so its
// error is logged and not returned.
func (o *owners) listOwners(ctx context.Context, groups []*group) {
	log := ctrl.LoggerFrom(ctx)
	replicaSets := map[types.NamespacedName]ownerKey{}
	workloads := map[string]map[types.NamespacedName]types.UID{}
	namespaces := map[string]bool{}
	for _, g := range groups {
		k := g.owner
		namespaces[k.Namespace] = true
		switch k.gk() {
		case groupKindReplicaSet:
			replicaSets[types.NamespacedName{Namespace: k.Namespace, Name: k.Name}] = k
		case groupKindStatefulSet, groupKindDaemonSet:
			addWanted(workloads, k.Kind, k.Namespace, k.Name, k.UID)
		}
	}

	// ReplicaSets by their metadata only: all the plan needs of one with a
	// controller is its controller reference, and old revisions, listed
	// too, are the bulk of them. One without a controller is the workload
	// itself; resolve reads it whole.
	rsList := func() client.ObjectList {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"))
		return list
	}
	if o.worthListing(ctx, rsList(), len(replicaSets)) {
		err := o.listAll(ctx, o.pageSize, rsList, func(obj client.Object) {
			k, ok := replicaSets[types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}]
			if !ok {
				return
			}
			var f replicaSetFacts
			switch ref := metav1.GetControllerOfNoCopy(obj); {
			case k.UID != "" && obj.GetUID() != k.UID:
				f.gone = true
			case ref != nil:
				f.controller = ref.DeepCopy()
			default:
				return
			}
			o.mu.Lock()
			o.replicaSets[k] = f
			o.mu.Unlock()
		})
		if err != nil {
			log.Info("Could not list ReplicaSets; reading the stale pods' ReplicaSets one by one", "error", err.Error())
		}
	}
	// The Deployments wanted are those of the ReplicaSets just listed; had
	// they not been listed, reading them one by one comes first anyway.
	for k := range o.replicaSets {
		if f := o.replicaSets[k]; f.controller != nil && groupKindOf(f.controller) == groupKindDeployment {
			addWanted(workloads, "Deployment", k.Namespace, f.controller.Name, f.controller.UID)
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
		wanted := workloads[kind.name]
		if !o.worthListing(ctx, kind.newList(), len(wanted)) {
			continue
		}
		err := o.listAll(ctx, min(o.pageSize, workloadPageSize), kind.newList, func(obj client.Object) {
			nn := types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}
			uid, ok := wanted[nn]
			if !ok {
				return
			}
			ref := WorkloadRef{APIVersion: "apps/v1", Kind: kind.name, Namespace: nn.Namespace, Name: nn.Name}
			w := &workload{ref: ref}
			if uid != "" && obj.GetUID() != uid {
				w = goneWorkload(ref, uid)
			} else {
				describe(w, obj)
			}
			o.cacheRef(ref, w)
		})
		if err != nil {
			log.Info("Could not list "+kind.name+"s; reading the ones needed one by one", "error", err.Error())
		}
	}

	if o.worthListing(ctx, &corev1.NamespaceList{}, len(namespaces)) {
		err := o.listAll(ctx, o.pageSize, func() client.ObjectList { return &corev1.NamespaceList{} }, func(obj client.Object) {
			if namespaces[obj.GetName()] {
				o.mu.Lock()
				o.namespaces[obj.GetName()] = optedOut(&obj.(*corev1.Namespace).ObjectMeta)
				o.mu.Unlock()
			}
		})
		if err != nil {
			log.Info("Could not list namespaces; reading the ones needed one by one", "error", err.Error())
		}
	}
}

func addWanted(m map[string]map[types.NamespacedName]types.UID, kind, namespace, name string, uid types.UID) {
	if m[kind] == nil {
		m[kind] = map[types.NamespacedName]types.UID{}
	}
	m[kind][types.NamespacedName{Namespace: namespace, Name: name}] = uid
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
		opts := []client.ListOption{client.Limit(pageSize)}
		if cont != "" {
			opts = append(opts, client.Continue(cont))
		}
		if err := o.c.List(ctx, list, opts...); err != nil {
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
