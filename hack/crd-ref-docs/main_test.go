/*
Copyright 2026 The istio-module Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

const (
	crdPath = "../../config/crd/bases/operator.kyma-project.io_istios.yaml"
	docPath = "../../docs/istio-custom-resource.md"
)

// TestDocIsUpToDate fails when the committed reference doc differs from what
// the generator makes of the committed CRD.
func TestDocIsUpToDate(t *testing.T) {
	g := NewWithT(t)
	crd, err := os.ReadFile(crdPath)
	g.Expect(err).NotTo(HaveOccurred())
	committed, err := os.ReadFile(docPath)
	g.Expect(err).NotTo(HaveOccurred())

	var out bytes.Buffer
	g.Expect(render(&out, crd)).To(Succeed())
	if !bytes.Equal(out.Bytes(), committed) {
		t.Fatalf("%s is out of date with %s: run make manifests", filepath.Base(docPath), filepath.Base(crdPath))
	}
}

// TestDocCoversEveryField checks that every field of the schema appears in
// the doc, either in its own table or through a table it shares with a field
// of the same type.
func TestDocCoversEveryField(t *testing.T) {
	g := NewWithT(t)
	data, err := os.ReadFile(crdPath)
	g.Expect(err).NotTo(HaveOccurred())
	var crd apiextensionsv1.CustomResourceDefinition
	g.Expect(yaml.Unmarshal(data, &crd)).To(Succeed())
	g.Expect(crd.Spec.Versions).To(HaveLen(1))
	root := crd.Spec.Versions[0].Schema.OpenAPIV3Schema

	var out bytes.Buffer
	g.Expect(render(&out, data)).To(Succeed())
	doc := out.String()

	var walk func(path string, s *apiextensionsv1.JSONSchemaProps)
	walk = func(path string, s *apiextensionsv1.JSONSchemaProps) {
		if _, ok := opaque[path]; ok {
			return
		}
		header := "### `" + path + "`\n"
		start := strings.Index(doc, header)
		g.Expect(start).To(BeNumerically(">=", 0), "no section for %s", path)
		section := doc[start+len(header):]
		if end := strings.Index(section, "\n### "); end >= 0 {
			section = section[:end]
		}
		if strings.Contains(section, "Same fields as") {
			// The fields are in the table of the first object of this type.
			return
		}
		for name, f := range s.Properties {
			g.Expect(section).To(Or(ContainSubstring("| `"+name+"`"), ContainSubstring("| [`"+name+"`]")), "field %s.%s not documented", path, name)
			g.Expect(strings.TrimSpace(f.Description)).NotTo(BeEmpty(), "field %s.%s has no description: document it in api/v1alpha2", path, name)
			if child, childPath := objectOf(&f, path+"."+name); child != nil {
				walk(childPath, child)
			}
		}
	}
	for _, top := range []string{"spec", "status"} {
		s := root.Properties[top]
		walk(top, &s)
	}
}

func TestRenderDetails(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{"defaults are read from the description", "| `trustDomain` | string | cluster.local |"},
		{"enums are listed", "one of `Local`, `Cluster`"},
		{"list maps show their key", "unique by `name`"},
		{"CEL rule messages are shown", "minReplicas must be less than or equal to maxReplicas"},
		{"pipes in patterns are escaped", `(ns\|us\|`},
		{"int-or-string fields are named so", "| integer or string |"},
		{"shared types are printed once", "Same fields as [`spec.components.egressGateway.k8s`](#speccomponentsegressgatewayk8s)"},
		{"printer columns are listed", "| Sidecar type | `.status.sidecarType` |"},
		{"embedded Kubernetes types link out", "`affinity` ([Affinity]("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			data, err := os.ReadFile(crdPath)
			g.Expect(err).NotTo(HaveOccurred())
			var out bytes.Buffer
			g.Expect(render(&out, data)).To(Succeed())
			g.Expect(out.String()).To(ContainSubstring(tc.want))
		})
	}
}

func TestRenderRejectsNonCRD(t *testing.T) {
	g := NewWithT(t)
	var out bytes.Buffer
	g.Expect(render(&out, []byte("kind: ConfigMap\ndata: {a: b}\n"))).NotTo(Succeed())
}

func TestAnchor(t *testing.T) {
	g := NewWithT(t)
	g.Expect(anchor("spec.config.authorizers[].headers")).To(Equal("specconfigauthorizersheaders"))
	g.Expect(anchor("spec.components.ingressGateway.k8s")).To(Equal("speccomponentsingressgatewayk8s"))
}
