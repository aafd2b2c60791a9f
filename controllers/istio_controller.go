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
	"github.com/istio-module/operator/internal/shortlist"
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

// Reconcile runs one pass: pick the CR in charge, then delete or converge it,
// and write the status once, with any error in it.
func (r *IstioReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var istio v1alpha2.Istio
	if err := r.Client.Get(ctx, req.NamespacedName, &istio); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	log := ctrl.LoggerFrom(ctx)
	before := istio.Status.DeepCopy()

	result, reconcileErr := r.reconcile(ctx, &istio)
	if reconcileErr != nil {
		log.Error(reconcileErr, "Reconcile failed")
	} else {
		r.failures.succeeded(istio.UID)
	}
	if istio.DeletionTimestamp != nil && !controllerutil.ContainsFinalizer(&istio, Finalizer) {
		// Uninstalled and released: the object is going away.
		return result, reconcileErr
	}
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
	return result, nil
}

// reconcile does the work and leaves the outcome in istio.Status.
func (r *IstioReconciler) reconcile(ctx context.Context, istio *v1alpha2.Istio) (ctrl.Result, error) {
	inCharge, err := r.oldestIstio(ctx)
	if err != nil {
		return r.failed(istio, v1alpha2.ReasonReconcileFailed, err)
	}
	if inCharge != nil && inCharge.UID != istio.UID {
		msg := fmt.Sprintf("Istio CR %s/%s is older and in charge of the installation; this CR is ignored", inCharge.Namespace, inCharge.Name)
		r.setState(istio, v1alpha2.StateWarning, v1alpha2.ReasonOlderCRExists, msg)
		if istio.DeletionTimestamp != nil && controllerutil.RemoveFinalizer(istio, Finalizer) {
			return ctrl.Result{}, r.Client.Update(ctx, istio)
		}
		// Nothing enqueues this CR when the one in charge goes away: look again.
		return ctrl.Result{RequeueAfter: r.WarningRequeue}, nil
	}

	if istio.DeletionTimestamp != nil {
		return r.delete(ctx, istio)
	}
	if controllerutil.AddFinalizer(istio, Finalizer) {
		if err := r.Client.Update(ctx, istio); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	return r.converge(ctx, istio)
}

// converge: Decide -> guard -> install -> wait for the control plane ->
// restart stale proxies -> status.
func (r *IstioReconciler) converge(ctx context.Context, istio *v1alpha2.Istio) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	if istio.Spec.AmbientRequested() {
		// Refused before anything is installed or changed; deleting the CR
		// still uninstalls, as the delete branch does not come here.
		return r.failed(istio, v1alpha2.ReasonValidationFailed, &userError{err: errAmbientUnsupported})
	}
	decision, err := r.decide(ctx, istio)
	if err != nil {
		return r.failed(istio, v1alpha2.ReasonValidationFailed, err)
	}
	log = log.WithValues("istioVersion", decision.IstioVersion, "defaultSidecarType", decision.DefaultType)
	ctx = ctrl.LoggerInto(ctx, log)
	if decision.NativeUnsupported {
		istio.SetCondition(v1alpha2.ReasonNativeSidecarsUnsupported, decision.Reason)
	} else {
		istio.SetCondition(v1alpha2.ReasonNativeSidecarsSupported, "")
	}

	if err := install.CheckVersionUpdate(istio.Status.IstioVersion, decision.IstioVersion); err != nil {
		var refused *install.VersionUpdateError
		if errors.As(err, &refused) {
			r.setState(istio, v1alpha2.StateWarning, v1alpha2.ReasonVersionUpdateNotAllowed, capitalize(err.Error()))
			return ctrl.Result{}, nil
		}
		return r.failed(istio, v1alpha2.ReasonValidationFailed, &userError{err})
	}

	if _, err := r.Installer.Install(ctx, istio.Spec, decision, r.ResyncPeriod); err != nil {
		istio.SetCondition(v1alpha2.ReasonInstallFailed, capitalize(err.Error()))
		return r.failed(istio, v1alpha2.ReasonInstallUninstallFailed, err)
	}
	istio.SetCondition(v1alpha2.ReasonInstallSucceeded, fmt.Sprintf("Istio %s is installed; istiod injects istio-proxy as a %s container by default", decision.IstioVersion, containerNoun(decision.DefaultType)))
	istio.Status.IstioVersion = decision.IstioVersion
	istio.Status.SidecarType = string(decision.DefaultType)

	ready, waitingFor, err := r.Installer.ControlPlaneReady(ctx, istio.Spec, decision)
	if err != nil {
		return r.failed(istio, v1alpha2.ReasonReconcileFailed, err)
	}
	if !ready {
		r.setState(istio, v1alpha2.StateProcessing, v1alpha2.ReasonControlPlaneNotReady, waitingFor)
		return ctrl.Result{RequeueAfter: r.ProgressRequeue}, nil
	}

	summary, err := r.Restarter.Run(ctx, decision)
	if err != nil {
		istio.SetCondition(v1alpha2.ReasonRestartFailed, capitalize(err.Error()))
		return r.failed(istio, v1alpha2.ReasonReconcileFailed, err)
	}
	result := r.restartOutcome(istio, decision, summary)

	filters, err := r.Installer.UserEnvoyFiltersTargetingIngress(ctx)
	if err != nil {
		istio.SetCondition(v1alpha2.ReasonIngressTargetingUserResourceDetectionFailed, capitalize(err.Error()))
		return r.failed(istio, v1alpha2.ReasonReconcileFailed, err)
	}
	if len(filters) == 0 {
		istio.SetCondition(v1alpha2.ReasonIngressTargetingUserResourceNotFound, "")
		return result, nil
	}
	msg := fmt.Sprintf("Misconfigured EnvoyFilters can break the Istio ingress gateway: user-created EnvoyFilter %s targets it", filters[0])
	if len(filters) > 1 {
		msg = fmt.Sprintf("Misconfigured EnvoyFilters can break the Istio ingress gateway: %d user-created EnvoyFilters target it: %s", len(filters), shortlist.Join(filters))
	}
	istio.SetCondition(v1alpha2.ReasonIngressTargetingUserResourceFound, msg)
	if istio.Status.State == v1alpha2.StateReady {
		// Rollouts in progress and workloads that need the user keep their
		// state; the filters are in the condition either way.
		r.setState(istio, v1alpha2.StateWarning, v1alpha2.ReasonReconcileSucceeded, msg)
		result.RequeueAfter = r.WarningRequeue
	}
	return result, nil
}

