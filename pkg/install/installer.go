package install

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// FieldManager owns every field this installer applies (server-side apply).
const FieldManager = "istio-module"

// DefaultNamespace is where Istio's control plane goes unless told otherwise.
const DefaultNamespace = "istio-system"

// DefaultHub is the registry of Istio's images unless told otherwise.
const DefaultHub = "docker.io/istio"

// Installer installs, upgrades and uninstalls Istio from Istio's own charts.
// It is safe for concurrent use.
type Installer struct {
	client client.Client
	opts   Options
	now    func() time.Time

	mu          sync.Mutex
	lastApplied string    // inputKey of the last successful apply
	appliedAt   time.Time // when; a resync re-applies to repair drift
	progress    applyProgress
}

// New returns an Installer that talks to the cluster through c.
func New(c client.Client, opts Options) *Installer {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Hub == "" {
		opts.Hub = DefaultHub
	}
	if opts.KubeVersion == "" {
		opts.KubeVersion = "v1.37.0"
	}
	return &Installer{client: c, opts: opts, now: time.Now}
}

// Install applies the rendered control plane with server-side apply, then
// prunes what an earlier install applied but this one no longer renders.
// Each request is retried on transient errors; when an object still fails,
// Install returns the error and the next Install of the same input continues
// with that object, keeping what was applied.
// When the rendered objects are the same as the last successful apply, less
// than resync ago, it writes nothing and reports applied=false: an operator
// that reconciles often must not hammer the API server with no-op patches.
func (i *Installer) Install(ctx context.Context, spec v1alpha2.IstioSpec, d sidecarmode.Decision, resync time.Duration) (applied bool, err error) {
	log := ctrl.LoggerFrom(ctx)
	// Rendering takes a good part of a second; the same input renders the
	// same objects, so the input alone tells whether anything changed.
	var policyFacts *networkPolicyFacts
	if spec.NetworkPoliciesEnabled {
		facts, err := i.readNetworkPolicyFacts(ctx)
		if err != nil {
			return false, err
		}
		policyFacts = &facts
	}
	key, err := inputKey(spec, d, i.opts, policyFacts)
	if err != nil {
		return false, err
	}
	i.mu.Lock()
	unchanged := key == i.lastApplied && i.now().Sub(i.appliedAt) < resync
	i.mu.Unlock()
	if unchanged {
		return false, nil
	}
	objs, err := renderAll(spec, d, i.opts)
	if err != nil {
		return false, fmt.Errorf("render Istio %s charts: %w", d.IstioVersion, err)
	}
	if policyFacts != nil {
		policies, err := networkPolicies(*policyFacts, i.opts.Namespace)
		if err != nil {
			return false, err
		}
		// Pruned and uninstalled like the charts' objects when turned off.
		objs = append(objs, policies...)
	}

	if err := i.ensureNamespace(ctx); err != nil {
		return false, err
	}
	// CRDs first: the objects after them may be of their kinds.
	sort.SliceStable(objs, func(a, b int) bool { return isCRD(objs[a]) && !isCRD(objs[b]) })
	if err := i.applyAll(ctx, key, objs); err != nil {
		return false, err
	}
	pruned, err := i.prune(ctx, objs)
	if err != nil {
		return true, err
	}
	log.Info("Applied Istio control plane", "istioVersion", d.IstioVersion, "objects", len(objs), "pruned", pruned,
		"enableNativeSidecars", d.EnableNativeSidecars, "compatibilityVersion", d.CompatibilityVersion)

	i.mu.Lock()
	i.lastApplied, i.appliedAt = key, i.now()
	// A resync applies everything again.
	i.progress = applyProgress{}
	i.mu.Unlock()
	return true, nil
}

// Forget makes the next Install apply even if nothing changed, e.g. after the
// control plane was found not ready or was uninstalled.
func (i *Installer) Forget() {
	i.mu.Lock()
	i.lastApplied = ""
	i.progress = applyProgress{}
	i.mu.Unlock()
}

// ensureNamespace creates the control-plane namespace with ManagedByLabel
// unless it exists. A namespace that exists is left as it is: it was made by
// someone else (the operator's deployment creates it to hold the operator's
// Role there), and without the label Uninstall leaves it, and what else it
// holds, in place.
func (i *Installer) ensureNamespace(ctx context.Context) error {
	err := i.client.Get(ctx, client.ObjectKey{Name: i.opts.Namespace}, &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
	})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get namespace %s: %w", i.opts.Namespace, err)
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(i.opts.Namespace)
	ns.SetLabels(map[string]string{ManagedByLabel: ManagedByValue})
	if err := retryTransient(ctx, func() error {
		return i.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(ns),
			client.FieldOwner(FieldManager), client.ForceOwnership)
	}); err != nil {
		return fmt.Errorf("apply namespace %s: %w", i.opts.Namespace, err)
	}
	return nil
}

