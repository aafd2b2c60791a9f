package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"istio.io/istio/manifests"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The selected scan (modeScanSelected) lists only pods with meshMarkLabel.
// It misses no proxy only if every pod Istio gives a proxy also gets the
// label. These tests prove that for Istio's own templates, over the pods
// the real injector wrote (pkg/sidecarmode/testdata) and over the template
// sources of the charts this build installs and of the previous release.
// They cannot prove it for a template a user writes: the injector's Go code
// sets no such label itself (only the templates do), so a custom template
// may inject a proxy without it; docs/performance.md measures the safety net
// that leaves.

// TestInjectedPodsCarryTheMeshMark: every pod template that istioctl
// kube-inject 1.30.2 gave an istio-proxy carries meshMarkLabel, for each
// template the testdata asks for (sidecar, gateway, grpc-agent, both
// sidecar and grpc-agent) and each injector setting (native or regular,
// CNI, holdApplicationUntilProxyStarts, distroless), with one exception it
// proves: kube-inject writes a CronJob's labels onto its Jobs, not onto
// their pod template, so the pods of a manually injected CronJob run a
// proxy without the mark. (The webhook injects the pod itself and labels
// it.) A scan by label alone would miss them.
func TestInjectedPodsCarryTheMeshMark(t *testing.T) {
	g := NewWithT(t)
	files, err := filepath.Glob("../pkg/sidecarmode/testdata/injected/*.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(files).To(HaveLen(8))
	withProxy := map[string]int{} // by inject.istio.io/templates, "" for the default
	cronJobs := 0
	for _, file := range files {
		for _, obj := range decodeAll(g, file) {
			what := file + ": " + obj.GetKind() + " " + obj.GetName()
			tmpl := podTemplateOf(obj)
			g.Expect(tmpl).NotTo(BeNil(), "%s has no pod template", what)
			templates, _, _ := unstructured.NestedString(tmpl, "metadata", "annotations", "inject.istio.io/templates")
			if !hasContainer(tmpl, "istio-proxy") {
				// Istio's only template without a proxy: proxyless gRPC.
				g.Expect(templates).To(Equal("grpc-simple"), "%s has no istio-proxy", what)
				continue
			}
			labels, _, _ := unstructured.NestedStringMap(tmpl, "metadata", "labels")
			if obj.GetKind() == "CronJob" {
				jobLabels, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "jobTemplate", "metadata", "labels")
				g.Expect(jobLabels).To(HaveKey(meshMarkLabel), "%s: the Job template carries the mark", what)
				g.Expect(labels).NotTo(HaveKey(meshMarkLabel), "%s: the pods have a proxy and no mark", what)
				cronJobs++
				continue
			}
			g.Expect(labels).To(HaveKey(meshMarkLabel), "%s has an istio-proxy but no %s label", what, meshMarkLabel)
			withProxy[templates]++
		}
	}
	g.Expect(cronJobs).To(Equal(len(files)))
	g.Expect(withProxy).To(HaveKey(""))
	g.Expect(withProxy).To(HaveKey("gateway"))
	g.Expect(withProxy).To(HaveKey("grpc-agent"))
	g.Expect(withProxy).To(HaveKey("sidecar,grpc-agent"))
}

// TestInjectionTemplatesSetTheMeshMark: every template of the istiod chart
// that writes an istio-proxy container (the injection templates sidecar,
// gateway and grpc-agent, and the Deployments istiod renders for Gateway
// API gateways and waypoints; grpc-simple and agentgateway write none) sets meshMarkLabel on the pod, in the charts
// this build embeds and, when hack/test-cluster.sh has fetched them, in the
// previous release's.
func TestInjectionTemplatesSetTheMeshMark(t *testing.T) {
	g := NewWithT(t)
	const filesDir = "charts/istio-control/istio-discovery/files"
	sources := map[string]fs.FS{"embedded": manifests.FS}
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		if dir := filepath.Join(assets, "istio-1.29.2", "manifests"); dirExists(dir) {
			sources["1.29.2"] = os.DirFS(dir)
		}
	}
	for name, fsys := range sources {
		entries, err := fs.ReadDir(fsys, filesDir)
		g.Expect(err).NotTo(HaveOccurred())
		withProxy := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "profile-") {
				continue // values, not templates
			}
			src, err := fs.ReadFile(fsys, filesDir+"/"+e.Name())
			g.Expect(err).NotTo(HaveOccurred())
			if !proxyContainerLine.Match(src) {
				// Proxyless gRPC, and agentgateway's own data plane.
				g.Expect(e.Name()).To(BeElementOf("grpc-simple.yaml", "agentgateway.yaml"), "%s %s writes no istio-proxy", name, e.Name())
				continue
			}
			withProxy++
			g.Expect(podLabelKeys(string(src))).To(ContainElement(meshMarkLabel),
				"%s %s writes an istio-proxy but sets no %s label on the pod", name, e.Name(), meshMarkLabel)
		}
		// sidecar, gateway, grpc-agent, kube-gateway, waypoint
		g.Expect(withProxy).To(BeNumerically(">=", 5), "templates with a proxy in %s", name)
	}
}