// restartOutcome turns the restarter's summary into state, conditions and
// the next requeue.
func (r *IstioReconciler) restartOutcome(istio *v1alpha2.Istio, d sidecarmode.Decision, s restarter.Summary) ctrl.Result {
	istio.Status.ProxyRestart = proxyRestartStatus(s, istio.Status.ProxyRestart)
	switch {
	case s.InProgress:
		msg := fmt.Sprintf("Rolling out workloads with a stale istio-proxy: %d started in this pass, %d in progress or waiting for a slot", s.Restarted.Count, s.Pending.Count)
		description := "Workloads with a stale istio-proxy are being rolled out"
		if s.ErrorCount > 0 {
			// The others went ahead; these are tried again on the next pass.
			msg += fmt.Sprintf("; %d workload(s) retried on the next pass, last error: %s", s.ErrorCount, s.LastError())
			description += "; last error: " + s.LastError()
		}
		istio.SetCondition(v1alpha2.ReasonRestartInProgress, msg)
		r.setState(istio, v1alpha2.StateProcessing, v1alpha2.ReasonReconcileRequeued, description)
		return ctrl.Result{RequeueAfter: r.ProgressRequeue}
	case s.NotConverging.Count > 0:
		msg := "Workloads still run a stale istio-proxy after their rollout and are not restarted again: " + joinCategory(s.NotConverging)
		istio.SetCondition(v1alpha2.ReasonNotConverging, msg)
		r.setState(istio, v1alpha2.StateWarning, v1alpha2.ReasonReconcileSucceeded, msg)
		return ctrl.Result{RequeueAfter: r.WarningRequeue}
	case s.ManualRestart.Count > 0:
		msg := "Workloads with a stale istio-proxy must be restarted by their owner: " + joinCategory(s.ManualRestart)
		istio.SetCondition(v1alpha2.ReasonManualRestartRequired, msg)
		r.setState(istio, v1alpha2.StateWarning, v1alpha2.ReasonReconcileSucceeded, msg)
		return ctrl.Result{RequeueAfter: r.WarningRequeue}
	default:
		istio.SetCondition(v1alpha2.ReasonRestartSucceeded, "")
		msg := fmt.Sprintf("Istio %s is installed and every workload runs a %s istio-proxy of that version unless annotated otherwise", d.IstioVersion, d.DefaultType)
		if s.OptedOut.Count > 0 {
			msg += fmt.Sprintf("; %d workload(s) opted out of restarts keep a stale istio-proxy: %s", s.OptedOut.Count, joinCategory(s.OptedOut))
		}
		if s.SameProxy.Count > 0 {
			msg += fmt.Sprintf("; %d workload(s) keep a stale istio-proxy that a restart would not change (the injector gives their new pods the same proxy): %s",
				s.SameProxy.Count, joinCategory(s.SameProxy))
		}
		r.setState(istio, v1alpha2.StateReady, v1alpha2.ReasonReconcileSucceeded, msg)
	}
	return ctrl.Result{RequeueAfter: r.ResyncPeriod}
}

