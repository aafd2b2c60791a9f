package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// The Istio a previous module release left behind: module 1.27.3 installed
// the real Istio 1.29.2 with native sidecars. Its charts and its istiod come
// from the 1.29.2 tag (hack/test-cluster.sh builds both).
const previousModule = "1.27.3"

// era is when a demo workload was created, before the operator takes over.
type era int

const (
	// eraRegular: Istio 1.29.2's istiod told ENABLE_NATIVE_SIDECARS=false,
	// as module 1.21 had it: pods got regular proxies.
	eraRegular era = iota
	// eraNative: Istio 1.29.2 as module 1.27.3 left it: native sidecars.
	eraNative
)

// demoNamespace holds the demo workloads; it is labelled for injection.
const demoNamespace = "demo"

// keepRunningLabel makes kwok keep a Job's pod Running instead of
// completing it at once (see hack/test-cluster.sh).
const keepRunningLabel = "kwok.istio-module.io/keep-running"

// demoWorkload is one workload of the demo. Its pods carry the label
// app=<name>.
type demoWorkload struct {
	kind     string // Deployment, StatefulSet, Job or Pod
	name     string
	replicas int
	// annotations go on the pod template.
	annotations map[string]string
	// note says what the workload shows.
	note string
	// era is the setting of istiod when the workload was created.
	era era
}

// demoWorkloads: every case the restarter distinguishes, injected by the
// previous Istio.
var demoWorkloads = []demoWorkload{
	{kind: "Deployment", name: "regular-proxy", replicas: 2, era: eraRegular,
		note: "regular proxy, from when istiod was told ENABLE_NATIVE_SIDECARS=false"},
	{kind: "StatefulSet", name: "db", replicas: 2, era: eraRegular,
		note: "regular proxy, from the same time"},
	{kind: "Deployment", name: "old-version", replicas: 1, era: eraNative,
		note: "native sidecar of Istio 1.29.2: only its version is old"},
	{kind: "Deployment", name: "stays-regular", replicas: 1, era: eraNative,
		annotations: map[string]string{sidecarmode.AnnotationNativeSidecar: "false"},
		note:        `annotated nativeSidecar "false": stays regular`},
	{kind: "Job", name: "batch", replicas: 1, era: eraNative,
		note: "a running Job: the operator does not restart Jobs"},
	{kind: "Pod", name: "lonely", replicas: 1, era: eraNative,
		note: "a bare Pod: nothing would recreate it"},
}

// ref names the workload as the restarter does: "Kind namespace/name".
func (w demoWorkload) ref() string { return w.kind + " " + demoNamespace + "/" + w.name }

// restartable: the operator rolls these out; the others need a manual restart.
func (w demoWorkload) restartable() bool { return w.kind == "Deployment" || w.kind == "StatefulSet" }

// object builds the workload.
func (w demoWorkload) object() client.Object {
	labels := map[string]string{"app": w.name}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: w.annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	meta := metav1.ObjectMeta{Name: w.name, Namespace: demoNamespace, Labels: labels}
	selector := &metav1.LabelSelector{MatchLabels: labels}
	switch w.kind {
	case "Deployment":
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(w.replicas)), Selector: selector, Template: template}}
	case "StatefulSet":
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(int32(w.replicas)), Selector: selector, Template: template}}
	case "Job":
		template.Labels = map[string]string{"app": w.name, keepRunningLabel: "true"}
		template.Spec.RestartPolicy = corev1.RestartPolicyNever
		return &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: template}}
	default:
		meta.Annotations = w.annotations
		return &corev1.Pod{ObjectMeta: meta, Spec: template.Spec}
	}
}

