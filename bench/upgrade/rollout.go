package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/testenv"
)

// rolloutAnnotation is what the benchmark changes in a pod template to
// roll a Deployment out as the restarter's marker does.
const rolloutAnnotation = "upgrade-bench.istio-module.io/rolled-at"

// timeRollouts rolls the Deployments numbered in batch out together, as
// the restarter does with one marker patch each, and returns the time until
// the last of them has settled as `kubectl rollout status` judges it: every
// replica updated and available, no old one left.
func timeRollouts(ctx context.Context, env *testenv.Env, batch []int, replicas int32) (time.Duration, error) {
	start := time.Now()
	for _, i := range batch {
		d := newDeployment(i, replicas)
		patch := fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`,
			rolloutAnnotation, start.Format(time.RFC3339Nano))
		if err := env.Client.Patch(ctx, d, client.RawPatch("application/strategic-merge-patch+json", patch)); err != nil {
			return 0, fmt.Errorf("patch Deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
	}
	pending := slices.Clone(batch)
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var left []int
		for _, i := range pending {
			var d appsv1.Deployment
			key := client.ObjectKey{Namespace: namespaceOf(i), Name: deploymentName(i)}
			if err := env.Client.Get(ctx, key, &d); err != nil {
				return false, err
			}
			if !settled(&d) {
				left = append(left, i)
			}
		}
		pending = left
		return len(pending) == 0, nil
	})
	if err != nil {
		return 0, fmt.Errorf("rollouts of %d Deployment(s) not settled after 5m: %w", len(pending), err)
	}
	return time.Since(start), nil
}

// settled is `kubectl rollout status`'s verdict.
func settled(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
}

// rolloutTimes measures, after the upgrade and with the operator stopped,
// one Deployment's rollout alone (the median of samples, each a different
// Deployment) and slots Deployments rolled out at once, as the operator's
// pacing does: the time one of its batches holds the slots.
func rolloutTimes(ctx context.Context, env *testenv.Env, n, slots, samples int, replicas int32) (one, batch time.Duration, err error) {
	var ones []time.Duration
	for s := range samples {
		d, err := timeRollouts(ctx, env, []int{s % n}, replicas)
		if err != nil {
			return 0, 0, err
		}
		ones = append(ones, d)
	}
	var batches []time.Duration
	for s := range samples {
		var ids []int
		for k := range slots {
			ids = append(ids, (samples+s*slots+k)%n)
		}
		d, err := timeRollouts(ctx, env, ids, replicas)
		if err != nil {
			return 0, 0, err
		}
		batches = append(batches, d)
	}
	return median(ones), median(batches), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
