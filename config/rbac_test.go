package config_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// access asks the API server, by SubjectAccessReview, whether the
// operator's ServiceAccount may do something, with the groups a
// ServiceAccount's token carries.
type access struct {
	t   *testing.T
	env *testenv.Env
	id  *testenv.OperatorIdentity
}

func (a access) allowed(attrs authorizationv1.ResourceAttributes) bool {
	a.t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               a.id.UserName(),
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + a.id.Namespace, "system:authenticated"},
		ResourceAttributes: &attrs,
	}}
	NewWithT(a.t).Expect(a.env.Client.Create(context.Background(), sar)).To(Succeed())
	return sar.Status.Allowed
}

func describe(r authorizationv1.ResourceAttributes) string {
	where := r.Namespace
	if where == "" {
		where = "cluster"
	}
	name := r.Name
	if name == "" {
		name = "(any name)"
	}
	return fmt.Sprintf("%s %s.%s %s in %s", r.Verb, r.Resource, r.Group, name, where)
}

func startWithOperatorRBAC(t *testing.T) access {
	t.Helper()
	g := NewWithT(t)
	env, err := testenv.StartAPI()
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(env.Stop()).To(Succeed()) })
	id, err := env.DeployOperatorRBAC(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	return access{t: t, env: env, id: id}
}

