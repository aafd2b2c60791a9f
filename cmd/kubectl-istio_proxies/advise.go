package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/advisor"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

const adviseUsage = `Find the workarounds that native sidecars make unnecessary, and the
workloads that misbehave without them.

Findings (the id is stable, also in JSON):
  quitquitquit         a container calls istio-proxy's /quitquitquit (port 15020)
                       to stop it at the end of a Job
  uid-1337             a user init container runs as user 1337 (set on it or
                       inherited from the pod) to bypass traffic capture
  exclude-outbound     traffic.sidecar.istio.io/excludeOutboundIPRanges or
                       excludeOutboundPorts on a pod with init containers
  hold-ignored         holdApplicationUntilProxyStarts on a native sidecar,
                       where Istio ignores it
  job-regular-sidecar  a Job or CronJob whose pods get a regular sidecar, so
                       they never complete without a workaround
  opt-out-review       a workload pinned to regular containers with
                       sidecar.istio.io/nativeSidecar: "false"
The first four are about native sidecars, job-regular-sidecar about regular
ones. Each finding says when it applies: "now", for the layout the pod runs,
or "after-switch", for the layout istiod injects under the target (the only
one for pod templates and pods not injected yet).

Offline, with -f, it reads the same manifests as inspect (pods and the pod
templates of workloads). Live, without -f, it reads the current cluster
(kubectl's --kubeconfig, $KUBECONFIG, --context): the pods with istio-proxy,
grouped by workload (the control plane's namespace %s is skipped unless
given with -n), and the pod templates of CronJobs that have no pods, in
namespaces where istiod injects; the mesh-wide holdApplicationUntilProxyStarts
comes from the mesh config.

The target is given as for inspect; without it, this build's module version
(%s). Live, compatibilityMode comes from the Istio CR and the kubelet gate
from the Nodes unless given.

Usage:
  kubectl istio-proxies advise -f FILE [target flags] [-o table|json]
  kubectl istio-proxies advise [-n NAMESPACE | -A] [target flags] [-o table|json]

Examples:
  kubectl istio-proxies advise -f deploy/ -o json
  kubectl get cronjobs,deployments -A -o yaml | kubectl istio-proxies advise -f -
  kubectl istio-proxies advise -n shop

Flags:
`

// adviseRow is one workload, pod or manifest object of the advise report;
// its JSON form is the -o json output, whose keys are part of the command's
// interface.
type adviseRow struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Pods counts the pods the findings come from; 0 for a manifest object
	// or a pod template.
	Pods int `json:"pods"`
	// Layout is the proxy's layout as it is ("none" for a pod template);
	// several, joined by ",", only if a workload's pods differ.
	Layout string `json:"layout"`
	// ExpectedType is the container type under the target ("" for gateways
	// and pods opted out of injection).
	ExpectedType string            `json:"expectedType"`
	Findings     []advisor.Finding `json:"findings"`
}

// adviseReport is the -o json output.
type adviseReport struct {
	Target  target      `json:"target"`
	Objects []adviseRow `json:"objects"`
}

