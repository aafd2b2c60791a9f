package install

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/pager"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/shortlist"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// userResourceKinds are the Istio kinds users create to configure the mesh.
// While any exist, uninstalling would delete them with their CRDs, so the
// uninstall is blocked.
var userResourceKinds = []schema.GroupVersionKind{
	{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"},
	{Group: "networking.istio.io", Version: "v1", Kind: "DestinationRule"},
	{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"},
	{Group: "networking.istio.io", Version: "v1", Kind: "ServiceEntry"},
	{Group: "networking.istio.io", Version: "v1", Kind: "Sidecar"},
	{Group: "networking.istio.io", Version: "v1", Kind: "WorkloadEntry"},
	{Group: "networking.istio.io", Version: "v1alpha3", Kind: "EnvoyFilter"},
	{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"},
	{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"},
	{Group: "security.istio.io", Version: "v1", Kind: "RequestAuthentication"},
	{Group: "telemetry.istio.io", Version: "v1", Kind: "Telemetry"},
}

// DanglingResourcesError blocks an uninstall while user-created Istio
// resources exist. The user deletes them (or keeps the CR).
type DanglingResourcesError struct {
	// Names are "Kind namespace/name" of the first few, then "and N more".
	Names []string
	Count int
}

func (e *DanglingResourcesError) Error() string {
	return fmt.Sprintf("uninstall is blocked by %d Istio resource(s) created by users: %s; delete them to uninstall Istio",
		e.Count, strings.Join(e.Names, ", "))
}

// UninstallResult says what an uninstall left behind.
type UninstallResult struct {
	// Done is true once every object the installer applied is gone.
	Done bool
	// ProxyPods counts the pods that still carry an istio-proxy and need a
	// restart to leave the mesh; ProxyPodNames names some of them.
	ProxyPods     int
	ProxyPodNames []string
}

// Uninstall removes everything the installer applied, unless user-created
// Istio resources remain (then a *DanglingResourcesError). The control-plane
// namespace goes too if the installer created it (see ensureNamespace). It
// deletes and returns; call it again until Done.
func (i *Installer) Uninstall(ctx context.Context) (UninstallResult, error) {
	var res UninstallResult
	if err := i.checkUserResources(ctx); err != nil {
		return res, err
	}
	i.Forget()
	remaining := 0
	// Webhooks first, so nothing calls an istiod that is going away; CRDs last.
	order := append([]schema.GroupVersionKind{}, prunableKinds[len(prunableKinds)-4:]...)
	order = append(order, prunableKinds[1:len(prunableKinds)-4]...)
	order = append(order, prunableKinds[0])
	for _, gvk := range order {
		items, err := i.listManaged(ctx, gvk)
		if err != nil {
			return res, err
		}
		for _, obj := range items {
			remaining++
			if obj.GetDeletionTimestamp() != nil {
				continue
			}
			if err := i.client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return res, fmt.Errorf("delete %s %s: %w", gvk.Kind, klog.KObj(obj), err)
			}
		}
	}
	if remaining == 0 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: i.opts.Namespace}}
		if err := i.client.Get(ctx, client.ObjectKeyFromObject(ns), ns); err == nil &&
			ns.Labels[ManagedByLabel] == ManagedByValue && ns.DeletionTimestamp == nil {
			if err := i.client.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
				return res, fmt.Errorf("delete namespace %s: %w", ns.Name, err)
			}
		} else if client.IgnoreNotFound(err) != nil {
			return res, err
		}
		res.Done = true
		ctrl.LoggerFrom(ctx).Info("Uninstalled Istio control plane")
	}
	count, names, err := i.podsWithProxies(ctx)
	if err != nil {
		return res, err
	}
	res.ProxyPods, res.ProxyPodNames = count, names
	return res, nil
}

// checkUserResources returns a *DanglingResourcesError if any user-created
// Istio resource exists.
func (i *Installer) checkUserResources(ctx context.Context) error {
	var found shortlist.List
	for _, gvk := range userResourceKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := i.client.List(ctx, list); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		for _, item := range list.Items {
			if item.GetLabels()[ManagedByLabel] == ManagedByValue {
				continue
			}
			found.Add(gvk.Kind + " " + item.GetNamespace() + "/" + item.GetName())
		}
	}
	if found.Count > 0 {
		return &DanglingResourcesError{Names: found.Names(), Count: found.Count}
	}
	return nil
}

// podsWithProxies pages through all pods and counts those with an
// istio-proxy, naming up to five.
func (i *Installer) podsWithProxies(ctx context.Context) (int, []string, error) {
	var found shortlist.List
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		var pods corev1.PodList
		err := i.client.List(ctx, &pods, &client.ListOptions{Limit: opts.Limit, Continue: opts.Continue})
		return &pods, err
	})
	err := p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		pod := obj.(*corev1.Pod)
		if pod.Namespace == i.opts.Namespace {
			return nil
		}
		switch sidecarmode.Inspect(pod.ObjectMeta, pod.Spec).Layout {
		case sidecarmode.LayoutNone, sidecarmode.LayoutGateway:
			return nil
		}
		found.Add(pod.Namespace + "/" + pod.Name)
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("list pods with proxies: %w", err)
	}
	return found.Count, found.Names(), nil
}
