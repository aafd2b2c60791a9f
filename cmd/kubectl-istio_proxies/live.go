package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/podlist"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// What the commands that read a live cluster (status, advise) share: their
// flags and output, the connection, the target as the operator would decide
// it there, paged pod listing, and finding a pod's workload. status's scan
// is in statusscan.go.

// controlPlaneNamespace is skipped by the cluster-wide scans, as by the
// operator's restarter, unless it is asked for with -n.
const controlPlaneNamespace = restarter.DefaultControlPlaneNamespace

// podPageSize is how many pods one List request returns.
const podPageSize = 500

// connFlags are the flags that pick the cluster and the namespaces.
type connFlags struct {
	kubeconfig    string
	context       string
	namespace     string
	allNamespaces bool
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&c.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVar(&c.namespace, "n", "", "only this namespace")
	fs.StringVar(&c.namespace, "namespace", "", "same as -n")
	fs.BoolVar(&c.allNamespaces, "A", false, "all namespaces (the default)")
	fs.BoolVar(&c.allNamespaces, "all-namespaces", false, "same as -A")
}

func (c connFlags) validate() error {
	if c.namespace != "" && c.allNamespaces {
		return errors.New("give either -n NAMESPACE or -A, not both")
	}
	return nil
}

// scheme knows the built-in kinds and the Istio CR.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha2.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// newClient connects to the cluster the way kubectl does: --kubeconfig,
// else $KUBECONFIG (a list of files), else ~/.kube/config; --context, else
// the current context. The client reads from the API server, uncached; the
// pod lister too, decoding only the fields the restarter reads (podlist), so
// that a scan of a large cluster holds one pod at a time.
func newClient(c connFlags) (client.Client, *podlist.Lister, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.kubeconfig != "" {
		rules.ExplicitPath = c.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// One Get per owner of a pod: client-go's default of 5/s would crawl.
	cfg.QPS, cfg.Burst = 50, 100
	scheme, err := newScheme()
	if err != nil {
		return nil, nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	pods, err := podlist.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	return cl, pods, nil
}

// commandFlags are the flags of the commands that read a live cluster: the
// connection, the target and the output format.
type commandFlags struct {
	conn   connFlags
	tf     targetFlags
	output string
}

// newFlagSet makes a command's flag set with commandFlags registered.
func (c *commandFlags) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.conn.register(fs)
	c.tf.register(fs)
	registerOutput(fs, &c.output)
	return fs
}

// registerOutput registers -o and --output, the output format.
func registerOutput(fs *flag.FlagSet, output *string) {
	fs.StringVar(output, "o", "table", "output format: table or json")
	fs.StringVar(output, "output", "table", "same as -o")
}

// setFlags names the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// writeOutput writes a command's report in the output format: json, or
// a table by asTable. Reports hold empty lists, not nil ones, so that their
// JSON has [] where there is nothing.
func writeOutput[R any](w io.Writer, output string, report R, asTable func(io.Writer, R) error) error {
	write := asTable
	if output == "json" {
		write = func(w io.Writer, r R) error { return printJSON(w, r) }
	}
	if err := write(w, report); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// writeTargetLine starts a table with the target and a blank line.
func writeTargetLine(w io.Writer, t target) error {
	_, err := fmt.Fprintf(w, "Target: %s (%s)\n\n", t.Reason, t.Decision.Target())
	return err
}

// targetFlags are inspect's target flags, shared by every command.
type targetFlags struct {
	moduleVersion     string
	compatibilityMode bool
	minKubeletVersion string
	istioVersion      string
	defaultType       string
}

func (t *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.moduleVersion, "module-version", "", "module release whose target to check against, e.g. 1.30.0 (default: this build's)")
	fs.BoolVar(&t.compatibilityMode, "compatibility-mode", false, "with --module-version: the Istio CR sets compatibilityMode: true")
	fs.StringVar(&t.minKubeletVersion, "min-kubelet-version", "", "with --module-version: the oldest kubelet of the cluster, e.g. v1.28.3 (below 1.29 native sidecars cannot run)")
	fs.StringVar(&t.istioVersion, "istio-version", "", "target Istio version, e.g. 1.30.2 (with --default-type)")
	fs.StringVar(&t.defaultType, "default-type", "", "with --istio-version: default container type, native or regular")
}

// decision is the target from the flags alone, as inspect makes it.
func (t targetFlags) decision(set map[string]bool) (sidecarmode.Decision, error) {
	return inspectOptions{
		moduleVersion:     t.moduleVersion,
		compatibilityMode: t.compatibilityMode,
		minKubeletVersion: t.minKubeletVersion,
		istioVersion:      t.istioVersion,
		defaultType:       t.defaultType,
	}.decision(set)
}

// target is the decision and where its inputs came from; its JSON form is
// the "target" of the commands' output.
type target struct {
	Decision sidecarmode.Decision `json:"-"`

	ModuleVersion     string `json:"moduleVersion,omitempty"`
	IstioVersion      string `json:"istioVersion"`
	DefaultType       string `json:"defaultType"`
	CompatibilityMode bool   `json:"compatibilityMode"`
	// IstioCR is "namespace/name" of the Istio CR compatibilityMode was read
	// from, when it was.
	IstioCR           string `json:"istioCR,omitempty"`
	MinKubeletVersion string `json:"minKubeletVersion,omitempty"`
	NativeUnsupported bool   `json:"nativeUnsupported"`
	Reason            string `json:"reason"`
}

func newTarget(d sidecarmode.Decision, t targetFlags) target {
	return target{
		Decision:          d,
		ModuleVersion:     d.ModuleVersion,
		IstioVersion:      d.IstioVersion,
		DefaultType:       string(d.DefaultType),
		CompatibilityMode: d.CompatibilityVersion != "",
		MinKubeletVersion: t.minKubeletVersion,
		NativeUnsupported: d.NativeUnsupported,
		Reason:            d.Reason,
	}
}

// liveTarget decides the target as the operator's reconciler would on this
// cluster, unless the flags say otherwise: compatibilityMode from the oldest
// Istio CR (when --compatibility-mode is not given) and the kubelet gate from
// the nodes (when --min-kubelet-version is not given). With --istio-version
// and --default-type the flags are the whole target. What cannot be read is
// reported on warn and left at its default.
func liveTarget(ctx context.Context, c client.Client, t targetFlags, set map[string]bool, warn io.Writer) (target, error) {
	byIstio := set["istio-version"] || set["default-type"]
	cr := ""
	if !byIstio && !set["compatibility-mode"] {
		istio, err := oldestIstio(ctx, c)
		switch {
		case err != nil:
			fmt.Fprintf(warn, "warning: %v; assuming compatibilityMode: false (give --compatibility-mode to set it)\n", err)
		case istio != nil:
			t.compatibilityMode = istio.Spec.CompatibilityMode
			cr = istio.Namespace + "/" + istio.Name
		}
	}
	if !byIstio && !set["min-kubelet-version"] {
		v, err := lowestKubelet(ctx, c)
		if err != nil {
			fmt.Fprintf(warn, "warning: %v; the kubelet gate is not checked (give --min-kubelet-version to set it)\n", err)
		}
		t.minKubeletVersion = v
	}
	d, err := t.decision(set)
	if err != nil {
		return target{}, err
	}
	tg := newTarget(d, t)
	tg.IstioCR = cr
	return tg, nil
}

// oldestIstio returns the Istio CR the operator follows: the oldest, ties
// broken by namespace and name. nil when there is none or the CRD is not
// installed.
func oldestIstio(ctx context.Context, c client.Client) (*v1alpha2.Istio, error) {
	var list v1alpha2.IstioList
	if err := c.List(ctx, &list); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list Istio CRs: %w", err)
	}
	return v1alpha2.InCharge(list.Items), nil
}