// What a compromised or misled operator still cannot do with the deployed
// RBAC: make itself cluster-admin, read Secrets, delete what is not
// Istio's, or create workloads outside Istio's namespace.
func TestOperatorCannot(t *testing.T) {
	a := startWithOperatorRBAC(t)
	rbac := "rbac.authorization.k8s.io"
	for _, attrs := range []authorizationv1.ResourceAttributes{
		// Bind cluster-admin to itself, or grant its rules through a role.
		{Verb: "bind", Group: rbac, Resource: "clusterroles", Name: "cluster-admin"},
		{Verb: "bind", Group: rbac, Resource: "clusterroles", Name: "admin", Namespace: "default"},
		{Verb: "escalate", Group: rbac, Resource: "clusterroles", Name: "cluster-admin"},
		{Verb: "create", Group: rbac, Resource: "clusterrolebindings"},
		{Verb: "create", Group: rbac, Resource: "clusterrolebindings", Name: "operator-is-admin"},
		{Verb: "patch", Group: rbac, Resource: "clusterroles", Name: "cluster-admin"},
		{Verb: "patch", Group: rbac, Resource: "clusterroles", Name: "istio-module-manager-role"},
		{Verb: "create", Group: rbac, Resource: "rolebindings", Namespace: "kube-system"},
		{Verb: "bind", Group: rbac, Resource: "roles", Name: "istiod", Namespace: "default"},
		{Verb: "escalate", Group: rbac, Resource: "roles", Name: "anything", Namespace: install.DefaultNamespace},
		{Verb: "impersonate", Resource: "serviceaccounts", Name: "default", Namespace: "kube-system"},
		// Read Secrets, anywhere (it needs none; Istio's roles read them for istiod).
		{Verb: "get", Resource: "secrets", Name: "any", Namespace: "kube-system"},
		{Verb: "list", Resource: "secrets", Namespace: "default"},
		{Verb: "list", Resource: "secrets"},
		{Verb: "get", Resource: "secrets", Name: "istio-ca-secret", Namespace: install.DefaultNamespace},
		{Verb: "create", Resource: "serviceaccounts/token", Name: "default", Namespace: "kube-system"},
		// Delete what is not Istio's.
		{Verb: "delete", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "istios.operator.kyma-project.io"},
		{Verb: "delete", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"},
		{Verb: "delete", Resource: "namespaces", Name: "kube-system"},
		{Verb: "delete", Resource: "namespaces", Name: "kyma-system"},
		{Verb: "delete", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations", Name: "someone-elses"},
		{Verb: "delete", Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations", Name: "someone-elses"},
		{Verb: "delete", Group: "apps", Resource: "deployments", Name: "web", Namespace: "default"},
		{Verb: "delete", Resource: "pods", Name: "web", Namespace: "default"},
		// Create workloads, or anything, outside Istio's namespace.
		{Verb: "create", Group: "apps", Resource: "deployments", Namespace: "default"},
		{Verb: "create", Group: "apps", Resource: "deployments", Name: install.IstiodName, Namespace: "kube-system"},
		{Verb: "create", Group: "apps", Resource: "daemonsets", Namespace: "kube-system"},
		{Verb: "create", Resource: "configmaps", Namespace: "default"},
		{Verb: "create", Resource: "services", Namespace: "default"},
		{Verb: "get", Resource: "services", Name: "web", Namespace: "default"},
		{Verb: "create", Group: "networking.k8s.io", Resource: "networkpolicies", Namespace: "default"},
		{Verb: "create", Resource: "namespaces", Name: "other"},
		{Verb: "create", Group: "batch", Resource: "jobs", Namespace: install.DefaultNamespace},
		// Change the Istio CRD's schema or its own CR's spec beyond what it writes.
		{Verb: "patch", Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions", Name: "istios.operator.kyma-project.io"},
		{Verb: "delete", Group: "operator.kyma-project.io", Resource: "istios", Name: "default", Namespace: "kyma-system"},
	} {
		if a.allowed(attrs) {
			t.Errorf("the operator may %s; it must not", describe(attrs))
		}
	}
}

// Everything the installer applies, in every variant this build can render,
// the operator may create, patch and delete by name, and it may create and
// bind Istio's roles; and it may do what the restarter and the reconciler
// do. The end-to-end suite (controllers/) runs the manager under the same
// identity; this covers the variants it does not install.
func TestOperatorCanDoItsJob(t *testing.T) {
	a := startWithOperatorRBAC(t)
	checked := map[string]bool{}
	check := func(attrs authorizationv1.ResourceAttributes) {
		t.Helper()
		key := describe(attrs)
		if checked[key] {
			return
		}
		checked[key] = true
		if !a.allowed(attrs) {
			t.Errorf("the operator may not %s; it must", key)
		}
	}

	for _, obj := range everyRenderedObject(t) {
		gvk := obj.GroupVersionKind()
		resource := resourceOf(t, gvk.Kind)
		for _, verb := range []string{"create", "patch", "delete"} {
			check(authorizationv1.ResourceAttributes{Verb: verb, Group: gvk.Group, Resource: resource, Name: obj.GetName(), Namespace: obj.GetNamespace()})
		}
		// Pruning and uninstall list each kind by label.
		check(authorizationv1.ResourceAttributes{Verb: "list", Group: gvk.Group, Resource: resource, Namespace: obj.GetNamespace()})
		switch gvk.Kind {
		case "Role", "ClusterRole":
			check(authorizationv1.ResourceAttributes{Verb: "escalate", Group: gvk.Group, Resource: resource, Name: obj.GetName(), Namespace: obj.GetNamespace()})
		case "RoleBinding", "ClusterRoleBinding":
			ref, _, _ := unstructured.NestedStringMap(obj.Object, "roleRef")
			check(authorizationv1.ResourceAttributes{Verb: "bind", Group: gvk.Group, Resource: resourceOf(t, ref["kind"]), Name: ref["name"], Namespace: obj.GetNamespace()})
		}
	}
	// spec.networkPoliciesEnabled: Kyma's policies in istio-system and
	// kyma-system, and the API server's port from Service default/kubernetes.
	for _, ns := range []string{install.DefaultNamespace, install.KymaSystemNamespace} {
		for _, verb := range []string{"create", "patch", "delete"} {
			check(authorizationv1.ResourceAttributes{Verb: verb, Group: "networking.k8s.io", Resource: "networkpolicies", Name: "kyma-project.io--istio-pilot", Namespace: ns})
		}
		check(authorizationv1.ResourceAttributes{Verb: "list", Group: "networking.k8s.io", Resource: "networkpolicies", Namespace: ns})
	}
	check(authorizationv1.ResourceAttributes{Verb: "get", Resource: "services", Name: "kubernetes", Namespace: "default"})
	check(authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces", Name: install.DefaultNamespace})
	check(authorizationv1.ResourceAttributes{Verb: "delete", Resource: "namespaces", Name: install.DefaultNamespace})

	// The restarter, in any namespace.
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "pods"},
		{Verb: "create", Resource: "pods", Subresource: "eviction", Name: "web-0", Namespace: "shop"},
		{Verb: "get", Resource: "namespaces", Name: "shop"},
		{Verb: "list", Resource: "namespaces"},
		{Verb: "patch", Group: "apps", Resource: "deployments", Name: "web", Namespace: "shop"},
		{Verb: "patch", Group: "apps", Resource: "statefulsets", Name: "db", Namespace: "shop"},
		{Verb: "patch", Group: "apps", Resource: "daemonsets", Name: "agent", Namespace: "shop"},
		{Verb: "patch", Group: "apps", Resource: "replicasets", Name: "web-1", Namespace: "shop"},
		{Verb: "patch", Resource: "replicationcontrollers", Name: "old", Namespace: "shop"},
		{Verb: "get", Group: "batch", Resource: "jobs", Name: "report", Namespace: "shop"},
		{Verb: "get", Group: "batch", Resource: "cronjobs", Name: "nightly", Namespace: "shop"},
		{Verb: "create", Group: "events.k8s.io", Resource: "events", Namespace: "shop"},
		// The reconciler.
		{Verb: "watch", Group: "operator.kyma-project.io", Resource: "istios"},
		{Verb: "update", Group: "operator.kyma-project.io", Resource: "istios", Subresource: "status", Name: "default", Namespace: "kyma-system"},
		{Verb: "watch", Group: "apps", Resource: "deployments", Namespace: install.DefaultNamespace},
		{Verb: "watch", Resource: "nodes"},
		// Leader election, in its own namespace.
		{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "istio-module.operator.kyma-project.io", Namespace: a.id.Namespace},
		{Verb: "create", Resource: "events", Namespace: a.id.Namespace},
	} {
		check(attrs)
	}
}

// everyRenderedObject renders Istio's charts for every row of the version
// table, with compatibility mode on and off, for the minimal spec with the
// egress gateway and for the full sample (every optional part on, several
// replicas, which adds PodDisruptionBudgets), and with istiod in and
// outside the cluster.
func everyRenderedObject(t *testing.T) []*unstructured.Unstructured {
	g := NewWithT(t)
	data, err := os.ReadFile("samples/operator_v1alpha2_istio_full.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	var full v1alpha2.Istio
	g.Expect(yaml.UnmarshalStrict(data, &full)).To(Succeed())
	specs := []v1alpha2.IstioSpec{
		{Components: &v1alpha2.Components{EgressGateway: &v1alpha2.EgressGateway{Enabled: ptr.To(true)}}},
		full.Spec,
	}
	var all []*unstructured.Unstructured
	for _, rel := range sidecarmode.Releases {
		if rel.Istio != install.EmbeddedIstioVersion {
			continue // this binary renders no other Istio's charts
		}
		for _, compat := range []bool{false, true} {
			d := sidecarmode.DecideFor(rel, compat, sidecarmode.ClusterFacts{MinKubeletVersion: testenv.KubeletVersion})
			for _, url := range []string{"", "https://127.0.0.1:15017"} {
				for _, spec := range specs {
					objs, err := install.Render(spec, d, install.Options{KubeVersion: testenv.KubeletVersion, IstiodRemoteURL: url})
					g.Expect(err).NotTo(HaveOccurred(), "module %s, compatibilityMode %t", rel.Module, compat)
					all = append(all, objs...)
				}
			}
		}
	}
	g.Expect(all).NotTo(BeEmpty())
	return all
}

// resourceOf is the API resource of the kinds Istio's charts render.
func resourceOf(t *testing.T, kind string) string {
	t.Helper()
	resources := map[string]string{
		"CustomResourceDefinition":       "customresourcedefinitions",
		"MutatingWebhookConfiguration":   "mutatingwebhookconfigurations",
		"ValidatingWebhookConfiguration": "validatingwebhookconfigurations",
		"ClusterRole":                    "clusterroles",
		"ClusterRoleBinding":             "clusterrolebindings",
		"Role":                           "roles",
		"RoleBinding":                    "rolebindings",
		"ServiceAccount":                 "serviceaccounts",
		"ConfigMap":                      "configmaps",
		"Service":                        "services",
		"Deployment":                     "deployments",
		"DaemonSet":                      "daemonsets",
		"HorizontalPodAutoscaler":        "horizontalpodautoscalers",
		"PodDisruptionBudget":            "poddisruptionbudgets",
	}
	r, ok := resources[kind]
	if !ok {
		t.Fatalf("Istio's charts render a %s: add its resource here, and its rights to the operator's RBAC", kind)
	}
	return r
}

// The operator may create pods, which RBAC cannot limit to dry runs; the
// admission policy of config/admission refuses it every create that is not
// one, while the dry runs the restarter sends to ask the injector pass.
func TestOperatorCreatesPodsOnlyAsDryRuns(t *testing.T) {
	a := startWithOperatorRBAC(t)
	g := NewWithT(t)
	ctx := context.Background()
	c, err := client.New(a.id.Config, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	newPod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "probe-"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		}
	}
	// The policy takes a moment to be enforced after it is created.
	g.Eventually(func() error { return c.Create(ctx, newPod()) }).WithTimeout(time.Minute).
		Should(MatchError(ContainSubstring("creates pods only as server-side dry runs")))
	g.Expect(c.Create(ctx, newPod(), client.DryRunAll)).To(Succeed())
	// Others are not held to it.
	g.Expect(a.env.Client.Create(ctx, newPod())).To(Succeed())
}
