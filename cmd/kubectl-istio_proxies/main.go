// Command kubectl-istio_proxies is a kubectl plugin that reports the
// istio-proxy of workloads: its container type (native sidecar or regular
// container), its version, and whether it matches what the istio-module
// operator expects. Installed on the PATH, it runs as `kubectl istio-proxies`.
//
// Subcommands:
//
//	inspect   read manifests offline and report each pod spec's proxy
//	status    show each workload's proxy in the cluster and what the operator would do
//	advise    find workarounds native sidecars make unnecessary, and Jobs that need them
//
// The decisions come from pkg/sidecarmode, the same code the operator uses.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand of the plugin.
type command struct {
	name    string
	summary string
	run     func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order help shows them.
var commands = []command{
	{name: "inspect", summary: "Report the istio-proxy of every pod spec in manifests, offline", run: runInspect},
	{name: "status", summary: "Show each workload's istio-proxy in the cluster and what the operator would do", run: runStatus},
	{name: "advise", summary: "Find workarounds native sidecars make unnecessary, and workloads that need them", run: runAdvise},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code: 0 on
// success, 1 on any error (reported on stderr).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 1
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "error: unknown command %q\n\n", args[0])
	usage(stderr)
	return 1
}

// parseFlags parses a subcommand's flags. When done, the caller returns
// code: help was asked for and printed (0), or the flags are wrong (1).
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0, true
	default:
		return fail(stderr, fmt.Errorf("%w (see 'kubectl istio-proxies %s -h')", err, fs.Name())), true
	}
}

// checkOutput accepts the output formats every subcommand prints.
func checkOutput(format string) error {
	if format != "table" && format != "json" {
		return fmt.Errorf("unknown output format %q: use table or json", format)
	}
	return nil
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("kubectl istio-proxies reports the istio-proxy of workloads: container type, version, and whether it is stale.\n\n")
	b.WriteString("Usage:\n  kubectl istio-proxies COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'kubectl istio-proxies COMMAND -h' for the flags of a command.\n")
	fmt.Fprint(w, b.String())
}