// TestPodLabelKeys: the template reader finds the keys of the pod's labels
// in both forms the chart uses, and not those of other objects' labels.
func TestPodLabelKeys(t *testing.T) {
	g := NewWithT(t)
	injection := "metadata:\n  labels:\n    security.istio.io/tlsMode: {{ x }}\n    {{/* a: b */}}\n    service.istio.io/canonical-name: {{ y }}\nspec:\n  containers: []\n"
	g.Expect(podLabelKeys(injection)).To(ConsistOf("security.istio.io/tlsMode", "service.istio.io/canonical-name"))
	deployment := "kind: Service\nmetadata:\n  labels:\n    other: x\n---\nkind: Deployment\nspec:\n  template:\n    metadata:\n" +
		"      labels:\n        {{- toJsonMap\n          (strdict\n            \"service.istio.io/canonical-name\" .DeploymentName\n           ) | nindent 8 }}\n    spec: {}\n"
	g.Expect(podLabelKeys(deployment)).To(ConsistOf("service.istio.io/canonical-name"))
}

var (
	proxyContainerLine = regexp.MustCompile(`(?m)^\s*-\s+name:\s+istio-proxy\s*$`)
	// A label key as a YAML key, or as a quoted strdict argument.
	labelKey = regexp.MustCompile(`^\s*(?:"([^"]+)"\s|([A-Za-z0-9./_-]+):)`)
	comment  = regexp.MustCompile(`(?s)\{\{-?\s*/\*.*?\*/\s*-?\}\}`)
)

// podLabelKeys reads, from a template's source, the label keys it sets on
// the pod: the labels of its top-level metadata (an injection template is
// a patch of the pod) and of the pod template of a Deployment it renders
// (spec.template.metadata.labels). Template comments do not count.
func podLabelKeys(src string) []string {
	var keys []string
	for _, doc := range strings.Split(comment.ReplaceAllString(src, ""), "\n---") {
		lines := strings.Split(doc, "\n")
		podIndent := "  labels:" // an injection template: the pod's own metadata
		if regexp.MustCompile(`(?m)^kind:\s*(\S+)`).FindString(doc) != "" {
			if !strings.Contains(doc, "kind: Deployment") {
				continue // a Service, ServiceAccount or autoscaler: not a pod
			}
			podIndent = "      labels:" // spec.template.metadata.labels
		}
		for i, line := range lines {
			if strings.TrimRight(line, " ") != podIndent {
				continue
			}
			indent := len(podIndent) - len("labels:")
			for _, l := range lines[i+1:] {
				if strings.TrimSpace(l) != "" && len(l)-len(strings.TrimLeft(l, " ")) <= indent {
					break
				}
				if m := labelKey.FindStringSubmatch(l); m != nil {
					keys = append(keys, m[1]+m[2])
				}
			}
		}
	}
	return keys
}

func decodeAll(g Gomega, file string) []*unstructured.Unstructured {
	data, err := os.ReadFile(file)
	g.Expect(err).NotTo(HaveOccurred())
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objs
		}
		g.Expect(err).NotTo(HaveOccurred(), file)
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// podTemplateOf is a workload's pod template, or a Pod itself, as a map
// with metadata and spec.
func podTemplateOf(obj *unstructured.Unstructured) map[string]any {
	var path []string
	switch obj.GetKind() {
	case "Pod":
		return obj.Object
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template"}
	default:
		path = []string{"spec", "template"}
	}
	tmpl, _, _ := unstructured.NestedMap(obj.Object, path...)
	return tmpl
}

func hasContainer(tmpl map[string]any, name string) bool {
	for _, field := range []string{"containers", "initContainers"} {
		cs, _, _ := unstructured.NestedSlice(tmpl, "spec", field)
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok && m["name"] == name {
				return true
			}
		}
	}
	return false
}

func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}
