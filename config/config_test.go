// Package config_test checks the deployable configuration: what
// `kustomize build config/default` renders is accepted by a real API server,
// and the operator's role names every permission without wildcards.
package config_test

import (
	"context"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/internal/testenv"
)

func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	g := NewWithT(t)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	g.Expect(err).NotTo(HaveOccurred())
	var objs []*unstructured.Unstructured
	for _, res := range resMap.Resources() {
		m, err := res.Map()
		g.Expect(err).NotTo(HaveOccurred())
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

func TestManagerRoleHasNoWildcards(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile("rbac/role.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	var role rbacv1.ClusterRole
	g.Expect(yaml.Unmarshal(data, &role)).To(Succeed())
	g.Expect(role.Rules).NotTo(BeEmpty())
	for _, rule := range role.Rules {
		for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames, rule.NonResourceURLs} {
			g.Expect(list).NotTo(ContainElement(ContainSubstring("*")), "rule %+v", rule)
		}
	}
}

func TestDefaultRendersObjectsTheAPIServerAccepts(t *testing.T) {
	g := NewWithT(t)
	objs := build(t, "default")

	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" &&
			o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" {
			g.Expect(o.GetNamespace()).To(Equal("kyma-system"), "%s %s", o.GetKind(), o.GetName())
		}
	}
	g.Expect(kinds).To(HaveKeyWithValue("CustomResourceDefinition", 1))
	g.Expect(kinds).To(HaveKeyWithValue("Deployment", 1))
	g.Expect(kinds).To(HaveKeyWithValue("ClusterRole", 1))

	env, err := testenv.StartAPI()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	ctx := context.Background()
	// Namespaces and the CRD for real, so namespaced objects have a home;
	// everything else by server-side dry run, which runs validation and
	// admission without storing.
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace":
			g.Expect(env.Client.Create(ctx, o)).To(Succeed())
		case "CustomResourceDefinition":
			// Already installed by testenv from config/crd/bases: the rendered
			// one must be the same file, so an update dry-run must succeed.
			existing := &unstructured.Unstructured{}
			existing.SetGroupVersionKind(o.GroupVersionKind())
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(o), existing)).To(Succeed())
			o.SetResourceVersion(existing.GetResourceVersion())
			g.Expect(env.Client.Update(ctx, o, client.DryRunAll)).To(Succeed())
		}
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			continue
		}
		g.Expect(env.Client.Create(ctx, o, client.DryRunAll)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
	}
}
