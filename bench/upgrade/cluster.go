package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// benchLabel marks every pod template the benchmark creates, so the pod
// tracker watches those pods only.
const benchLabel = "upgrade-bench"

// previousModule is the module release that installed Istio 1.29.2: native
// sidecars, so its pods are stale by version only after the upgrade.
const previousModule = "1.27.3"

// startCluster starts the API server, the controllers and kwok with client
// rate limits raised above what creating and rolling thousands of pods
// needs: the measurement is the operator's pacing, not the
// controller-manager's default 20 requests per second.
func startCluster() (*testenv.Env, error) {
	return testenv.StartCluster(
		testenv.WithComponentFlags(testenv.ControllerManager,
			"--kube-api-qps=1000", "--kube-api-burst=2000",
			"--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20"),
		testenv.WithComponentFlags(testenv.Scheduler, "--kube-api-qps=1000", "--kube-api-burst=2000"),
	)
}

// installPrevious installs Istio 1.29.2 from its own charts as module
// 1.27.3 left it, and waits until istiod 1.29.2 injects pods: from then on
// new pods get its native proxy, stale for this build.
func installPrevious(ctx context.Context, env *testenv.Env, istiod *testenv.Istiod) error {
	release, err := sidecarmode.LookupRelease(previousModule)
	if err != nil {
		return err
	}
	decision := sidecarmode.DecideFor(release, false, sidecarmode.ClusterFacts{})
	installer, err := env.Installer(istiod, testenv.PreviousIstioVersion)
	if err != nil {
		return err
	}
	if _, err := installer.Install(ctx, v1alpha2.IstioSpec{}, decision, time.Hour); err != nil {
		return fmt.Errorf("install Istio %s: %w", testenv.PreviousIstioVersion, err)
	}
	last := ""
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		ready, msg, err := installer.ControlPlaneReady(ctx, v1alpha2.IstioSpec{}, decision)
		if err != nil || !ready {
			last = fmt.Sprint(msg, err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("Istio %s's control plane is not ready after 3m: %s", testenv.PreviousIstioVersion, last)
	}
	return nil
}

// waitInjecting waits until the injector gives a new pod in namespace ns the
// proxy want, asking by server-side dry-run creates: until then the
// fail-closed webhook rejects pods, and the ReplicaSet controller would back
// off for minutes.
func waitInjecting(ctx context.Context, env *testenv.Env, ns string, want proxyState) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "probe-"}, Spec: podSpec()}
		if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
			last = err.Error()
			return false, nil
		}
		got := stateOf(pod)
		last = fmt.Sprintf("a new pod gets a %s proxy %s", got.layout, got.version)
		return got.layout == want.layout && got.version == want.version, nil
	})
	if err != nil {
		return fmt.Errorf("the injector does not inject a %s proxy %s after 3m: %s", want.layout, want.version, last)
	}
	return nil
}

// namespacePrefix begins the name of every namespace the benchmark creates.
const namespacePrefix = "upgrade-"

// namespaceOf spreads the Deployments over namespaces of at most 100.
func namespaceOf(i int) string { return namespacePrefix + strconv.Itoa(i/100) }

func deploymentName(i int) string { return fmt.Sprintf("app-%04d", i) }

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}}
}

func newDeployment(i int, replicas int32) *appsv1.Deployment {
	name := deploymentName(i)
	labels := map[string]string{"app": name, benchLabel: "true"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespaceOf(i), Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()},
		},
	}
}

// createWorkloads creates the injection-enabled namespaces and n
// Deployments, workers at a time.
func createWorkloads(ctx context.Context, env *testenv.Env, n int, replicas int32, workers int) error {
	for i := 0; i < n; i += 100 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaceOf(i), Labels: map[string]string{"istio-injection": "enabled"}}}
		if err := env.Client.Create(ctx, ns); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns.Name, err)
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range n {
		g.Go(func() error {
			d := newDeployment(i, replicas)
			if err := env.Client.Create(ctx, d); err != nil {
				return fmt.Errorf("create Deployment %s/%s: %w", d.Namespace, d.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}
