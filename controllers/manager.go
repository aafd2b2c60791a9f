package controllers

import (
	"context"
	"flag"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/podlist"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// ManagerOptions are the operator's settings, from flags.
type ManagerOptions struct {
	MetricsAddr          string
	ProbeAddr            string
	LeaderElection       bool
	LeaderElectionNS     string
	ResyncPeriod         time.Duration
	ProgressRequeue      time.Duration
	MaxConcurrentRollout int
	PageSize             int64
	IstioNamespace       string
	IstioHub             string
	IstiodRemoteURL      string
	ModuleVersion        string
	WarningRequeue       time.Duration
	ErrorAfter           time.Duration
	ShutdownTimeout      time.Duration
	// Release and Charts are Go-level seams for tests and the local demo,
	// never flags: Release replaces the table row of ModuleVersion (a policy
	// of the test's own, with the charts' Istio), Charts the embedded charts
	// (a real earlier Istio release read from disk). The row's Istio must be
	// the charts' Istio either way.
	Release *sidecarmode.Release
	Charts  *install.Charts
	// InsecureMetrics serves metrics over plain HTTP to anyone who can reach
	// the port; the zero value serves HTTPS behind the API server's
	// authentication and authorization.
	InsecureMetrics bool
	// SkipNameValidation lets one process build several managers (tests);
	// controller-runtime otherwise refuses a second controller named "istio".
	SkipNameValidation bool
}

// BindFlags registers the options' flags with their defaults.
func (o *ManagerOptions) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", "Address of the Prometheus metrics endpoint; \"0\" turns it off.")
	fs.BoolVar(&o.InsecureMetrics, "metrics-insecure", false, "Serve metrics over plain HTTP without authentication; by default they are served over HTTPS to callers the API server authenticates and allows to GET /metrics.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "Elect a leader so only one replica acts (on in the deployed configuration).")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", "", "Namespace of the leader-election lease; empty means the operator's own namespace.")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", time.Hour, "How often a converged Istio CR is reconciled again, to catch workloads created or scaled with stale proxies.")
	fs.DurationVar(&o.WarningRequeue, "warning-requeue", time.Minute, "How often to look again while workloads need a manual restart or do not converge, so the state turns Ready soon after they are fixed.")
	fs.DurationVar(&o.ProgressRequeue, "progress-requeue", 10*time.Second, "How soon to look again while the control plane comes up or rollouts progress; also the longest wait before a failed reconcile is retried (at least 1s, at most 1m).")
	fs.DurationVar(&o.ErrorAfter, "error-after", DefaultErrorAfter, "How long reconciles may keep failing with transient API errors (state Processing, the error in the message) before the Istio CR's state turns Error.")
	fs.IntVar(&o.MaxConcurrentRollout, "max-concurrent-rollouts", 5, "Restart pacing: at most this many workloads roll out at the same time.")
	fs.Int64Var(&o.PageSize, "page-size", 500, "Pods per page when the restarter lists pods.")
	fs.StringVar(&o.IstioNamespace, "istio-namespace", install.DefaultNamespace, "Namespace of Istio's control plane.")
	fs.StringVar(&o.IstioHub, "istio-hub", install.DefaultHub, "Registry of Istio's images.")
	fs.StringVar(&o.IstiodRemoteURL, "istiod-remote-url", "", "Base URL of an istiod that runs outside the cluster (e.g. https://127.0.0.1:15017); the webhooks call it instead of the istiod Service.")
	fs.StringVar(&o.ModuleVersion, "module-version", sidecarmode.ModuleVersion, "Module release this operator acts as (a row of the version table); defaults to this build's version.")
	fs.DurationVar(&o.ShutdownTimeout, "graceful-shutdown-timeout", 30*time.Second, "How long running reconciles may take to finish on shutdown.")
}