// installPrevious installs the real previous Istio from its own charts with
// the installer directly, as a previous module release would have, and waits
// until its control plane runs and its own istiod serves.
func installPrevious(ctx context.Context, env *testenv.Env, istiod *testenv.Istiod, kubeVersion string, d sidecarmode.Decision, why string, p *printer) error {
	p.Printf("Installing Istio %s from its own charts without the operator, %s: %s sidecars (ENABLE_NATIVE_SIDECARS=%s)",
		d.IstioVersion, why, d.DefaultType, d.EnableNativeSidecars)
	dir, err := env.IstioChartsDir(d.IstioVersion)
	if err != nil {
		return err
	}
	inst := install.New(env.Client, install.Options{KubeVersion: kubeVersion, IstiodRemoteURL: istiod.URL(),
		Charts: install.ChartsFromDir(dir, d.IstioVersion)})
	if _, err := inst.Install(ctx, v1alpha2.IstioSpec{}, d, time.Hour); err != nil {
		return fmt.Errorf("install Istio %s: %w", d.IstioVersion, err)
	}
	err = poll(ctx, "the control plane of Istio "+d.IstioVersion, func() (bool, string, error) {
		ready, waitingFor, err := inst.ControlPlaneReady(ctx, v1alpha2.IstioSpec{}, d)
		if err != nil || !ready {
			return ready, waitingFor, err
		}
		return servesEnv(ctx, env.Client, istiod, d)
	})
	if err != nil {
		return err
	}
	p.Printf("Istio %s is up; istiod %s (pilot-discovery built from the Istio %s tag) runs locally at %s",
		d.IstioVersion, runningIstiod(istiod), d.IstioVersion, istiod.URL())
	return nil
}

// servesEnv reports whether the local istiod runs the Deployment's current
// setting of ENABLE_NATIVE_SIDECARS (the harness restarts it on a change).
func servesEnv(ctx context.Context, c client.Client, istiod *testenv.Istiod, d sidecarmode.Decision) (bool, string, error) {
	var deploy appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: testenv.IstioNamespace, Name: install.IstiodName}, &deploy); err != nil {
		return false, "", err
	}
	for _, ctr := range deploy.Spec.Template.Spec.Containers {
		for _, e := range ctr.Env {
			if ctr.Name == "discovery" && e.Name == "ENABLE_NATIVE_SIDECARS" && e.Value != d.EnableNativeSidecars {
				return false, "istiod's Deployment still has ENABLE_NATIVE_SIDECARS=" + e.Value, nil
			}
		}
	}
	if runningIstiod(istiod) != d.IstioVersion {
		return false, "the local istiod " + d.IstioVersion + " is not running yet", nil
	}
	return true, "", nil
}

// runningIstiod is the Istio version of the istiod process running now, or "".
func runningIstiod(istiod *testenv.Istiod) string {
	runs := istiod.Runs()
	if len(runs) == 0 || !runs[len(runs)-1].Stopped.IsZero() {
		return ""
	}
	return runs[len(runs)-1].Version
}

// createDemo creates the demo namespace and the workloads of one era and
// waits until every pod runs with the proxy the previous Istio injected. It
// adds each workload's proxies, by ref, to before, for the summary at the end.
func createDemo(ctx context.Context, c client.Client, previous sidecarmode.Decision, e era, before map[string]string, p *printer) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace, Labels: map[string]string{"istio-injection": "enabled"}}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", demoNamespace, err)
	}
	// Pods created before istiod serves are rejected by its fail-closed
	// webhook, and controllers back off: wait until injection works.
	if err := poll(ctx, "istiod to inject pods", func() (bool, string, error) {
		return injects(ctx, c)
	}); err != nil {
		return err
	}
	var workloads []demoWorkload
	for _, w := range demoWorkloads {
		if w.era == e {
			workloads = append(workloads, w)
		}
	}
	p.Printf("Creating demo workloads in namespace %s (label istio-injection=enabled)", demoNamespace)
	for _, w := range workloads {
		obj := w.object()
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s: %w", w.ref(), err)
		}
	}
	summaries := map[string]string{}
	err := poll(ctx, "the demo pods to run injected by Istio "+previous.IstioVersion, func() (bool, string, error) {
		for _, w := range workloads {
			pods, err := listPods(ctx, c, w, previous)
			if err != nil {
				return false, "", err
			}
			if done, missing := settled(w, pods, previous); !done {
				return false, w.ref() + ": " + missing, nil
			}
			summaries[w.ref()] = describeProxies(pods)
		}
		return true, "", nil
	})
	if err != nil {
		return err
	}
	p.Printf("Demo workloads run, injected by istiod %s:", previous.IstioVersion)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, w := range workloads {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", w.ref(), summaries[w.ref()], w.note)
		before[w.ref()] = summaries[w.ref()]
	}
	_ = tw.Flush()
	p.Lines(strings.Split(strings.TrimRight(b.String(), "\n"), "\n")...)
	return nil
}

