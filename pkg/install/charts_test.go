package install

import (
	"testing"
)

func TestRenderIstiodChart(t *testing.T) {
	objs, err := renderChart(chartIstiod, "istiod", "istio-system", "v1.37.2", map[string]any{
		"global": map[string]any{"hub": "docker.io/istio", "tag": "1.30.2", "istioNamespace": "istio-system"},
		"pilot":  map[string]any{"env": map[string]any{"ENABLE_NATIVE_SIDECARS": "true"}},
		"istiodRemote": map[string]any{"injectionURL": "https://127.0.0.1:1234/inject"},
		"base":   map[string]any{"validationURL": "https://127.0.0.1:1234/validate"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		t.Log(o.GetKind(), o.GetNamespace(), o.GetName())
	}
}
