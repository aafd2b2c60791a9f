package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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

// EmbeddedIstioVersion is the Istio release whose charts this binary embeds:
// go.mod pins istio.io/istio at its tag (EmbeddedIstioModuleVersion). The
// charts never name their own version (every Chart.yaml says 1.0.0), so this
// constant does, and a test compares it with go.mod, the release table and
// the test cluster's istiod.
const (
	EmbeddedIstioVersion       = "1.30.2"
	EmbeddedIstioModuleVersion = "v0.0.0-20260624003133-f888ab4c8a0c"
)

// Charts are the Helm charts of one Istio release.
type Charts struct {
	// Istio is the release the charts belong to, e.g. "1.30.2". Rendering
	// them for a decision that targets another Istio is an error: the images
	// of one release with the charts of another are never a real install.
	Istio string
	fsys  fs.FS // the manifests folder of istio.io/istio: charts/...

	mu     sync.Mutex
	loaded map[chartID]*chartv2.Chart
}

var embedded = &Charts{Istio: EmbeddedIstioVersion, fsys: manifests.FS}

// EmbeddedCharts are the charts compiled into this binary, of Istio
// EmbeddedIstioVersion.
func EmbeddedCharts() *Charts { return embedded }

// ChartsFromDir reads the charts of Istio release istioVersion from dir, the
// manifests folder of that release's istio.io/istio module. Tests and the
// local demo use it to install a real earlier Istio.
func ChartsFromDir(dir, istioVersion string) *Charts {
	return &Charts{Istio: istioVersion, fsys: os.DirFS(dir)}
}

// load reads a chart once; charts are immutable, so every render shares the
// loaded copy.
func (c *Charts) load(id chartID) (*chartv2.Chart, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.loaded[id]; ok {
		return ch, nil
	}
	root, err := fs.Sub(c.fsys, string(id))
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
		return nil, fmt.Errorf("read chart %s of Istio %s: %w", id, c.Istio, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s of Istio %s: %w", id, c.Istio, err)
	}
	if c.loaded == nil {
		c.loaded = map[chartID]*chartv2.Chart{}
	}
	c.loaded[id] = ch
	return ch, nil
}

// renderChart renders one chart as a Helm release named release in namespace
// and returns its objects in a stable order (template file name, then order
// within the file), so the same input gives the same output byte for byte.
func renderChart(charts *Charts, id chartID, release, namespace, kubeVersion string, values map[string]any) ([]*unstructured.Unstructured, error) {
	c, err := charts.load(id)
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
