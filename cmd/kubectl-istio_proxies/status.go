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

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/pkg/podlist"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

const statusUsage = `Show every workload with istio-proxy in the cluster: the proxy's layout and
version, whether its pods are stale (must be replaced to match the target),
and what the operator's restarter would do about it, and why.

The workloads come from a paged scan of the Running pods, grouped by owner
(a ReplicaSet's Deployment, a Job's CronJob, a bare Pod itself). The actions
are the restarter's dry-run plan, the same code the operator runs: it lists
only workloads that need something, so a workload it does not list has
action None. The control plane's namespace (%s) is skipped unless given
with -n.

The target is this build's module version (%s) unless given with the same
flags as inspect. As the operator does, compatibilityMode is read from the
cluster's Istio CR (the oldest) unless --compatibility-mode is given, and the
kubelet gate from the Nodes unless --min-kubelet-version is given.

The connection is kubectl's: --kubeconfig, else $KUBECONFIG, else
~/.kube/config; --context, else the current context.

For the workloads the operator would restart now, status asks the injector
what a new pod would get, as the operator does right before a restart: a
server-side dry-run create of a pod from the workload's template (nothing is
created; it needs create on pods). INJECTOR shows the answer; a workload
whose stale pods already have it is reported as SameProxy, since a restart
would change nothing. --ask-injector=false skips the dry runs.

Usage:
  kubectl istio-proxies status [-n NAMESPACE | -A] [target flags] [--ask-injector=false] [-o table|json]

Examples:
  kubectl istio-proxies status
  kubectl istio-proxies status -n shop -o json
  kubectl istio-proxies status --module-version 1.22.0 --compatibility-mode=false

Flags:
`

// actionNone is the action of a workload the restarter's plan does not list.
const actionNone = "None"

// actionUnknown is the action when the plan could not be made.
const actionUnknown = "Unknown"

// statusRow is one workload of the status report; its JSON form is the -o
// json output, whose keys are part of the command's interface.
type statusRow struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Pods counts its Running pods with a proxy.
	Pods int `json:"pods"`
	// Layouts and Versions are those seen among its pods.
	Layouts  []string `json:"layouts"`
	Versions []string `json:"versions"`
	// ExpectedType is the container type expected for its pods ("" for
	// gateways); several, joined by ",", only if its pods differ.
	ExpectedType string   `json:"expectedType"`
	Stale        bool     `json:"stale"`
	StalePods    int      `json:"stalePods"`
	Reasons      []string `json:"reasons"`
	// Injector is what the injector gives a new pod of the workload
	// ("native 1.30.2"), asked by a server-side dry run as the restarter
	// asks it right before a restart; only for workloads the restarter
	// would restart now, and only with --ask-injector. "error: ..." when
	// the dry run failed.
	Injector string `json:"injector,omitempty"`
	// Action is the restarter's (restarter.Action), or None or Unknown.
	Action string `json:"action"`
	Why    string `json:"why"`
}

// statusReport is the -o json output.
type statusReport struct {
	Target    target      `json:"target"`
	Workloads []statusRow `json:"workloads"`
}