// lowestKubelet is sidecarmode.LowestKubeletVersion over the nodes.
func lowestKubelet(ctx context.Context, c client.Client) (string, error) {
	var versions []string
	cont := ""
	for {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes, workload.PageOptions(podPageSize, "", cont)...); err != nil {
			return "", fmt.Errorf("list nodes: %w", err)
		}
		for _, n := range nodes.Items {
			versions = append(versions, n.Status.NodeInfo.KubeletVersion)
		}
		if cont = nodes.Continue; cont == "" {
			return sidecarmode.LowestKubeletVersion(versions), nil
		}
	}
}

// meshHoldApplication reads defaultConfig.holdApplicationUntilProxyStarts
// from the mesh config (ConfigMap istio in the control plane's namespace).
// false when there is no such ConfigMap.
func meshHoldApplication(ctx context.Context, c client.Client) (bool, error) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: controlPlaneNamespace, Name: "istio"}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("read the mesh config: %w", err)
	}
	var mesh struct {
		DefaultConfig struct {
			HoldApplicationUntilProxyStarts bool `json:"holdApplicationUntilProxyStarts"`
		} `json:"defaultConfig"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["mesh"]), &mesh); err != nil {
		return false, fmt.Errorf("read the mesh config in ConfigMap %s/istio: %w", controlPlaneNamespace, err)
	}
	return mesh.DefaultConfig.HoldApplicationUntilProxyStarts, nil
}

// listPods pages through the pods pager lists and hands each one to fn,
// stopping at fn's first error. When the API server expires the continue
// token, it calls reset and lists again from the start, so the caller's
// aggregation starts over.
func listPods(ctx context.Context, pager restarter.PodPager, reset func(), fn func(*corev1.Pod) error) error {
	return workload.ListFromStart(func() error { return listPodPages(ctx, pager, fn) }, func(int) { reset() })
}

func listPodPages(ctx context.Context, pager restarter.PodPager, fn func(*corev1.Pod) error) error {
	cont := ""
	for page := 1; ; page++ {
		var fnErr error
		next, err := pager.Page(ctx, podPageSize, cont, func(pod *corev1.Pod) {
			if fnErr == nil {
				fnErr = fn(pod)
			}
		})
		if err != nil {
			return fmt.Errorf("list pods (page %d): %w", page, err)
		}
		if fnErr != nil {
			return fnErr
		}
		if cont = next; cont == "" {
			return nil
		}
	}
}

// skipNamespace reports whether a cluster-wide scan skips the namespace.
func skipNamespace(c connFlags, namespace string) bool {
	return c.namespace == "" && namespace == controlPlaneNamespace
}

// workloadKey names a workload as the reports show it.
type workloadKey struct {
	Kind      string
	Namespace string
	Name      string
}

func keyOf(ref workload.Ref) workloadKey {
	return workloadKey{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
}

// less orders keys as the restarter orders its plan.
func (k workloadKey) less(o workloadKey) bool {
	return workload.Ref{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name}.Less(
		workload.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
}

// owners finds the workload of a pod as the restarter's plan names it
// (workload.Namer).
type owners struct{ namer *workload.Namer }

func newOwners(c client.Client) *owners { return &owners{namer: workload.NewNamer(c)} }

func (o *owners) workloadOf(ctx context.Context, pod *corev1.Pod) (workloadKey, error) {
	ref, err := o.namer.WorkloadOf(ctx, pod)
	return keyOf(ref), err
}

// sortedKeys returns a set's members, sorted.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
