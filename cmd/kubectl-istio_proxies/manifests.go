package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

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
// skipped; input that is not Kubernetes objects is an error that names the
// document, its first line, and its kind and name where they can be read.
func readPodObjects(r io.Reader) ([]podObject, error) {
	var out []podObject
	docs := newYAMLDocuments(bufio.NewReader(r))
	for {
		doc, err := docs.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		objs, err := doc.objects()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", doc.describe(), err)
		}
		out = append(out, objs...)
	}
}

// objects decodes a document: YAML, or JSON (one or more values; JSON is the
// one form that puts several objects in a document without "---").
func (d yamlDocument) objects() ([]podObject, error) {
	if trimmed := bytes.TrimSpace(d.text); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var out []podObject
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			objs, err := decodeObject(raw, "", "")
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	raw, err := yaml.YAMLToJSON(d.text)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil // an empty document, e.g. between two "---", or only comments
	}
	return decodeObject(raw, "", "")
}

// yamlDocument is one document of a YAML stream and where it starts.
type yamlDocument struct {
	index, line int
	text        []byte
}

var (
	kindLine = regexp.MustCompile(`(?m)^kind:[ \t]*["']?([A-Za-z][A-Za-z0-9]*)`)
	nameLine = regexp.MustCompile(`(?m)^[ \t]+name:[ \t]*["']?([A-Za-z0-9][A-Za-z0-9._-]*)`)
)

// describe is "document 2 (line 14, Deployment web)", with what of the kind
// and name a plain look at the text finds, so a broken document is found.
func (d yamlDocument) describe() string {
	where := fmt.Sprintf("document %d (line %d", d.index, d.line)
	if m := kindLine.FindSubmatch(d.text); m != nil {
		where += ", " + string(m[1])
		if n := nameLine.FindSubmatch(d.text); n != nil {
			where += " " + string(n[1])
		}
	}
	return where + ")"
}

// yamlDocuments splits a YAML stream at "---" lines, counting lines.
type yamlDocuments struct {
	r     *bufio.Reader
	line  int // lines read so far
	index int
	done  bool
}

func newYAMLDocuments(r *bufio.Reader) *yamlDocuments { return &yamlDocuments{r: r} }

func (y *yamlDocuments) next() (yamlDocument, error) {
	if y.done {
		return yamlDocument{}, io.EOF
	}
	y.index++
	doc := yamlDocument{index: y.index, line: y.line + 1}
	var buf bytes.Buffer
	for {
		line, err := y.r.ReadBytes('\n')
		if len(line) > 0 {
			y.line++
			if isSeparator(line) {
				if y.line == 1 || (buf.Len() == 0 && doc.line == y.line) {
					// A leading "---" opens the first document.
					doc.line = y.line + 1
					continue
				}
				doc.text = buf.Bytes()
				return doc, nil
			}
			buf.Write(line)
		}
		if errors.Is(err, io.EOF) {
			y.done = true
			doc.text = buf.Bytes()
			return doc, nil
		}
		if err != nil {
			return yamlDocument{}, err
		}
	}
}

// isSeparator: "---" alone on its line, or followed by a comment.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
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
