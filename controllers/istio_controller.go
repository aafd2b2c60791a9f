package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/restarter"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Finalizer keeps an Istio CR until Istio is uninstalled.
const Finalizer = "operator.kyma-project.io/istio-manager"

// Installer installs the control plane a Decision asks for.
type Installer interface {
	Install(ctx context.Context, spec v1alpha2.IstioSpec, d sidecarmode.Decision, resync time.Duration) (bool, error)
	ControlPlaneReady(ctx context.Context, spec v1alpha2.IstioSpec, d sidecarmode.Decision) (bool, string, error)
	Uninstall(ctx context.Context) (install.UninstallResult, error)
	UserEnvoyFiltersTargetingIngress(ctx context.Context) ([]string, error)
	// InstalledVersion is the Istio version the cluster runs, "" when it
	// cannot tell; the upgrade guard compares the target with it.
	InstalledVersion(ctx context.Context) (string, error)
}

// ProxyRestarter rolls out the workloads whose proxies do not match a Decision.
type ProxyRestarter interface {
	Run(ctx context.Context, d sidecarmode.Decision) (restarter.Summary, error)
}

// IstioReconciler installs Istio from the oldest Istio CR in the cluster and
// keeps every workload's istio-proxy of the container type and version the
// Decision asks for. One Decision per reconcile feeds both the installer
// (what istiod injects) and the restarter (what proxies must be).
type IstioReconciler struct {
	Client    client.Client
	Installer Installer
	Restarter ProxyRestarter
	// Release is the row of the version table this reconciler acts as: the
	// module release, its Istio and the default container types.
	Release sidecarmode.Release
	// ResyncPeriod re-runs a converged reconcile, so workloads created or
	// scaled with stale proxies are caught; it also re-applies the charts.
	ResyncPeriod time.Duration
	// ProgressRequeue is how soon to look again while rollouts progress or
	// the control plane comes up.
	ProgressRequeue time.Duration
	// WarningRequeue is how soon to look again while workloads need a manual
	// restart or do not converge: once fixed, the state should say so.
	WarningRequeue time.Duration
	// ErrorAfter is how long reconciles may keep failing with transient
	// errors (state Processing, the error in the message) before the state
	// turns Error; default DefaultErrorAfter.
	ErrorAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	failures failures
}

// The reconciler reads through the manager's cache (list, watch) and writes
// the finalizer (update) and the status. istios/finalizers is what the
// OwnerReferencesPermissionEnforcement admission plugin asks of a client
// that sets finalizers.
// +kubebuilder:rbac:groups=operator.kyma-project.io,resources=istios,verbs=list;watch;update
// +kubebuilder:rbac:groups=operator.kyma-project.io,resources=istios/status,verbs=update
// +kubebuilder:rbac:groups=operator.kyma-project.io,resources=istios/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=list;watch

