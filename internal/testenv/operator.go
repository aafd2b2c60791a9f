package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// OperatorIdentity is the operator's deployed identity in a test cluster:
// its ServiceAccount with the RBAC of config/default applied.
type OperatorIdentity struct {
	Namespace      string
	ServiceAccount string
	// Config connects as that ServiceAccount (the admin impersonates it), so
	// whatever runs with it has exactly the deployed rights.
	Config *rest.Config
}

// UserName is the ServiceAccount's user name, e.g. for SubjectAccessReviews.
func (o *OperatorIdentity) UserName() string {
	return "system:serviceaccount:" + o.Namespace + ":" + o.ServiceAccount
}

// rbacKinds are what DeployOperatorRBAC applies of config/default: the
// identity, its RBAC and the admission policies that narrow it further; the
// Deployment and its Service need an image, the CRD is installed already.
var rbacKinds = map[string]bool{
	"Namespace": true, "ServiceAccount": true,
	"Role": true, "RoleBinding": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// BuildConfig renders a kustomization of this repository's config folder
// (e.g. "default") as `kustomize build` does.
func BuildConfig(dir string) ([]*unstructured.Unstructured, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).
		Run(filesys.MakeFsOnDisk(), filepath.Join(root, "config", dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build config/%s: %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, res := range resMap.Resources() {
		// Through JSON, so numbers are int64 as in objects read from an API
		// server (kustomize's maps hold ints, which unstructured cannot copy).
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("config/%s renders %s: %w", dir, res.CurId(), err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// DeployOperatorRBAC applies the namespaces, ServiceAccount and RBAC of
// config/default, as `make deploy` would, and returns the identity they
// give the operator. Calling it again re-applies them.
func (e *Env) DeployOperatorRBAC(ctx context.Context) (*OperatorIdentity, error) {
	objs, err := BuildConfig("default")
	if err != nil {
		return nil, err
	}
	// Namespaces first: the objects after them live there.
	sort.SliceStable(objs, func(a, b int) bool {
		return objs[a].GetKind() == "Namespace" && objs[b].GetKind() != "Namespace"
	})
	id := &OperatorIdentity{}
	for _, o := range objs {
		if !rbacKinds[o.GetKind()] {
			continue
		}
		if o.GetKind() == "ServiceAccount" {
			if id.ServiceAccount != "" {
				return nil, fmt.Errorf("config/default renders two ServiceAccounts, %s and %s/%s: which one is the operator's?",
					id.UserName(), o.GetNamespace(), o.GetName())
			}
			id.Namespace, id.ServiceAccount = o.GetNamespace(), o.GetName()
		}
		if err := e.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o),
			client.FieldOwner("testenv"), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("apply %s %s from config/default: %w", o.GetKind(), o.GetName(), err)
		}
	}
	if id.ServiceAccount == "" {
		return nil, fmt.Errorf("config/default renders no ServiceAccount for the operator")
	}
	id.Config = rest.CopyConfig(e.Config)
	id.Config.Impersonate = rest.ImpersonationConfig{UserName: id.UserName()}
	return id, nil
}
