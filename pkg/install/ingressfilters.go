package install

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var envoyFilterList = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1alpha3", Kind: "EnvoyFilterList"}

// UserEnvoyFiltersTargetingIngress returns, sorted, the "namespace/name" of
// the EnvoyFilters in the control-plane namespace that users created to
// patch the ingress gateway: those whose workloadSelector picks the gateway's
// pods (istio=ingressgateway or app=istio-ingressgateway). A patch of the
// gateway that every workload's inbound traffic shares can break it on an
// Istio upgrade, so the operator warns about them. Filters of Kyma modules
// (label kyma-project.io/module) and of Kyma's RateLimit resources are not
// the user's. Without the EnvoyFilter CRD there are none.
func (i *Installer) UserEnvoyFiltersTargetingIngress(ctx context.Context) ([]string, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(envoyFilterList)
	if err := i.client.List(ctx, list, client.InNamespace(i.opts.Namespace)); err != nil {
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list EnvoyFilters in %s: %w", i.opts.Namespace, err)
	}
	var found []string
	for n := range list.Items {
		if targetsIngressGateway(&list.Items[n]) && createdByUser(&list.Items[n]) {
			found = append(found, list.Items[n].GetNamespace()+"/"+list.Items[n].GetName())
		}
	}
	sort.Strings(found)
	return found, nil
}

func targetsIngressGateway(filter *unstructured.Unstructured) bool {
	labels, _, _ := unstructured.NestedStringMap(filter.Object, "spec", "workloadSelector", "labels")
	return labels["istio"] == "ingressgateway" || labels["app"] == IngressGatewayName
}

func createdByUser(filter *unstructured.Unstructured) bool {
	if _, ok := filter.GetLabels()[moduleLabel]; ok {
		return false
	}
	if filter.GetLabels()[ManagedByLabel] == ManagedByValue {
		return false
	}
	for _, ref := range filter.GetOwnerReferences() {
		if ref.Kind == "RateLimit" {
			return false
		}
	}
	return true
}
