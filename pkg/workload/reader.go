package workload

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reader resolves pods' direct owners to workloads and reads their facts,
// one API read per object and Reader: a Reader lives for one scan, so
// what it caches is as fresh as the scan.
type Reader struct {
	c client.Client
	// pageSize is the largest Limit of the LISTs that ListOwners pages
	// through.
	pageSize int64
	// OnListRestart, when set, is called each time an owner listing starts
	// over because the API server expired its continue token.
	OnListRestart func()

	// mu guards the caches: Prefetch resolves owners concurrently.
	mu sync.Mutex
	// byOwner caches the workload of each direct owner.
	byOwner map[Owner]*Facts
	// byRef caches workloads read by reference (the Deployment of a
	// ReplicaSet, the CronJob of a Job, workloads in flight).
	byRef map[Ref]*Facts
	// namespaces caches whether a namespace opted out.
	namespaces map[string]bool
}

// NewReader returns a Reader through c, which must read from the API
// server (uncached); owner listings page at most pageSize objects at a time.
func NewReader(c client.Client, pageSize int64) *Reader {
	return &Reader{c: c, pageSize: pageSize, byOwner: map[Owner]*Facts{}, byRef: map[Ref]*Facts{},
		namespaces: map[string]bool{}}
}

// NamespaceOptedOut reports whether the namespace carries the opt-out
// annotation; a namespace that does not exist has not.
func (r *Reader) NamespaceOptedOut(ctx context.Context, name string) (bool, error) {
	if v, ok := cached(r, r.namespaces, name); ok {
		return v, nil
	}
	var ns corev1.Namespace
	if err := r.c.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("get namespace %s: %w", name, err)
		}
	}
	v := ns.Annotations[OptOutAnnotation] == OptOutDisabled
	store(r, r.namespaces, name, v)
	return v, nil
}

// Resolve returns the workload that the pods of a direct owner belong to:
// Pod -> ReplicaSet -> Deployment; StatefulSet; DaemonSet; Job -> CronJob;
// ReplicationController; other kinds; none (bare Pod).
func (r *Reader) Resolve(ctx context.Context, o Owner) (*Facts, error) {
	if f, ok := cached(r, r.byOwner, o); ok {
		return f, nil
	}
	k, ok := kinds[o.GroupKind()]
	if !ok || k.resolve == nil {
		f := otherKind(o)
		store(r, r.byOwner, o, f)
		return f, nil
	}
	f, err := k.resolve(r, ctx, o)
	if err != nil {
		return nil, err
	}
	store(r, r.byOwner, o, f)
	return f, nil
}

func (r *Reader) resolveReplicaSet(ctx context.Context, o Owner) (*Facts, error) {
	var rs appsv1.ReplicaSet
	isGone, err := r.get(ctx, o.Namespace, o.Name, o.UID, &rs)
	if err != nil {
		return nil, err
	}
	if isGone {
		return gone(o.Ref(), o.UID), nil
	}
	owner := metav1.GetControllerOfNoCopy(&rs)
	if owner == nil {
		f := &Facts{Ref: o.Ref()}
		describeReplicaSet(f, &rs)
		store(r, r.byRef, f.Ref, f)
		return f, nil
	}
	ref := o.workloadThrough(owner)
	if groupKindOf(owner) == groupKindDeployment {
		return r.Read(ctx, ref, owner.UID)
	}
	return &Facts{Ref: ref, UID: owner.UID, Mode: ModeManual,
		Why: fmt.Sprintf("its ReplicaSet %s is owned by a %s, a kind the restarter does not restart: restart it with its own tooling",
			o.Name, owner.Kind)}, nil
}

func (r *Reader) resolveJob(ctx context.Context, o Owner) (*Facts, error) {
	var job batchv1.Job
	isGone, err := r.get(ctx, o.Namespace, o.Name, o.UID, &job)
	if err != nil {
		return nil, err
	}
	if isGone {
		return gone(o.Ref(), o.UID), nil
	}
	if owner := metav1.GetControllerOfNoCopy(&job); owner != nil && groupKindOf(owner) == groupKindCronJob {
		f, err := r.Read(ctx, o.workloadThrough(owner), owner.UID)
		if err == nil && f.Mode == ModeManual {
			f.Why = fmt.Sprintf("a CronJob (its Job %s runs pods with stale proxies): a restart would cut a run short; "+
				"the next scheduled run gets fresh proxies, or delete the running Job when that is safe", job.Name)
		}
		return f, err
	}
	return &Facts{Ref: o.Ref(), UID: job.UID, Mode: ModeManual, OptedOut: optedOut(&job.ObjectMeta),
		Why: "a Job: a restart would cut its run short; delete its pods or rerun the Job when that is safe"}, nil
}

// Read reads a workload by reference, cached. uid, when set, is the UID its
// pods' owner reference names: an object of another UID was recreated
// since, and stands for a workload that is gone.
func (r *Reader) Read(ctx context.Context, ref Ref, uid types.UID) (*Facts, error) {
	if f, ok := cached(r, r.byRef, ref); ok {
		return f, nil
	}
	k, ok := kinds[ref.GroupKind()]
	if !ok || k.describe == nil {
		return nil, fmt.Errorf("read %s: unsupported kind", ref)
	}
	obj := k.newObject()
	isGone, err := r.get(ctx, ref.Namespace, ref.Name, uid, obj)
	if err != nil {
		return nil, err
	}
	f := &Facts{Ref: ref}
	if isGone {
		f = gone(ref, uid)
	} else {
		k.describe(f, obj)
	}
	store(r, r.byRef, ref, f)
	return f, nil
}

// get reads an object; isGone is true when it does not exist (any more) or
// has another UID than the reference expects (it was recreated).
func (r *Reader) get(ctx context.Context, namespace, name string, uid types.UID, obj client.Object) (isGone bool, err error) {
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("get %T %s/%s: %w", obj, namespace, name, err)
	}
	return uid != "" && obj.GetUID() != uid, nil
}

// prefetchConcurrency bounds the owner reads in flight: enough to hide the
// API server's latency (measured: 5.5 s -> 2.0 s for 3354 reads at 50k
// pods), few enough not to burst a busy API server.
const prefetchConcurrency = 16

// Prefetch resolves the owners with bounded concurrency, filling the
// caches. Errors are not kept: the caller resolves every owner again, in a
// fixed order, and meets them there, so its outcome does not depend on
// timing.
func (r *Reader) Prefetch(ctx context.Context, owners []Owner) {
	var eg errgroup.Group
	eg.SetLimit(prefetchConcurrency)
	for _, o := range owners {
		if ctx.Err() != nil {
			break
		}
		eg.Go(func() error {
			_, _ = r.Resolve(ctx, o)
			return nil
		})
	}
	_ = eg.Wait()
}

// cached and store read and write one of r's caches under its lock.
func cached[K comparable, V any](r *Reader, m map[K]V, k K) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := m[k]
	return v, ok
}

func store[K comparable, V any](r *Reader, m map[K]V, k K, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m[k] = v
}