func runAdvise(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var (
		cf    commandFlags
		input inputFlags
	)
	fs := cf.newFlagSet("advise")
	input.register(fs, "manifest file to read offline, - for stdin (default: read the cluster)")
	if code, done := parseFlags(fs, args, fmt.Sprintf(adviseUsage, controlPlaneNamespace, sidecarmode.ModuleVersion), stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		return fail(stderr, fmt.Errorf("unexpected arguments %q; give manifests with -f", fs.Args()))
	}
	if err := checkOutput(cf.output); err != nil {
		return fail(stderr, err)
	}
	set := setFlags(fs)
	d, err := cf.tf.decision(set)
	if err != nil {
		return fail(stderr, err)
	}

	var report adviseReport
	if input.file != "" {
		for _, name := range []string{"n", "namespace", "A", "all-namespaces", "kubeconfig", "context"} {
			if set[name] {
				return fail(stderr, fmt.Errorf("-%s is for the cluster; with -f the manifests are read offline", name))
			}
		}
		report, err = adviseManifests(&input, stdin, newTarget(d, cf.tf))
	} else {
		if err := cf.conn.validate(); err != nil {
			return fail(stderr, err)
		}
		report, err = adviseCluster(cf.conn, cf.tf, set, stderr)
	}
	if err != nil {
		return fail(stderr, err)
	}
	if err := writeOutput(stdout, cf.output, report, writeAdviseTable); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// adviseManifests reports every object with a pod spec in the manifests.
func adviseManifests(input *inputFlags, stdin io.Reader, tg target) (adviseReport, error) {
	objs, err := input.readManifest(stdin)
	if err != nil {
		return adviseReport{}, err
	}
	report := adviseReport{Target: tg, Objects: make([]adviseRow, 0, len(objs))}
	for _, obj := range objs {
		meta, spec, _ := sidecarmode.PodTemplateOf(obj.Object)
		r := advisor.Advise(advisor.Input{Kind: obj.Kind, Meta: meta, Spec: spec, Decision: tg.Decision})
		report.Objects = append(report.Objects, adviseRow{
			Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name,
			Layout: string(r.Proxy.Layout), ExpectedType: string(r.After), Findings: r.Findings,
		})
	}
	return report, nil
}

// adviseAgg gathers the pods of one workload.
type adviseAgg struct {
	pods             int
	layouts, expects map[string]bool
	findings         map[advisor.Finding]bool
}

// adviseCluster reports the workloads of the cluster: their pods with a
// proxy, and the templates of CronJobs without pods.
func adviseCluster(conn connFlags, tf targetFlags, set map[string]bool, warn io.Writer) (adviseReport, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, _, err := newClient(conn)
	if err != nil {
		return adviseReport{}, err
	}
	tg, err := liveTarget(ctx, c, tf, set, warn)
	if err != nil {
		return adviseReport{}, err
	}
	meshHold, err := meshHoldApplication(ctx, c)
	if err != nil {
		fmt.Fprintf(warn, "warning: %v; the mesh-wide holdApplicationUntilProxyStarts is not checked\n", err)
	}

	aggs, err := adviseScan(ctx, c, conn, tg.Decision, meshHold)
	if err != nil {
		return adviseReport{}, err
	}
	report := adviseReport{Target: tg, Objects: adviseRows(aggs)}
	cronJobs, err := idleCronJobs(ctx, c, conn, aggs)
	if err != nil {
		return adviseReport{}, err
	}
	for _, cj := range cronJobs {
		tmpl := cj.Spec.JobTemplate.Spec.Template
		r := advisor.Advise(advisor.Input{Kind: "CronJob", Meta: tmpl.ObjectMeta, Spec: tmpl.Spec,
			Decision: tg.Decision, MeshHoldApplication: meshHold})
		report.Objects = append(report.Objects, adviseRow{
			Kind: "CronJob", Namespace: cj.Namespace, Name: cj.Name,
			Layout: string(r.Proxy.Layout), ExpectedType: string(r.After), Findings: r.Findings,
		})
	}
	sort.Slice(report.Objects, func(i, j int) bool {
		a, b := report.Objects[i], report.Objects[j]
		return workloadKey{a.Kind, a.Namespace, a.Name}.less(workloadKey{b.Kind, b.Namespace, b.Name})
	})
	return report, nil
}

// adviseScan lists the pods with a proxy, whole (the advisor reads probes,
// security contexts and more), and merges their advice per workload.
func adviseScan(ctx context.Context, c client.Client, conn connFlags, d sidecarmode.Decision, meshHold bool) (map[workloadKey]*adviseAgg, error) {
	aggs := map[workloadKey]*adviseAgg{}
	own := newOwners(c)
	pods := restarter.ClientPods{Client: c, Namespace: conn.namespace}
	err := listPods(ctx, pods, func() { aggs = map[workloadKey]*adviseAgg{} }, func(pod *corev1.Pod) error {
		if skipNamespace(conn, pod.Namespace) || pod.DeletionTimestamp != nil {
			return nil
		}
		p := sidecarmode.Inspect(pod.ObjectMeta, pod.Spec)
		if (p.Layout == sidecarmode.LayoutNone && !p.Injected) || p.Layout == sidecarmode.LayoutGateway {
			return nil
		}
		key, err := own.workloadOf(ctx, pod)
		if err != nil {
			return err
		}
		r := advisor.Advise(advisor.Input{Kind: key.Kind, Meta: pod.ObjectMeta, Spec: pod.Spec,
			Decision: d, MeshHoldApplication: meshHold})
		a, ok := aggs[key]
		if !ok {
			a = &adviseAgg{layouts: map[string]bool{}, expects: map[string]bool{}, findings: map[advisor.Finding]bool{}}
			aggs[key] = a
		}
		a.pods++
		a.layouts[string(p.Layout)] = true
		a.expects[string(r.After)] = true
		for _, f := range r.Findings {
			a.findings[f] = true
		}
		return nil
	})
	return aggs, err
}

// adviseRows makes one row per workload of the scan, its findings merged.
func adviseRows(aggs map[workloadKey]*adviseAgg) []adviseRow {
	rows := []adviseRow{}
	for k, a := range aggs {
		findings := make([]advisor.Finding, 0, len(a.findings))
		for f := range a.findings {
			findings = append(findings, f)
		}
		sortFindings(findings)
		rows = append(rows, adviseRow{
			Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, Pods: a.pods,
			Layout: strings.Join(sortedKeys(a.layouts), ","), ExpectedType: strings.Join(sortedKeys(a.expects), ","),
			Findings: findings,
		})
	}
	return rows
}

// idleCronJobs returns the CronJobs that have no pod among the scanned ones
// and whose pods istiod would inject.
func idleCronJobs(ctx context.Context, c client.Client, conn connFlags, seen map[workloadKey]*adviseAgg) ([]batchv1.CronJob, error) {
	var out []batchv1.CronJob
	namespaces := map[string]map[string]string{}
	cont := ""
	for {
		var list batchv1.CronJobList
		if err := c.List(ctx, &list, workload.PageOptions(podPageSize, conn.namespace, cont)...); err != nil {
			return nil, fmt.Errorf("list CronJobs: %w", err)
		}
		for _, cj := range list.Items {
			if skipNamespace(conn, cj.Namespace) || seen[workloadKey{Kind: "CronJob", Namespace: cj.Namespace, Name: cj.Name}] != nil {
				continue
			}
			labels, ok := namespaces[cj.Namespace]
			if !ok {
				var ns corev1.Namespace
				if err := c.Get(ctx, client.ObjectKey{Name: cj.Namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("get namespace %s: %w", cj.Namespace, err)
				}
				labels = ns.Labels
				namespaces[cj.Namespace] = labels
			}
			if injects(labels, cj.Spec.JobTemplate.Spec.Template.ObjectMeta) {
				out = append(out, cj)
			}
		}
		if cont = list.Continue; cont == "" {
			return out, nil
		}
	}
}

// injects reports whether istiod's default injection webhooks inject a pod
// with this template into a namespace with these labels: the pod label
// sidecar.istio.io/inject=false and the namespace label
// istio-injection=disabled keep it out; istio-injection=enabled, an
// istio.io/rev label on the namespace, or sidecar.istio.io/inject=true on the
// pod bring it in.
func injects(nsLabels map[string]string, tmpl metav1.ObjectMeta) bool {
	switch {
	case tmpl.Labels[advisor.LabelInject] == "false", nsLabels["istio-injection"] == "disabled":
		return false
	case nsLabels["istio-injection"] == "enabled":
		return true
	case nsLabels["istio.io/rev"] != "":
		return true
	}
	return tmpl.Labels[advisor.LabelInject] == "true"
}

// sortFindings orders merged findings as advisor.Advise does.
func sortFindings(fs []advisor.Finding) {
	order := map[advisor.ID]int{}
	for i, id := range advisor.IDs {
		order[id] = i
	}
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.When != b.When {
			return a.When == advisor.WhenNow
		}
		if a.ID != b.ID {
			return order[a.ID] < order[b.ID]
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Value < b.Value
	})
}

// writeAdviseTable writes the target, then one line per finding; objects
// without findings are counted, not listed.
func writeAdviseTable(w io.Writer, r adviseReport) error {
	if err := writeTargetLine(w, r.Target); err != nil {
		return err
	}
	withFindings := 0
	for _, o := range r.Objects {
		if len(o.Findings) > 0 {
			withFindings++
		}
	}
	if withFindings == 0 {
		_, err := fmt.Fprintf(w, "No findings in %d objects.\n", len(r.Objects))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tLAYOUT\tEXPECTED\tFINDING\tWHEN\tEVIDENCE\tADVICE")
	for _, o := range r.Objects {
		for _, f := range o.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				o.Kind, cell(o.Namespace), o.Name, cell(o.Layout), cell(o.ExpectedType),
				f.ID, f.When, evidence(f), action(f.Advice))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d findings in %d of %d objects; -o json has the whole advice with its reasons.\n",
		countFindings(r.Objects), withFindings, len(r.Objects))
	return err
}

// action is the last sentence of an advice, what to do; the sentences
// before it say why.
func action(advice string) string {
	for i := len(advice) - 2; i > 0; i-- {
		if advice[i] == ' ' && advice[i-1] == '.' && advice[i+1] >= 'A' && advice[i+1] <= 'Z' {
			return advice[i+1:]
		}
	}
	return advice
}

// evidence is "container: field=value" for the table, the value shortened.
func evidence(f advisor.Finding) string {
	field := f.Field
	if strings.HasPrefix(field, "metadata.annotations[") {
		field = strings.TrimSuffix(strings.TrimPrefix(field, "metadata.annotations["), "]")
	}
	s := field + "=" + excerpt(f.Value, "quitquitquit", 56)
	if f.Container != "" {
		s = f.Container + ": " + s
	}
	return s
}

// excerpt shortens s to about n runes for a table cell, keeping mark in
// view: a long script is shown up to its call of /quitquitquit.
func excerpt(s, mark string, n int) string {
	r := []rune(strings.ReplaceAll(s, "\n", " "))
	if len(r) <= n {
		return string(r)
	}
	end := n
	if i := strings.Index(string(r), mark); i >= 0 {
		end = max(end, len([]rune(string(r)[:i]))+len([]rune(mark)))
	}
	start := end - n
	out := string(r[start:end])
	if start > 0 {
		out = "…" + out
	}
	if end < len(r) {
		out += "…"
	}
	return out
}

func countFindings(objs []adviseRow) int {
	n := 0
	for _, o := range objs {
		n += len(o.Findings)
	}
	return n
}