func runStatus(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var (
		cf          commandFlags
		askInjector bool
	)
	fs := cf.newFlagSet("status")
	fs.BoolVar(&askInjector, "ask-injector", true, "for the workloads the operator would restart now, ask the injector by a "+
		"server-side dry-run pod create what a new pod would get, as the operator does before a restart "+
		"(needs create on pods; nothing is created)")
	if code, done := parseFlags(fs, args, fmt.Sprintf(statusUsage, controlPlaneNamespace, sidecarmode.ModuleVersion), stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		return fail(stderr, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if err := checkOutput(cf.output); err != nil {
		return fail(stderr, err)
	}
	if err := cf.conn.validate(); err != nil {
		return fail(stderr, err)
	}
	set := setFlags(fs)
	if _, err := cf.tf.decision(set); err != nil {
		return fail(stderr, err) // flag errors before any connection
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	c, pods, err := newClient(cf.conn)
	if err != nil {
		return fail(stderr, err)
	}
	tg, err := liveTarget(ctx, c, cf.tf, set, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	report, planErr, err := statusOf(ctx, c, pods, cf.conn, tg, askInjector)
	if err != nil {
		return fail(stderr, err)
	}
	if err := writeOutput(stdout, cf.output, report, writeStatusTable); err != nil {
		return fail(stderr, err)
	}
	if planErr != nil {
		return fail(stderr, fmt.Errorf("the restarter's plan is incomplete: %w", planErr))
	}
	return 0
}

// statusOf asks the restarter for its dry-run plan and joins it with what
// the plan's own scan of the pods shows of every workload (statusScan): the
// pods are listed once. planErr is set when the plan could not be made, or
// only in part (the report is still complete for what could be read).
//
// With askInjector, every workload the plan would restart now is asked
// about as the operator's restarter asks before a restart (a dry-run pod
// create): its row shows the answer, and the action and reason Run would
// give it (SameProxy when a restart would change nothing).
func statusOf(ctx context.Context, c client.Client, pods *podlist.Lister, conn connFlags, tg target, askInjector bool) (report statusReport, planErr, err error) {
	scan := &statusScan{pods: pods, conn: conn, d: tg.Decision, own: newOwners(c)}
	r := restarter.New(c, nil, restarter.Options{DryRun: true, Pods: scan})
	plan, planErr := r.Plan(ctx, tg.Decision)
	switch {
	case scan.err != nil:
		return statusReport{}, nil, scan.err
	case !scan.complete:
		// The listing of the pods failed: there is nothing to report.
		return statusReport{}, nil, planErr
	}
	var planned map[workloadKey]statusRow
	if plan != nil {
		planned = plannedRows(ctx, r, plan, conn.namespace, askInjector)
	}
	rows := joinRows(scan.aggs, plan != nil, planned)
	sort.Slice(rows, func(i, j int) bool {
		return workloadKey{rows[i].Kind, rows[i].Namespace, rows[i].Name}.less(workloadKey{rows[j].Kind, rows[j].Namespace, rows[j].Name})
	})
	return statusReport{Target: tg, Workloads: rows}, planErr, nil
}

// plannedRows are the rows of the plan's workloads in namespace ("" for
// all), as far as the plan tells them. With askInjector, those the
// restarter would restart now carry the injector's answer and the action
// and reason Run would give them.
func plannedRows(ctx context.Context, r *restarter.Restarter, plan *restarter.Plan, namespace string, askInjector bool) map[workloadKey]statusRow {
	rows := map[workloadKey]statusRow{}
	for _, wp := range plan.Workloads {
		k := keyOf(wp.Workload)
		if namespace != "" && k.Namespace != namespace {
			continue
		}
		row := statusRow{
			Kind: k.Kind, Namespace: k.Namespace, Name: k.Name,
			Pods: wp.StalePods, Layouts: layoutStrings(wp.Layouts), Versions: nonNil(wp.ProxyVersions),
			Stale: wp.StalePods > 0, StalePods: wp.StalePods, Reasons: nonNil(wp.Reasons),
			Action: string(wp.Action), Why: wp.Why,
		}
		if askInjector && restarter.WillAsk(wp, plan.Target) {
			answer, err := r.AskInjector(ctx, wp.Workload, plan.Target)
			if err != nil {
				row.Injector = "error: " + err.Error()
				row.Action = string(restarter.ActionPending)
				row.Why = fmt.Sprintf("not restarted now, because the injector could not be asked what a new pod would get: %v", err)
			} else {
				row.Injector = restarter.ProxyPhrase(answer)
				action, why := restarter.JudgeAnswer(wp, answer)
				row.Action, row.Why = string(action), why
			}
		}
		rows[k] = row
	}
	return rows
}

// joinRows makes one row per workload seen by the scan, with the plan's
// action where the plan lists it, and adds the plan's workloads the scan
// did not see. planMade is false when there is no plan.
func joinRows(aggs map[workloadKey]*statusAgg, planMade bool, planned map[workloadKey]statusRow) []statusRow {
	rows := make([]statusRow, 0, len(aggs)+len(planned))
	for k, a := range aggs {
		row := a.row(k)
		p, ok := planned[k]
		delete(planned, k)
		switch {
		case ok:
			row.Action, row.Why, row.Injector = p.Action, p.Why, p.Injector
		case !planMade:
			row.Action = actionUnknown
		case a.gateway && a.stale == 0 && len(a.expected) == 0:
			row.Action, row.Why = actionNone, "gateway: its proxy is the workload, not a sidecar; only a gateway whose "+
				"proxy the injector filled in is checked, for its version"
		case a.stale > 0:
			// The plan's own scan saw no stale pod: the pods changed in between.
			row.Action, row.Why = actionNone, "not in the restarter's plan (its pods changed during the scan?)"
		default:
			row.Action, row.Why = actionNone, "the proxy matches the target"
		}
		rows = append(rows, row)
	}
	// Workloads the plan lists without a Running pod with a proxy now, e.g.
	// a rollout the operator started whose new pods are not Running yet.
	for _, p := range planned {
		rows = append(rows, p)
	}
	return rows
}

func layoutStrings(ls []sidecarmode.Layout) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, string(l))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeStatusTable writes the target, then one line per workload. STALE is
// "no" or "<stale>/<pods>".
func writeStatusTable(w io.Writer, r statusReport) error {
	if err := writeTargetLine(w, r.Target); err != nil {
		return err
	}
	if len(r.Workloads) == 0 {
		_, err := fmt.Fprintln(w, "No workloads with istio-proxy found.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tPODS\tLAYOUT\tVERSION\tEXPECTED\tSTALE\tINJECTOR\tACTION\tWHY")
	for _, row := range r.Workloads {
		stale := "no"
		if row.Stale {
			stale = fmt.Sprintf("%d/%d", row.StalePods, row.Pods)
		}
		injector := row.Injector
		if strings.HasPrefix(injector, "error: ") {
			// The error is in WHY; the column stays short.
			injector = "error"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			row.Kind, row.Namespace, row.Name, row.Pods, cell(strings.Join(row.Layouts, ",")),
			cell(strings.Join(row.Versions, ",")), cell(row.ExpectedType), stale, cell(injector), row.Action, cell(row.Why))
	}
	return tw.Flush()
}