// Reconcile runs one pass: pick the CR in charge, then delete or converge
// it, gathering what happened in a passOutcome; then compute the status from
// the outcome (istio_status.go) and write it once, only if it changed.
func (r *IstioReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var istio v1alpha2.Istio
	if err := r.Client.Get(ctx, req.NamespacedName, &istio); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := istio.Status.DeepCopy()

	outcome := r.runPass(ctx, &istio)
	reconcileErr := outcome.err
	if reconcileErr != nil {
		ctrl.LoggerFrom(ctx).Error(reconcileErr, "Reconcile failed")
	}
	outcome.failingFor = r.failingFor(istio.UID, reconcileErr)
	if istio.DeletionTimestamp != nil && !controllerutil.ContainsFinalizer(&istio, Finalizer) {
		// Uninstalled and released: the object is going away.
		return ctrl.Result{}, reconcileErr
	}
	requeue := r.setStatus(&istio, outcome)
	var statusErr error
	if !equality.Semantic.DeepEqual(before, &istio.Status) {
		if statusErr = r.Client.Status().Update(ctx, &istio); statusErr != nil {
			statusErr = fmt.Errorf("update status of Istio %s: %w", klog.KObj(&istio), statusErr)
		}
	}
	if err := errors.Join(reconcileErr, statusErr); err != nil {
		var userErr *userError
		if errors.As(reconcileErr, &userErr) && statusErr == nil {
			// Retrying does not help; the status says what to fix, and a
			// change of the CR triggers the next reconcile.
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// runPass does the work and gathers what it found.
func (r *IstioReconciler) runPass(ctx context.Context, istio *v1alpha2.Istio) passOutcome {
	inCharge, err := r.oldestIstio(ctx)
	if err != nil {
		return passOutcome{}.failed(stepFindInCharge, err)
	}
	if inCharge != nil && inCharge.UID != istio.UID {
		o := passOutcome{olderInCharge: klog.KObj(inCharge).String()}
		if istio.DeletionTimestamp != nil && controllerutil.RemoveFinalizer(istio, Finalizer) {
			if err := r.Client.Update(ctx, istio); err != nil {
				return o.failed(stepFinalizer, fmt.Errorf("remove finalizer: %w", err))
			}
		}
		return o
	}

	if istio.DeletionTimestamp != nil {
		return r.delete(ctx, istio)
	}
	if controllerutil.AddFinalizer(istio, Finalizer) {
		if err := r.Client.Update(ctx, istio); err != nil {
			return passOutcome{}.failed(stepFinalizer, fmt.Errorf("add finalizer: %w", err))
		}
	}
	return r.converge(ctx, istio)
}

// converge: Decide -> guard -> install -> wait for the control plane ->
// restart stale proxies -> look for EnvoyFilters on the ingress gateway.
// The first step that fails or has to wait ends the pass.
func (r *IstioReconciler) converge(ctx context.Context, istio *v1alpha2.Istio) passOutcome {
	var o passOutcome
	if istio.Spec.AmbientRequested() {
		// Refused before anything is installed or changed; deleting the CR
		// still uninstalls, as the delete branch does not come here.
		return o.failed(stepValidate, &userError{err: errAmbientUnsupported})
	}
	decision, err := r.decide(ctx, istio)
	if err != nil {
		return o.failed(stepValidate, err)
	}
	o.decision = &decision
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("istioVersion", decision.IstioVersion, "defaultSidecarType", decision.DefaultType))

	installed, err := r.Installer.InstalledVersion(ctx)
	if err != nil {
		return o.failed(stepReadInstalled, err)
	}
	if installed == "" {
		// No istiod, or one of a custom build: what this CR recorded is
		// all there is to guard the update with.
		installed = istio.Status.IstioVersion
	}
	if err := install.CheckVersionUpdate(installed, decision.IstioVersion); err != nil {
		if errors.As(err, &o.refused) {
			return o
		}
		return o.failed(stepValidate, &userError{err})
	}

	if _, err := r.Installer.Install(ctx, istio.Spec, decision, r.ResyncPeriod); err != nil {
		return o.failed(stepInstall, err)
	}
	o.installed = true
	ready, waitingFor, err := r.Installer.ControlPlaneReady(ctx, istio.Spec, decision)
	if err != nil {
		return o.failed(stepControlPlane, err)
	}
	if !ready {
		o.controlPlaneNotReady, o.waitingFor = true, waitingFor
		return o
	}

	summary, err := r.Restarter.Run(ctx, decision)
	if err != nil {
		return o.failed(stepRestart, err)
	}
	o.restart = &summary
	filters, err := r.Installer.UserEnvoyFiltersTargetingIngress(ctx)
	if err != nil {
		return o.failed(stepIngressFilters, err)
	}
	o.ingressChecked, o.ingressFilters = true, filters
	return o
}

// delete uninstalls Istio, then releases the CR.
func (r *IstioReconciler) delete(ctx context.Context, istio *v1alpha2.Istio) passOutcome {
	o := passOutcome{deleting: true}
	if !controllerutil.ContainsFinalizer(istio, Finalizer) {
		o.uninstalled = true
		return o
	}
	res, err := r.Installer.Uninstall(ctx)
	var dangling *install.DanglingResourcesError
	switch {
	case errors.As(err, &dangling):
		o.dangling = err
		return o
	case err != nil:
		return o.failed(stepUninstall, err)
	case !res.Done:
		return o
	}
	if res.ProxyPods > 0 {
		ctrl.LoggerFrom(ctx).Info("Istio is uninstalled; workloads still carry istio-proxy and need a restart to leave the mesh",
			"pods", res.ProxyPods, "examples", res.ProxyPodNames)
	}
	o.uninstalled = true
	controllerutil.RemoveFinalizer(istio, Finalizer)
	if err := r.Client.Update(ctx, istio); err != nil {
		return o.failed(stepFinalizer, fmt.Errorf("remove finalizer: %w", err))
	}
	return o
}

// oldestIstio returns the Istio CR in charge (see v1alpha2.InCharge).
func (r *IstioReconciler) oldestIstio(ctx context.Context) (*v1alpha2.Istio, error) {
	var list v1alpha2.IstioList
	if err := r.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list Istio CRs: %w", err)
	}
	return v1alpha2.InCharge(list.Items), nil
}

// decide gathers the cluster facts and asks sidecarmode for the Decision.
func (r *IstioReconciler) decide(ctx context.Context, istio *v1alpha2.Istio) (sidecarmode.Decision, error) {
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return sidecarmode.Decision{}, fmt.Errorf("list nodes: %w", err)
	}
	versions := make([]string, 0, len(nodes.Items))
	for _, n := range nodes.Items {
		versions = append(versions, n.Status.NodeInfo.KubeletVersion)
	}
	facts := sidecarmode.ClusterFacts{MinKubeletVersion: sidecarmode.LowestKubeletVersion(versions)}
	d := sidecarmode.DecideFor(r.Release, istio.Spec.CompatibilityMode, facts)
	// What injected proxies record and the restarter expects: one source.
	d.Proxy = install.ProxySettingsFor(istio.Spec)
	return d, nil
}

