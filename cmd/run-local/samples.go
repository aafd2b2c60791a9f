package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/api/v1alpha2"
)

// samplesDir is what `kubectl apply -k` would apply, relative to the
// repository root.
const samplesDir = "config/samples"

// applySamples creates the objects that config/samples/kustomization.yaml
// lists (and their namespaces), as `kubectl apply -k config/samples` would,
// and returns the Istio CR among them.
func applySamples(ctx context.Context, c client.Client, root string, p *printer) (*v1alpha2.Istio, error) {
	objs, err := readSamples(filepath.Join(root, samplesDir))
	if err != nil {
		return nil, err
	}
	var istio *v1alpha2.Istio
	for _, obj := range objs {
		if ns := obj.GetNamespace(); ns != "" {
			nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			if err := c.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("create namespace %s: %w", ns, err)
			}
		}
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("apply %s %s/%s from %s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), samplesDir, err)
		}
		p.Printf("Applied %s: %s %s/%s", samplesDir, obj.GetKind(), obj.GetNamespace(), obj.GetName())
		if obj.GroupVersionKind() == v1alpha2.GroupVersion.WithKind("Istio") && istio == nil {
			istio = &v1alpha2.Istio{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), istio); err != nil {
				return nil, err
			}
		}
	}
	if istio == nil {
		return nil, fmt.Errorf("%s has no Istio CR", samplesDir)
	}
	return istio, nil
}

// readSamples reads the files that dir's kustomization.yaml lists as
// resources. Only plain files are supported: the samples need no more.
func readSamples(dir string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("read %s/kustomization.yaml: %w", samplesDir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, fmt.Errorf("resource %q of %s/kustomization.yaml: %w", r, samplesDir, err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			err := dec.Decode(&obj.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("decode %s/%s: %w", samplesDir, r, err)
			}
			if len(obj.Object) > 0 {
				objs = append(objs, obj)
			}
		}
	}
	return objs, nil
}