// NewScheme knows the built-in kinds and the Istio CR.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha2.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// NewManager builds the manager with the IstioReconciler, health checks and
// metrics. The caller starts it.
func NewManager(cfg *rest.Config, o ManagerOptions) (manager.Manager, *IstioReconciler, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, nil, err
	}
	release, charts, err := o.releaseAndCharts()
	if err != nil {
		return nil, nil, err
	}
	shutdown := o.ShutdownTimeout
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(o),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "istio-module.operator.kyma-project.io",
		LeaderElectionNamespace: o.LeaderElectionNS,
		GracefulShutdownTimeout: &shutdown,
		Controller:              ctrlconfig.Controller{SkipNameValidation: &o.SkipNameValidation},
		Cache:                   cacheOptions(o.IstioNamespace),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create manager: %w", err)
	}
	// The installer and the restarter read uncached: pods and chart objects
	// are listed page by page instead of mirrored in memory.
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, nil, err
	}
	kubeVersion, err := ServerVersion(cfg)
	if err != nil {
		return nil, nil, err
	}
	installer := install.New(direct, install.Options{
		Namespace:       o.IstioNamespace,
		Hub:             o.IstioHub,
		KubeVersion:     kubeVersion,
		IstiodRemoteURL: o.IstiodRemoteURL,
		Charts:          charts,
	})
	pods, err := podlist.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	proxyRestarter := restarter.New(direct, mgr.GetEventRecorder("istio-module"), restarter.Options{
		Pods:                  pods,
		PageSize:              o.PageSize,
		MaxConcurrentRollouts: o.MaxConcurrentRollout,
		ControlPlaneNamespace: o.IstioNamespace,
	})
	r := &IstioReconciler{
		Client:          mgr.GetClient(),
		Installer:       installer,
		Restarter:       proxyRestarter,
		Release:         release,
		ResyncPeriod:    o.ResyncPeriod,
		ProgressRequeue: o.ProgressRequeue,
		WarningRequeue:  o.WarningRequeue,
		ErrorAfter:      o.ErrorAfter,
	}
	if err := r.SetupWithManager(mgr, o.IstioNamespace); err != nil {
		return nil, nil, fmt.Errorf("set up the Istio controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, nil, err
	}
	return mgr, r, nil
}

// cacheOptions keep the informer caches to what the reconciler reads.
func cacheOptions(istioNamespace string) cache.Options {
	return cache.Options{
		// Nothing reads managed fields from the cache; they are often the
		// larger part of an object.
		DefaultTransform: cache.TransformStripManagedFields(),
		// Only the control plane's Deployments are watched: caching every
		// Deployment of a big cluster would cost memory for nothing.
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}: {Namespaces: map[string]cache.Config{istioNamespace: {}}},
			&corev1.Node{}:       {Transform: keepKubeletVersion},
		},
	}
}

// keepKubeletVersion trims a Node for the cache to what the reconciler
// reads of it, its kubelet version: the whole Node (images, conditions,
// addresses) is kilobytes, and every Node of the cluster is cached.
func keepKubeletVersion(obj any) (any, error) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil // a tombstone of a deleted Node: nothing to trim
	}
	trimmed := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: node.Name, UID: node.UID, ResourceVersion: node.ResourceVersion, Generation: node.Generation,
	}}
	trimmed.Status.NodeInfo.KubeletVersion = node.Status.NodeInfo.KubeletVersion
	return trimmed, nil
}

// Validate reports options the manager cannot run with, before it connects
// to a cluster.
func (o ManagerOptions) Validate() error {
	_, _, err := o.releaseAndCharts()
	return err
}

// releaseAndCharts resolves the release row the manager acts as and the
// charts it installs from, and refuses a pair of different Istio releases:
// one Istio's charts rendered with another Istio's images is never a real
// install.
func (o ManagerOptions) releaseAndCharts() (sidecarmode.Release, *install.Charts, error) {
	charts := o.Charts
	if charts == nil {
		charts = install.EmbeddedCharts()
	}
	var release sidecarmode.Release
	if o.Release != nil {
		release = *o.Release
	} else {
		r, err := sidecarmode.LookupRelease(o.ModuleVersion)
		if err != nil {
			return release, nil, fmt.Errorf("--module-version: %w", err)
		}
		release = r
	}
	if release.Istio != charts.Istio {
		return release, nil, fmt.Errorf("--module-version %s installs Istio %s, but this binary holds the charts of Istio %s "+
			"(module %s): run the operator release of module %s instead, or leave --module-version at its default",
			release.Module, release.Istio, charts.Istio, sidecarmode.ModuleVersion, release.Module)
	}
	return release, charts, nil
}

// metricsOptions serve metrics over HTTPS (a self-signed certificate) and let
// through only requests whose bearer token the API server authenticates
// (TokenReview) and allows to GET /metrics (SubjectAccessReview).
func metricsOptions(o ManagerOptions) metricsserver.Options {
	if o.InsecureMetrics {
		return metricsserver.Options{BindAddress: o.MetricsAddr}
	}
	return metricsserver.Options{
		BindAddress:    o.MetricsAddr,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
	}
}

// RunManager runs the operator until ctx ends.
func RunManager(ctx context.Context, cfg *rest.Config, o ManagerOptions) error {
	mgr, _, err := NewManager(cfg, o)
	if err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Starting istio-module operator", "moduleVersion", o.ModuleVersion)
	return mgr.Start(ctx)
}

// ServerVersion is the API server's Kubernetes version, e.g. "v1.37.2",
// which the charts are rendered for.
func ServerVersion(cfg *rest.Config) (string, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("read the API server's version: %w", err)
	}
	return v.GitVersion, nil
}