// prunableKinds are the kinds Istio's charts render, the namespace aside:
// objects of these kinds that carry the managed-by label but are no longer
// rendered are deleted. A unit test checks that every rendered kind is here.
var prunableKinds = []schema.GroupVersionKind{
	{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
	{Group: "", Version: "v1", Kind: "ServiceAccount"},
	{Group: "", Version: "v1", Kind: "ConfigMap"},
	{Group: "", Version: "v1", Kind: "Service"},
	{Group: "", Version: "v1", Kind: "ResourceQuota"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"},
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "MutatingWebhookConfiguration"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingWebhookConfiguration"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicy"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"},
}

// prune deletes managed objects that are not in keep. CRDs are never pruned
// while the control plane is installed: deleting one deletes every user
// resource of its kind.
func (i *Installer) prune(ctx context.Context, keep []*unstructured.Unstructured) (int, error) {
	wanted := make(map[string]bool, len(keep))
	for _, obj := range keep {
		wanted[objectKey(obj)] = true
	}
	pruned := 0
	for _, gvk := range prunableKinds {
		if gvk.Kind == "CustomResourceDefinition" {
			continue
		}
		items, err := i.listManaged(ctx, gvk)
		if err != nil {
			return pruned, err
		}
		for _, obj := range items {
			if wanted[objectKey(obj)] {
				continue
			}
			if err := i.deleteObject(ctx, obj); err != nil {
				return pruned, fmt.Errorf("prune %s %s: %w", gvk.Kind, klog.KObj(obj), err)
			}
			ctrl.LoggerFrom(ctx).Info("Pruned object no longer rendered", "kind", gvk.Kind, "object", klog.KObj(obj))
			pruned++
		}
	}
	return pruned, nil
}

// clusterScopedKinds are the prunable kinds without a namespace.
var clusterScopedKinds = map[string]bool{
	"CustomResourceDefinition":         true,
	"ClusterRole":                      true,
	"ClusterRoleBinding":               true,
	"MutatingWebhookConfiguration":     true,
	"ValidatingWebhookConfiguration":   true,
	"ValidatingAdmissionPolicy":        true,
	"ValidatingAdmissionPolicyBinding": true,
}

// listManaged lists the objects of one kind that carry the managed-by label.
// A kind the API server does not serve has none. Namespaced kinds are
// listed in the namespaces the installer applies them to (managedNamespaces):
// the operator's rights to them end there.
func (i *Installer) listManaged(ctx context.Context, gvk schema.GroupVersionKind) ([]*unstructured.Unstructured, error) {
	namespaces := []string{""}
	if !clusterScopedKinds[gvk.Kind] {
		namespaces = i.managedNamespaces(gvk)
	}
	var out []*unstructured.Unstructured
	for _, ns := range namespaces {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.MatchingLabels{ManagedByLabel: ManagedByValue}}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := retryTransient(ctx, func() error { return i.client.List(ctx, list, opts...) }); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		for n := range list.Items {
			// A controller copies labels onto what it makes: the EndpointSlice
			// controller gives each Service's slices the Service's labels. Such
			// objects were never applied here, go with their owner, and are not
			// the installer's to delete (the controller would recreate them).
			if metav1.GetControllerOfNoCopy(&list.Items[n]) != nil {
				continue
			}
			obj := &list.Items[n]
			obj.SetGroupVersionKind(gvk)
			out = append(out, obj)
		}
	}
	return out, nil
}

// managedNamespaces are where the installer puts objects of a namespaced
// kind: the control-plane namespace, where the charts put everything, and
// for NetworkPolicies also kyma-system (one of Kyma's policies is there).
func (i *Installer) managedNamespaces(gvk schema.GroupVersionKind) []string {
	if gvk.Group == "networking.k8s.io" && gvk.Kind == "NetworkPolicy" && i.opts.Namespace != KymaSystemNamespace {
		return []string{i.opts.Namespace, KymaSystemNamespace}
	}
	return []string{i.opts.Namespace}
}

func objectKey(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	return gvk.Group + "/" + gvk.Kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

func isCRD(obj *unstructured.Unstructured) bool {
	return obj.GetKind() == "CustomResourceDefinition"
}

// inputKey identifies everything a render depends on.
func inputKey(spec v1alpha2.IstioSpec, d sidecarmode.Decision, opts Options, policyFacts *networkPolicyFacts) (string, error) {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, v := range []any{spec, d, opts, policyFacts} {
		if err := enc.Encode(v); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
