package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/restarter"
)

// cluster is the benchmark's view of the test API server: what it created
// so far and how to write more.
type cluster struct {
	c          client.Client
	namespaces int
	workers    int
	target     string // the target Istio version, e.g. "1.30.2"
	workloads  int    // workloads created so far (indices 0..workloads-1)
	// outsideWorkloads counts the ReplicaSets of pods without a proxy
	// created so far (--outside-mesh).
	outsideWorkloads int
}

// createNamespaces creates the benchmark's namespaces.
func (cl *cluster) createNamespaces(ctx context.Context) error {
	for i := range cl.namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaceName(i)}}
		if err := cl.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

// growTo creates workloads until there are pods Running pods: a Deployment
// (settled), its ReplicaSet and podsPerWorkload pods per workload.
func (cl *cluster) growTo(ctx context.Context, pods int) error {
	want := pods / podsPerWorkload
	if want <= cl.workloads {
		return nil
	}
	if err := cl.createInParallel(ctx, cl.workloads, want, cl.createWorkload); err != nil {
		return err
	}
	cl.workloads = want
	return nil
}

// growOutsideMeshTo creates Running pods without a proxy until there are
// pods of them: podsPerWorkload per ReplicaSet, as growTo does for the mesh.
func (cl *cluster) growOutsideMeshTo(ctx context.Context, pods int) error {
	want := pods / podsPerWorkload
	if want <= cl.outsideWorkloads {
		return nil
	}
	if err := cl.createInParallel(ctx, cl.outsideWorkloads, want, cl.createOutsideMeshWorkload); err != nil {
		return err
	}
	cl.outsideWorkloads = want
	return nil
}

// createInParallel calls create for the workload indices from..want-1 with
// cl.workers writers: one writer is bound by the API server's latency, not
// its throughput.
func (cl *cluster) createInParallel(ctx context.Context, from, want int, create func(context.Context, int) error) error {
	started := time.Now()
	var done atomic.Int64
	stop := make(chan struct{})
	var progress sync.WaitGroup
	progress.Go(func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				n := done.Load()
				logf("  created %d of %d workloads (%.0f pods/s)", n, want-from,
					float64(n*podsPerWorkload)/time.Since(started).Seconds())
			}
		}
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range cl.workers {
		wg.Go(func() {
			for i := range next {
				if err := create(ctx, i); err != nil {
					// The first error cancels the others; theirs only say so.
					once.Do(func() { firstErr = err })
					cancel()
					continue
				}
				done.Add(1)
			}
		})
	}
feed:
	for i := from; i < want; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(stop)
	progress.Wait()
	if firstErr != nil {
		return firstErr
	}
	d := time.Since(started)
	logf("  created %d pods in %s (%.0f pods/s)", (want-from)*podsPerWorkload, d.Round(time.Second),
		float64((want-from)*podsPerWorkload)/d.Seconds())
	return nil
}

