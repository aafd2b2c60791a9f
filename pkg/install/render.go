package install

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// ManagedByLabel marks every object the operator renders and applies, CRDs
// included, with the value ManagedByValue. The operator finds what it owns by
// this label (pruning, uninstall).
const (
	ManagedByLabel = "operator.kyma-project.io/managed-by"
	ManagedByValue = "istio-module"
)

// Render returns the objects Install applies for spec and d, labeled as
// Install labels them. The operator's RBAC is checked against them: every
// name in its role must be one of these.
func Render(spec v1alpha2.IstioSpec, d sidecarmode.Decision, opts Options) ([]*unstructured.Unstructured, error) {
	return renderAll(spec, d, opts)
}

// renderAll renders every chart release of the CR spec and the decision, in
// the order base, istiod, istio-cni, ingress gateway, egress gateway, each in
// its chart's stable object order, and labels every object with
// ManagedByLabel. The same input gives the same objects byte for byte.
func renderAll(spec v1alpha2.IstioSpec, d sidecarmode.Decision, opts Options) ([]*unstructured.Unstructured, error) {
	opts = opts.withDefaults()
	if opts.KubeVersion == "" {
		return nil, errors.New("options without Kubernetes version")
	}
	rels, err := releases(spec, d, opts)
	if err != nil {
		return nil, fmt.Errorf("compute chart values: %w", err)
	}
	var all []*unstructured.Unstructured
	for _, r := range rels {
		objs, err := renderChart(opts.Charts, r.chart, r.release, opts.Namespace, opts.KubeVersion, r.values)
		if err != nil {
			return nil, fmt.Errorf("render release %s: %w", r.release, err)
		}
		for _, o := range objs {
			items, err := flattenList(o)
			if err != nil {
				return nil, fmt.Errorf("render release %s: %w", r.release, err)
			}
			for _, item := range items {
				if err := setManagedBy(item); err != nil {
					return nil, fmt.Errorf("render release %s: %w", r.release, err)
				}
				all = append(all, item)
			}
		}
	}
	return all, nil
}

// flattenList returns the items of a List object (none for an empty one), or
// the object itself.
func flattenList(o *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	if !o.IsList() {
		if o.GetKind() == "List" {
			return nil, nil // a List without items
		}
		return []*unstructured.Unstructured{o}, nil
	}
	list, err := o.ToList()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", o.GetKind(), err)
	}
	out := make([]*unstructured.Unstructured, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// setManagedBy adds ManagedByLabel to the object's labels. Labels that are
// not all strings are an error, not silently replaced.
func setManagedBy(o *unstructured.Unstructured) error {
	labels, _, err := unstructured.NestedStringMap(o.Object, "metadata", "labels")
	if err != nil {
		return fmt.Errorf("labels of %s %s: %w", o.GetKind(), o.GetName(), err)
	}
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedByValue
	o.SetLabels(labels)
	return nil
}
