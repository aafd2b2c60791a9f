// Command manager runs the istio-module operator: it installs Istio from the
// Istio CR and keeps every workload's istio-proxy of the right container type
// and version.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/istio-module/operator/controllers"
)

func main() {
	var opts controllers.ManagerOptions
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	opts.BindFlags(fs)
	// --kubeconfig, which ctrl.GetConfig reads (else KUBECONFIG, else in-cluster).
	config.RegisterFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := opts.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: no connection to a cluster (kubeconfig or in-cluster config):", err)
		os.Exit(1)
	}
	if err := controllers.RunManager(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
