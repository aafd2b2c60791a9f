package v1alpha2_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	operatorv1alpha2 "github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
)

// kymaCRs reads testdata/kyma-v1alpha2-crs.yaml: CRs as a Kyma Istio module
// user writes them, numbers as int64 as the API server decodes them.
func kymaCRs() []*unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join("testdata", "kyma-v1alpha2-crs.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---\n") {
		jsonData, err := yaml.YAMLToJSON([]byte(doc))
		Expect(err).NotTo(HaveOccurred())
		obj := map[string]any{}
		Expect(utiljson.Unmarshal(jsonData, &obj)).To(Succeed())
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out
}

// leafPaths lists the paths of the fields below an object schema that hold
// values (not objects), as "a.b.c"; list items are entered as "a[]".
// Schemas of embedded Kubernetes types (affinity) count as one field.
func leafPaths(prefix string, s apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for name, f := range s.Properties {
		path := prefix + "." + name
		switch {
		case strings.HasSuffix(path, ".affinity"):
			out = append(out, path)
		case f.Type == "object" && len(f.Properties) > 0:
			out = append(out, leafPaths(path, f)...)
		case f.Type == "array" && f.Items != nil && f.Items.Schema != nil && len(f.Items.Schema.Properties) > 0:
			out = append(out, leafPaths(path+"[]", *f.Items.Schema)...)
		default:
			out = append(out, path)
		}
	}
	return out
}

// setPaths lists the paths set in a value, as leafPaths names them.
func setPaths(prefix string, v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if strings.HasSuffix(prefix, ".affinity") || strings.HasSuffix(prefix, ".add") {
			into[prefix] = true
			return
		}
		for k, val := range v {
			setPaths(prefix+"."+k, val, into)
		}
	case []any:
		into[prefix] = true
		for _, item := range v {
			if _, ok := item.(map[string]any); ok {
				setPaths(prefix+"[]", item, into)
			}
		}
	default:
		into[prefix] = true
	}
}

var _ = Describe("Istio CRs written for the Kyma Istio module", func() {
	It("are accepted under strict field validation and read back unchanged", func() {
		for _, cr := range kymaCRs() {
			Expect(cr.GetAPIVersion()).To(Equal("operator.kyma-project.io/v1alpha2"))
			Expect(k8s.Create(ctx, cr, client.FieldValidation(metav1.FieldValidationStrict))).To(Succeed(), "CR %s", cr.GetName())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, cr))).To(Succeed()) })

			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(operatorv1alpha2.GroupVersion.WithKind("Istio"))
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cr), got)).To(Succeed())
			if want, ok := cr.Object["spec"]; ok {
				Expect(got.Object["spec"]).To(Equal(want), "the API server changed or pruned the spec of %s", cr.GetName())
			} else {
				Expect(got.Object["spec"]).To(BeNil(), "CR %s", cr.GetName())
			}

			// The Go types know every field too.
			data, err := cr.MarshalJSON()
			Expect(err).NotTo(HaveOccurred())
			var typed operatorv1alpha2.Istio
			Expect(yaml.UnmarshalStrict(data, &typed)).To(Succeed(), "CR %s", cr.GetName())
		}
	})

	It("set every field of the schema between them", func() {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		data, err := os.ReadFile(filepath.Join(root, "config", "crd", "bases", "operator.kyma-project.io_istios.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var crd apiextensionsv1.CustomResourceDefinition
		Expect(yaml.Unmarshal(data, &crd)).To(Succeed())
		spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		fields := leafPaths("spec", spec)
		Expect(len(fields)).To(BeNumerically(">", 40))

		set := map[string]bool{}
		for _, cr := range kymaCRs() {
			setPaths("spec", cr.Object["spec"], set)
		}
		var missing []string
		for _, f := range fields {
			if !set[f] {
				missing = append(missing, f)
			}
		}
		sort.Strings(missing)
		Expect(missing).To(BeEmpty(), "fields no Kyma CR in testdata sets")
	})
})