// createWorkload creates workload i: its Deployment and ReplicaSet with
// settled status, and its Running pods.
func (cl *cluster) createWorkload(ctx context.Context, i int) error {
	n := namesOf(i, cl.namespaces)
	s := shapeOf(i)
	d := newDeployment(n, s)
	if err := cl.c.Create(ctx, d); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", n.namespace, n.deployment, err)
	}
	settleDeployment(d)
	if err := cl.c.Status().Update(ctx, d); err != nil {
		return fmt.Errorf("set status of deployment %s/%s: %w", n.namespace, n.deployment, err)
	}
	rs := newReplicaSet(n, s, d)
	if err := cl.c.Create(ctx, rs); err != nil {
		return fmt.Errorf("create replicaset %s/%s: %w", n.namespace, n.replicaSet, err)
	}
	settleReplicaSet(rs)
	if err := cl.c.Status().Update(ctx, rs); err != nil {
		return fmt.Errorf("set status of replicaset %s/%s: %w", n.namespace, n.replicaSet, err)
	}
	for j := range podsPerWorkload {
		pod := newPod(n, s, rs, j, cl.target)
		if err := cl.c.Create(ctx, pod); err != nil {
			return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		// The API server resets the status of a new pod; a kubelet would
		// report it through the status subresource.
		pod.Status = runningStatus(pod, i*podsPerWorkload+j)
		if err := cl.c.Status().Update(ctx, pod); err != nil {
			return fmt.Errorf("set status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	return nil
}

// createOutsideMeshWorkload creates the podsPerWorkload Running pods of
// outside-mesh workload i: the app container alone, none of the injector's
// labels or annotations, owned by a ReplicaSet that is never read.
func (cl *cluster) createOutsideMeshWorkload(ctx context.Context, i int) error {
	n := namesOf(i, cl.namespaces)
	name := "plain-" + strings.TrimPrefix(n.replicaSet, "app-")
	for j := range podsPerWorkload {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: n.namespace, Name: podName(name, j), Labels: map[string]string{"app": name},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name,
					UID: types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)), Controller: ptr.To(true)}},
			},
			Spec: podTemplate(n, shapeNative).Spec,
		}
		pod.Spec.NodeName = fmt.Sprintf("node-%03d", (i*31+j)%200)
		if err := cl.c.Create(ctx, pod); err != nil {
			return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		pod.Status = runningStatus(pod, 1<<20+i*podsPerWorkload+j)
		if err := cl.c.Status().Update(ctx, pod); err != nil {
			return fmt.Errorf("set status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	return nil
}

// markedDeployments lists the benchmark's Deployments whose pod template
// carries the restarter's marker, by namespace/name.
func (cl *cluster) markedDeployments(ctx context.Context) (map[string]*appsv1.Deployment, error) {
	marked := map[string]*appsv1.Deployment{}
	for i := range cl.namespaces {
		var list appsv1.DeploymentList
		if err := cl.c.List(ctx, &list, client.InNamespace(namespaceName(i))); err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		for k := range list.Items {
			d := &list.Items[k]
			if _, ok := d.Spec.Template.Annotations[restarter.RestartAnnotation]; ok {
				marked[d.Namespace+"/"+d.Name] = d
			}
		}
	}
	return marked, nil
}

// expectedStale is the set of stale Deployments among the workloads
// created, by namespace/name.
func (cl *cluster) expectedStale() map[string]bool {
	stale := map[string]bool{}
	for i := range cl.workloads {
		if shapeOf(i).stale() {
			n := namesOf(i, cl.namespaces)
			stale[n.namespace+"/"+n.deployment] = true
		}
	}
	return stale
}

// forEach runs fn for each Deployment with cl.workers goroutines.
func (cl *cluster) forEach(ctx context.Context, ds map[string]*appsv1.Deployment, fn func(context.Context, *appsv1.Deployment) error) error {
	next := make(chan *appsv1.Deployment)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range cl.workers {
		wg.Go(func() {
			for d := range next {
				if err := fn(ctx, d); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, d := range ds {
		next <- d
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// settle makes a Deployment look as if its controller had rolled out its
// current generation. No controller runs here, so the pods stay as they
// are: for the restarter the rollout finished and the pods are still stale.
func (cl *cluster) settle(ctx context.Context, d *appsv1.Deployment) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur appsv1.Deployment
		if err := cl.c.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
			return err
		}
		settleDeployment(&cur)
		return cl.c.Status().Update(ctx, &cur)
	})
}

// unmark removes the restarter's marker from a Deployment's pod template
// and from its metadata (the restarter reads either as "restarted before")
// and settles it again, so the next size starts from the same state.
func (cl *cluster) unmark(ctx context.Context, d *appsv1.Deployment) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur appsv1.Deployment
		if err := cl.c.Get(ctx, client.ObjectKeyFromObject(d), &cur); err != nil {
			return err
		}
		delete(cur.Spec.Template.Annotations, restarter.RestartAnnotation)
		delete(cur.Annotations, restarter.RestartAnnotation)
		return cl.c.Update(ctx, &cur)
	})
	if err != nil {
		return fmt.Errorf("remove the marker of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return cl.settle(ctx, d)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
