package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"istio.io/istio/manifests"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// chartID names one of Istio's charts embedded in the istio.io/istio module.
type chartID string

const (
	chartBase    chartID = "charts/base"
	chartIstiod  chartID = "charts/istio-control/istio-discovery"
	chartGateway chartID = "charts/gateway"
	chartCNI     chartID = "charts/istio-cni"
)

var (
	chartsMu sync.Mutex
	charts   = map[chartID]*chartv2.Chart{}
)

// loadChart reads a chart from the embedded FS once; charts are immutable, so
// every render shares the loaded copy.
func loadChart(id chartID) (*chartv2.Chart, error) {
	chartsMu.Lock()
	defer chartsMu.Unlock()
	if c, ok := charts[id]; ok {
		return c, nil
	}
	root, err := fs.Sub(manifests.FS, string(id))
	if err != nil {
		return nil, err
	}
	var files []*archive.BufferedFile
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		files = append(files, &archive.BufferedFile{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read chart %s: %w", id, err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", id, err)
	}
	charts[id] = c
	return c, nil
}

// renderChart renders one chart as a Helm release named release in namespace
// and returns its objects in a stable order (template file name, then order
// within the file), so the same input gives the same output byte for byte.
func renderChart(id chartID, release, namespace, kubeVersion string, values map[string]any) ([]*unstructured.Unstructured, error) {
	c, err := loadChart(id)
	if err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("parse Kubernetes version %q: %w", kubeVersion, err)
	}
	caps.KubeVersion = *kv
	renderValues, err := chartutil.ToRenderValues(c, values,
		common.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true, Revision: 1}, caps)
	if err != nil {
		return nil, fmt.Errorf("values of chart %s: %w", id, err)
	}
	out, err := engine.Render(c, renderValues)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", id, err)
	}
	names := make([]string, 0, len(out))
	for name := range out {
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		docs, err := decodeDocuments(out[name])
		if err != nil {
			return nil, fmt.Errorf("chart %s, template %s: %w", id, path.Base(name), err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

// decodeDocuments splits a multi-document YAML stream into objects, skipping
// empty documents (templates that render nothing).
func decodeDocuments(manifest string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifest), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetKind() == "" {
			return nil, fmt.Errorf("rendered object without kind: %v", m)
		}
		objs = append(objs, obj)
	}
}
