package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

const inspectUsage = `Report the istio-proxy of every object with a pod spec in manifests, offline.

Reads Pods and the pod templates of Deployments, StatefulSets, DaemonSets,
ReplicaSets, ReplicationControllers, Jobs, CronJobs and PodTemplates from
multi-document YAML, JSON, or a List (e.g. the output of 'kubectl get -o yaml').
Other objects are skipped.

For each one it prints the proxy's layout (native, regular, gateway,
init-not-sidecar, none), image, version, the container type expected for it,
and whether it is stale (must be replaced to match the target) and why.

The target is either a module release, whose Istio version and default
container type come from the operator's release table:
  --module-version X.Y.Z [--compatibility-mode] [--min-kubelet-version vX.Y.Z]
or given directly:
  --istio-version X.Y.Z --default-type native|regular
Without either, the target is this build's module version (%s).

Usage:
  kubectl istio-proxies inspect -f FILE [target flags] [-o table|json]

Examples:
  kubectl get pods -A -o yaml | kubectl istio-proxies inspect -f -
  kubectl istio-proxies inspect -f app.yaml --module-version 1.22.0 --compatibility-mode -o json

Flags:
`

// inspectOptions are the flags of inspect.
type inspectOptions struct {
	input             inputFlags
	output            string
	moduleVersion     string
	compatibilityMode bool
	minKubeletVersion string
	istioVersion      string
	defaultType       string
}

func runInspect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o inspectOptions
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed below
	o.input.register(fs, "manifest file to read, - for stdin (required)")
	fs.StringVar(&o.output, "o", "table", "output format: table or json")
	fs.StringVar(&o.output, "output", "table", "same as -o")
	fs.StringVar(&o.moduleVersion, "module-version", "", "module release whose target to check against, e.g. 1.30.0")
	fs.BoolVar(&o.compatibilityMode, "compatibility-mode", false, "with --module-version: the Istio CR sets compatibilityMode: true")
	fs.StringVar(&o.minKubeletVersion, "min-kubelet-version", "", "with --module-version: the oldest kubelet of the cluster, e.g. v1.28.3 (below 1.29 native sidecars cannot run)")
	fs.StringVar(&o.istioVersion, "istio-version", "", "target Istio version, e.g. 1.30.2 (with --default-type)")
	fs.StringVar(&o.defaultType, "default-type", "", "with --istio-version: default container type, native or regular")

	if code, done := parseFlags(fs, args, fmt.Sprintf(inspectUsage, sidecarmode.ModuleVersion), stdout, stderr); done {
		return code
	}
	if fs.NArg() > 0 {
		return fail(stderr, fmt.Errorf("unexpected arguments %q; give the manifest with -f", fs.Args()))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	d, err := o.decision(set)
	if err != nil {
		return fail(stderr, err)
	}
	if err := checkOutput(o.output); err != nil {
		return fail(stderr, err)
	}
	if o.input.file == "" {
		return fail(stderr, errors.New("no input: give a manifest with -f FILE, or -f - for stdin"))
	}
	objs, err := o.input.readManifest(stdin)
	if err != nil {
		return fail(stderr, err)
	}

	rows := make([]row, 0, len(objs))
	for _, obj := range objs {
		rows = append(rows, inspectRow(obj, d))
	}
	if o.output == "json" {
		err = writeJSON(stdout, rows)
	} else {
		err = writeTable(stdout, rows)
	}
	if err != nil {
		return fail(stderr, fmt.Errorf("write output: %w", err))
	}
	return 0
}

// decision builds the target from the flags that were set.
func (o inspectOptions) decision(set map[string]bool) (sidecarmode.Decision, error) {
	byModule := set["module-version"] || set["compatibility-mode"] || set["min-kubelet-version"]
	byIstio := set["istio-version"] || set["default-type"]
	switch {
	case byModule && byIstio:
		return sidecarmode.Decision{}, errors.New("give the target either as --module-version [--compatibility-mode] or as --istio-version and --default-type, not both")
	case byIstio:
		return targetDecision(o.istioVersion, o.defaultType)
	default:
		v := o.moduleVersion
		if v == "" {
			v = sidecarmode.ModuleVersion
		}
		return sidecarmode.Decide(v, o.compatibilityMode, sidecarmode.ClusterFacts{MinKubeletVersion: o.minKubeletVersion})
	}
}

// targetDecision is the decision for an explicitly given Istio version and
// default container type.
func targetDecision(istioVersion, defaultType string) (sidecarmode.Decision, error) {
	if istioVersion == "" || defaultType == "" {
		return sidecarmode.Decision{}, errors.New("--istio-version and --default-type go together")
	}
	if !sidecarmode.IsReleaseVersion(istioVersion) {
		return sidecarmode.Decision{}, fmt.Errorf("--istio-version %q is not an Istio version (want X.Y.Z)", istioVersion)
	}
	t := sidecarmode.ContainerType(defaultType)
	if t != sidecarmode.Native && t != sidecarmode.Regular {
		return sidecarmode.Decision{}, fmt.Errorf("--default-type %q: use native or regular", defaultType)
	}
	enable := "false"
	if t == sidecarmode.Native {
		enable = "true"
	}
	return sidecarmode.Decision{
		IstioVersion:         istioVersion,
		DefaultType:          t,
		EnableNativeSidecars: enable,
		Reason:               fmt.Sprintf("Istio %s with %s by default, as given on the command line", istioVersion, t),
	}, nil
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "error: %v\n", err)
	return 1
}
