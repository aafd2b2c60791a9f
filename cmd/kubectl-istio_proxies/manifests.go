package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// podObject is an object of the input that carries a pod spec.
type podObject struct {
	Kind      string
	Namespace string
	Name      string
	Object    runtime.Object
}

// podKinds are the kinds whose pod spec is read, by API group and kind (the
// version does not matter: a pod template has the same shape in all of them).
var podKinds = map[schema.GroupKind]func() runtime.Object{
	{Group: "", Kind: "Pod"}:                   func() runtime.Object { return &corev1.Pod{} },
	{Group: "", Kind: "PodTemplate"}:           func() runtime.Object { return &corev1.PodTemplate{} },
	{Group: "", Kind: "ReplicationController"}: func() runtime.Object { return &corev1.ReplicationController{} },
	{Group: "apps", Kind: "Deployment"}:        func() runtime.Object { return &appsv1.Deployment{} },
	{Group: "apps", Kind: "StatefulSet"}:       func() runtime.Object { return &appsv1.StatefulSet{} },
	{Group: "apps", Kind: "DaemonSet"}:         func() runtime.Object { return &appsv1.DaemonSet{} },
	{Group: "apps", Kind: "ReplicaSet"}:        func() runtime.Object { return &appsv1.ReplicaSet{} },
	{Group: "batch", Kind: "Job"}:              func() runtime.Object { return &batchv1.Job{} },
	{Group: "batch", Kind: "CronJob"}:          func() runtime.Object { return &batchv1.CronJob{} },
}

// header is what every Kubernetes object and list has in common.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// readPodObjects reads YAML (one or more documents) or JSON (one or more
// values) Kubernetes objects, expanding lists (kind: List, PodList, ...), and
// returns those that carry a pod spec, in input order. Other objects are
// skipped; input that is not Kubernetes objects is an error.
func readPodObjects(r io.Reader) ([]podObject, error) {
	var out []podObject
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue // an empty document, e.g. between two "---"
		}
		objs, err := decodeObject(raw, "", "")
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		out = append(out, objs...)
	}
}

// decodeObject decodes one object, or the items of a list. Items of a typed
// list (PodList) may omit apiVersion and kind; they inherit them.
func decodeObject(raw json.RawMessage, apiVersion, kind string) ([]podObject, error) {
	if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errors.New("not a Kubernetes object: expected a mapping with apiVersion and kind")
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if h.APIVersion == "" {
		h.APIVersion = apiVersion
	}
	if h.Kind == "" {
		h.Kind = kind
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, errors.New("not a Kubernetes object: apiVersion and kind are required")
	}

	if strings.HasSuffix(h.Kind, "List") && h.Items != nil {
		var out []podObject
		itemKind := strings.TrimSuffix(h.Kind, "List")
		if h.Kind == "List" {
			itemKind = ""
		}
		for i, item := range h.Items {
			objs, err := decodeObject(item, h.APIVersion, itemKind)
			if err != nil {
				return nil, fmt.Errorf("%s item %d: %w", h.Kind, i, err)
			}
			out = append(out, objs...)
		}
		return out, nil
	}

	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", h.Kind, h.Metadata.Name, err)
	}
	newObj, ok := podKinds[schema.GroupKind{Group: gv.Group, Kind: h.Kind}]
	if !ok {
		return nil, nil // no pod spec: skipped
	}
	obj := newObj()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("%s %q: %w", h.Kind, h.Metadata.Name, err)
	}
	if _, _, ok := sidecarmode.PodTemplateOf(obj); !ok {
		return nil, nil // a ReplicationController without a template
	}
	name := h.Metadata.Name
	if name == "" {
		name = h.Metadata.GenerateName
	}
	return []podObject{{Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: name, Object: obj}}, nil
}