// injects reports whether a pod created in the demo namespace now comes back
// with an istio-proxy (a server-side dry run: nothing is stored).
func injects(ctx context.Context, c client.Client) (bool, string, error) {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "injection-probe", Namespace: demoNamespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	if err := c.Create(ctx, probe, client.DryRunAll); err != nil {
		return false, err.Error(), nil
	}
	if sidecarmode.Inspect(probe.ObjectMeta, probe.Spec).Layout == sidecarmode.LayoutNone {
		return false, "a pod came back without istio-proxy", nil
	}
	return true, "", nil
}

// podProxy is a live pod of a demo workload and its istio-proxy.
type podProxy struct {
	name    string
	running bool
	proxy   sidecarmode.Proxy
	// want is the container type the decision expects for this pod.
	want sidecarmode.ContainerType
}

// matches: the pod runs the proxy the decision wants.
func (pp podProxy) matches(d sidecarmode.Decision) bool {
	return pp.running && pp.proxy.Type() == pp.want && pp.proxy.Version == d.IstioVersion
}

// listPods returns the workload's pods that are not terminating, by name.
func listPods(ctx context.Context, c client.Client, w demoWorkload, d sidecarmode.Decision) ([]podProxy, error) {
	var list corev1.PodList
	if err := c.List(ctx, &list, client.InNamespace(demoNamespace), client.MatchingLabels{"app": w.name}); err != nil {
		return nil, fmt.Errorf("list the pods of %s: %w", w.ref(), err)
	}
	var pods []podProxy
	for _, pod := range list.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		pods = append(pods, podProxy{
			name:    pod.Name,
			running: pod.Status.Phase == corev1.PodRunning,
			proxy:   sidecarmode.Inspect(pod.ObjectMeta, pod.Spec),
			want:    sidecarmode.ExpectedType(pod.Annotations, d),
		})
	}
	sort.Slice(pods, func(a, b int) bool { return pods[a].name < pods[b].name })
	return pods, nil
}

// settled reports whether the workload has exactly its replicas, all
// running the proxy the decision wants; if not, what it has.
func settled(w demoWorkload, pods []podProxy, d sidecarmode.Decision) (bool, string) {
	ok := 0
	for _, pp := range pods {
		if pp.matches(d) {
			ok++
		}
	}
	if ok == w.replicas && len(pods) == w.replicas {
		return true, ""
	}
	return false, fmt.Sprintf("%d of %d pods run istio-proxy %s of the expected type; now %s",
		ok, w.replicas, d.IstioVersion, describeProxies(pods))
}

// describeProxies is "2 pods: regular 1.29.2" or "2 pods: 1 native 1.30.2, 1 regular 1.29.2".
func describeProxies(pods []podProxy) string {
	counts := map[string]int{}
	for _, pp := range pods {
		key := string(pp.proxy.Layout)
		if pp.proxy.Layout == sidecarmode.LayoutNone {
			key = "no proxy"
		} else if pp.proxy.Version != "" {
			key += " " + pp.proxy.Version
		}
		if !pp.running {
			key += " (not running)"
		}
		counts[key]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(pods) == 0 {
		return "no pods"
	}
	noun := "pods"
	if len(pods) == 1 {
		noun = "pod"
	}
	if len(keys) == 1 {
		return fmt.Sprintf("%d %s: %s", len(pods), noun, keys[0])
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return fmt.Sprintf("%d %s: %s", len(pods), noun, strings.Join(parts, ", "))
}

// poll calls check every 250ms until it reports done, fails, or ctx ends;
// then the error names what was awaited and the last reason it was not done.
func poll(ctx context.Context, what string, check func() (done bool, notYet string, err error)) error {
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	last := ""
	for {
		done, notYet, err := check()
		if err != nil && ctx.Err() == nil {
			return err
		}
		if done {
			return nil
		}
		if notYet != "" {
			last = notYet
		}
		select {
		case <-ctx.Done():
			if last != "" {
				return fmt.Errorf("waiting for %s: %w (last seen: %s)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-ticker.C:
		}
	}
}