// delete uninstalls Istio, then releases the CR.
func (r *IstioReconciler) delete(ctx context.Context, istio *v1alpha2.Istio) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(istio, Finalizer) {
		return ctrl.Result{}, nil
	}
	res, err := r.Installer.Uninstall(ctx)
	var dangling *install.DanglingResourcesError
	switch {
	case errors.As(err, &dangling):
		r.setState(istio, v1alpha2.StateWarning, v1alpha2.ReasonDanglingUserResources, capitalize(err.Error()))
		// Users delete their resources without touching the CR: look again.
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	case err != nil:
		istio.SetCondition(v1alpha2.ReasonUninstallFailed, capitalize(err.Error()))
		return r.failedAs(istio, v1alpha2.StateError, v1alpha2.ReasonInstallUninstallFailed, err)
	case !res.Done:
		r.setState(istio, v1alpha2.StateDeleting, v1alpha2.ReasonReconcileRequeued, "Istio is being uninstalled")
		return ctrl.Result{RequeueAfter: r.ProgressRequeue}, nil
	}
	if res.ProxyPods > 0 {
		ctrl.LoggerFrom(ctx).Info("Istio is uninstalled; workloads still carry istio-proxy and need a restart to leave the mesh",
			"pods", res.ProxyPods, "examples", res.ProxyPodNames)
	}
	controllerutil.RemoveFinalizer(istio, Finalizer)
	if err := r.Client.Update(ctx, istio); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	return ctrl.Result{}, nil
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

// setState sets the state, the Ready condition from reason, the description
// and observedGeneration: the CR's status now describes this generation.
func (r *IstioReconciler) setState(istio *v1alpha2.Istio, state v1alpha2.State, reason v1alpha2.ConditionReason, description string) {
	istio.Status.State = state
	istio.SetCondition(reason, description)
	if description == "" {
		if c := istio.Condition(v1alpha2.ConditionTypeReady); c != nil {
			description = c.Message
		}
	}
	istio.Status.Description = description
	istio.Status.ObservedGeneration = istio.Generation
}

func (r *IstioReconciler) failedAs(istio *v1alpha2.Istio, state v1alpha2.State, reason v1alpha2.ConditionReason, err error) (ctrl.Result, error) {
	r.setState(istio, state, reason, capitalize(err.Error()))
	return ctrl.Result{}, err
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
