// Package config_test checks the deployable configuration: what
// `kustomize build config/default` renders is accepted by a real API server,
// the operator's role names every permission without wildcards, and
// (rbac_test.go) what the deployed ServiceAccount may and may not do.
package config_test

import (
	"context"
	"os"
	"testing"

	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
)

func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.BuildConfig(dir)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
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

// The rights that reach furthest are granted by name only: escalate and bind
// (a role's or binding's every permission), and delete of CRDs (all their
// resources go with them), namespaces and webhook configurations. Checked in
// every role config/default deploys, generated or hand-written.
func TestFarReachingVerbsNameTheirObjects(t *testing.T) {
	g := NewWithT(t)
	byName := map[string]bool{
		"customresourcedefinitions": true, "namespaces": true,
		"mutatingwebhookconfigurations": true, "validatingwebhookconfigurations": true,
		"validatingadmissionpolicies": true, "validatingadmissionpolicybindings": true,
		"clusterroles": true, "clusterrolebindings": true,
	}
	roles := 0
	for _, o := range build(t, "default") {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		roles++
		var role rbacv1.ClusterRole // a Role's rules have the same shape
		g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &role)).To(Succeed())
		for _, rule := range role.Rules {
			for _, verb := range rule.Verbs {
				if verb == "escalate" || verb == "bind" || verb == "impersonate" {
					g.Expect(rule.ResourceNames).NotTo(BeEmpty(), "%s %s: %s without resourceNames in %+v", o.GetKind(), o.GetName(), verb, rule)
				}
				if verb == "delete" || verb == "create" || verb == "patch" || verb == "update" {
					for _, r := range rule.Resources {
						if byName[r] {
							g.Expect(rule.ResourceNames).NotTo(BeEmpty(), "%s %s: %s %s without resourceNames", o.GetKind(), o.GetName(), verb, r)
						}
					}
				}
			}
		}
	}
	g.Expect(roles).To(Equal(5)) // the operator's, metrics-reader, leader election, network policies, Istio's namespace
}

// The operator lives in kyma-system; only its Role in Istio's namespace
// and that Role's binding live in istio-system.
func TestDefaultRendersObjectsTheAPIServerAccepts(t *testing.T) {
	g := NewWithT(t)
	objs := build(t, "default")

	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			g.Expect(o.GetNamespace()).To(BeEmpty())
		case "Role", "RoleBinding":
			g.Expect(o.GetNamespace()).To(BeElementOf("kyma-system", install.DefaultNamespace), "%s %s", o.GetKind(), o.GetName())
		default:
			g.Expect(o.GetNamespace()).To(Equal("kyma-system"), "%s %s", o.GetKind(), o.GetName())
		}
	}
	g.Expect(kinds).To(HaveKeyWithValue("CustomResourceDefinition", 1))
	g.Expect(kinds).To(HaveKeyWithValue("Deployment", 1))
	g.Expect(kinds).To(HaveKeyWithValue("ClusterRole", 2))               // the operator's, metrics-reader
	g.Expect(kinds).To(HaveKeyWithValue("Role", 3))                      // leader election, network policies in kyma-system, Istio's namespace
	g.Expect(kinds).To(HaveKeyWithValue("Namespace", 2))                 // kyma-system, istio-system
	g.Expect(kinds).To(HaveKeyWithValue("ValidatingAdmissionPolicy", 1)) // pod creates only as dry runs

	env, err := testenv.StartAPI()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	applyDryRun(t, env, append(objs, build(t, "network-policy")...))
}

// applyDryRun creates the namespaces of objs for real and everything else by
// server-side dry run, which runs validation and admission without storing.
func applyDryRun(t *testing.T, env *testenv.Env, objs []*unstructured.Unstructured) {
	g := NewWithT(t)
	ctx := context.Background()
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

// config/istio-namespace names the operator's ServiceAccount and Role by
// hand (kustomize's transformers would move them out of istio-system):
// the names must be those config/default renders.
func TestIstioNamespaceBindingNamesTheOperator(t *testing.T) {
	g := NewWithT(t)
	var sa, binding, role *unstructured.Unstructured
	for _, o := range build(t, "default") {
		switch {
		case o.GetKind() == "ServiceAccount":
			sa = o
		case o.GetKind() == "RoleBinding" && o.GetNamespace() == install.DefaultNamespace:
			binding = o
		case o.GetKind() == "Role" && o.GetNamespace() == install.DefaultNamespace:
			role = o
		}
	}
	g.Expect(sa).NotTo(BeNil())
	g.Expect(binding).NotTo(BeNil())
	g.Expect(role).NotTo(BeNil())
	var rb rbacv1.RoleBinding
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(binding.Object, &rb)).To(Succeed())
	g.Expect(rb.RoleRef).To(Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.GetName()}))
	g.Expect(rb.Subjects).To(ConsistOf(rbacv1.Subject{Kind: "ServiceAccount", Namespace: sa.GetNamespace(), Name: sa.GetName()}))
}

// The manager's flags in the Deployment match the Service and the
// NetworkPolicy: metrics on 8443.
func TestMetricsPortIsTheSameEverywhere(t *testing.T) {
	g := NewWithT(t)
	var args []string
	var ports []int64
	for _, o := range append(build(t, "default"), build(t, "network-policy")...) {
		switch o.GetKind() {
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			c := containers[0].(map[string]any)
			a, _, _ := unstructured.NestedStringSlice(c, "args")
			args = a
			cports, _, _ := unstructured.NestedSlice(c, "ports")
			for _, p := range cports {
				if p.(map[string]any)["name"] == "metrics" {
					ports = append(ports, p.(map[string]any)["containerPort"].(int64))
				}
			}
		case "Service":
			sports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			ports = append(ports, sports[0].(map[string]any)["port"].(int64))
		case "NetworkPolicy":
			rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "ingress")
			nports := rules[0].(map[string]any)["ports"].([]any)
			ports = append(ports, nports[0].(map[string]any)["port"].(int64))
		}
	}
	g.Expect(args).To(ContainElement("--metrics-bind-address=:8443"))
	g.Expect(args).NotTo(ContainElement(HavePrefix("--metrics-insecure")))
	g.Expect(ports).To(Equal([]int64{8443, 8443, 8443}))
}