// errAmbientUnsupported refuses spec.experimental.enableAmbient: true.
var errAmbientUnsupported = errors.New("ambient mode (spec.experimental.enableAmbient: true) is not supported: " +
	"this operator installs Istio's sidecar data plane only; remove the field or set it to false")

// userError marks an error only a change of the CR or the build can fix.
type userError struct{ err error }

func (e *userError) Error() string { return e.err.Error() }
func (e *userError) Unwrap() error { return e.err }

// SetupWithManager watches the Istio CRs (generation changes), the control
// plane's Deployments (readiness) and Nodes (the kubelet gate).
func (r *IstioReconciler) SetupWithManager(mgr ctrl.Manager, controlPlaneNamespace string) error {
	all := handler.EnqueueRequestsFromMapFunc(r.allIstios)
	controlPlane := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == controlPlaneNamespace })
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha2.Istio{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appsv1.Deployment{}, all, builder.WithPredicates(controlPlane, deploymentStatusChanged())).
		Watches(&corev1.Node{}, all, builder.WithPredicates(kubeletChanged())).
		Named("istio").
		WithOptions(controller.Options{RateLimiter: RateLimiter(r.ProgressRequeue)}).
		Complete(r)
}

// allIstios enqueues every Istio CR; the reconcile sorts out which is in charge.
func (r *IstioReconciler) allIstios(ctx context.Context, _ client.Object) []reconcile.Request {
	var list v1alpha2.IstioList
	if err := r.Client.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "List Istio CRs to enqueue")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: i.Namespace, Name: i.Name}})
	}
	return reqs
}

// deploymentStatusChanged passes Deployment events that can change readiness.
func deploymentStatusChanged() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*appsv1.Deployment), e.ObjectNew.(*appsv1.Deployment)
			return o.Generation != n.Generation || !equality.Semantic.DeepEqual(o.Status, n.Status)
		},
	}
}

// kubeletChanged passes Node events that can change the lowest kubelet version.
func kubeletChanged() predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.Node), e.ObjectNew.(*corev1.Node)
			return o.Status.NodeInfo.KubeletVersion != n.Status.NodeInfo.KubeletVersion
		},
	}
}
