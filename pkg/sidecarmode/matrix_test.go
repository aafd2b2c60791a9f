package sidecarmode

import (
	"fmt"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cross product of every release row x compatibilityMode x kubelet gate x
// the nativeSidecar annotation x the actual layout x the proxy image. The
// expected outcome of each case is computed by the obviously-correct rules in
// this file, from documentedPolicy, never by calling the code under test.

// annotationCase is one state of sidecar.istio.io/nativeSidecar.
type annotationCase struct {
	name    string
	present bool
	value   string
}

var annotationCases = []annotationCase{
	{name: "absent"},
	{name: `"false"`, present: true, value: "false"},
	{name: `"true"`, present: true, value: "true"},
	{name: `"False"`, present: true, value: "False"},
	{name: "empty", present: true, value: ""},
}

var layoutCases = []Layout{LayoutNative, LayoutRegular, LayoutInitNotSidecar, LayoutGateway, LayoutNone}

// imageCase is the proxy image of a case.
type imageCase string

const (
	imageTarget  imageCase = "target"  // the decision's Istio version
	imageOld     imageCase = "old"     // 1.24.6, distroless, with digest
	imageCustom  imageCase = "custom"  // set by sidecar.istio.io/proxyImage, old version
	imageUnknown imageCase = "unknown" // tag "latest"
)

var imageCases = []imageCase{imageTarget, imageOld, imageCustom, imageUnknown}

const (
	oldVersion  = "1.24.6"
	customImage = "registry.example.com:5000/team/proxyv2:1.24.6"
)

func TestStaleMatrix(t *testing.T) {
	count := 0
	// One release of each group of documentedPolicy: releases of a group differ
	// only in their name.
	for _, policy := range documentedPolicy {
		moduleVersion := strings.Fields(policy.modules)[0]
		for _, compat := range []bool{false, true} {
			for _, kubelet := range []string{"", "v1.28.3"} {
				d, err := Decide(moduleVersion, compat, ClusterFacts{MinKubeletVersion: kubelet})
				if err != nil {
					t.Fatalf("Decide(%s): %v", moduleVersion, err)
				}

				// Rule 1: the default type of the cluster.
				clusterDefault := policy.def
				if compat {
					clusterDefault = policy.compatDef
				}
				if kubelet == "v1.28.3" {
					clusterDefault = Regular
				}

				for _, ann := range annotationCases {
					// Rule 2: Istio's template, `ne (annotation | default setting) "false"`.
					expected := clusterDefault
					if ann.present && ann.value == "false" {
						expected = Regular
					} else if ann.present && ann.value != "" {
						expected = Native
					}

					for _, layout := range layoutCases {
						for _, img := range imageCases {
							name := fmt.Sprintf("%s/compat=%t/kubelet=%q/ann=%s/%s/%s", moduleVersion, compat, kubelet, ann.name, layout, img)
							meta, spec := matrixPod(layout, img, policy.istio, ann)

							// Rule 3: reasons.
							var want []StaleReason
							hasProxy := layout != LayoutNone && layout != LayoutGateway
							if hasProxy {
								switch {
								case layout == LayoutInitNotSidecar:
									want = append(want, StaleReason{ReasonWrongType, "init container without restartPolicy Always, expected " + string(expected)})
								case string(layout) != string(expected):
									want = append(want, StaleReason{ReasonWrongType, string(layout) + ", expected " + string(expected)})
								}
								if img == imageOld {
									want = append(want, StaleReason{ReasonWrongVersion, oldVersion + ", expected " + policy.istio})
								}
							}

							t.Run(name, func(t *testing.T) {
								g := NewWithT(t)
								g.Expect(ExpectedType(meta.Annotations, d)).To(Equal(expected))
								p := Inspect(meta, spec)
								g.Expect(p.Layout).To(Equal(layout))
								g.Expect(p.CustomImage).To(Equal(img == imageCustom && layout != LayoutNone))
								g.Expect(Stale(meta, spec, d)).To(Equal(want))
							})
							count++
						}
					}
				}
			}
		}
	}
	want := len(documentedPolicy) * 2 * 2 * len(annotationCases) * len(layoutCases) * len(imageCases)
	if count != want {
		t.Fatalf("ran %d cases, want %d", count, want)
	}
}

// matrixPod builds an injected-looking pod of the given layout and image.
func matrixPod(layout Layout, img imageCase, istio string, ann annotationCase) (metav1.ObjectMeta, corev1.PodSpec) {
	meta := metav1.ObjectMeta{Name: "p", Namespace: "ns", Annotations: map[string]string{}}
	if ann.present {
		meta.Annotations[AnnotationNativeSidecar] = ann.value
	}
	var image string
	switch img {
	case imageTarget:
		image = "docker.io/istio/proxyv2:" + istio
	case imageOld:
		image = "gcr.io/istio-release/proxyv2:" + oldVersion + "-distroless@sha256:" + sha
	case imageCustom:
		image = customImage
		meta.Annotations[AnnotationProxyImage] = customImage
	case imageUnknown:
		image = "docker.io/istio/proxyv2:latest"
	}
	always := corev1.ContainerRestartPolicyAlways
	app := corev1.Container{Name: "app", Image: "nginx:1.27"}
	initC := corev1.Container{Name: "istio-init", Image: image, Args: []string{"istio-iptables"}}
	proxy := corev1.Container{Name: ProxyContainerName, Image: image, Args: []string{"proxy", "sidecar"}}

	var spec corev1.PodSpec
	switch layout {
	case LayoutNative:
		proxy.RestartPolicy = &always
		spec.InitContainers = []corev1.Container{initC, proxy}
		spec.Containers = []corev1.Container{app}
	case LayoutRegular:
		spec.InitContainers = []corev1.Container{initC}
		spec.Containers = []corev1.Container{app, proxy}
	case LayoutInitNotSidecar:
		spec.InitContainers = []corev1.Container{initC, proxy}
		spec.Containers = []corev1.Container{app}
	case LayoutGateway:
		proxy.Args = []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"}
		spec.Containers = []corev1.Container{proxy}
	case LayoutNone:
		spec.Containers = []corev1.Container{app}
	}
	if layout != LayoutNone {
		meta.Annotations[AnnotationSidecarStatus] = `{"containers":["istio-proxy"]}`
	}
	return meta, spec
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestExpectedTypeAnnotationValues(t *testing.T) {
	native := Decision{DefaultType: Native}
	regular := Decision{DefaultType: Regular}
	tests := []struct {
		name        string
		annotations map[string]string
		d           Decision
		want        ContainerType
	}{
		{"nil annotations, native default", nil, native, Native},
		{"nil annotations, regular default", nil, regular, Regular},
		{"false", map[string]string{AnnotationNativeSidecar: "false"}, native, Regular},
		{"true on regular default", map[string]string{AnnotationNativeSidecar: "true"}, regular, Native},
		{"False is not false", map[string]string{AnnotationNativeSidecar: "False"}, regular, Native},
		{"FALSE is not false", map[string]string{AnnotationNativeSidecar: "FALSE"}, regular, Native},
		{"padded false is not false", map[string]string{AnnotationNativeSidecar: " false"}, regular, Native},
		{"0 is native", map[string]string{AnnotationNativeSidecar: "0"}, regular, Native},
		{"empty falls back, native", map[string]string{AnnotationNativeSidecar: ""}, native, Native},
		{"empty falls back, regular", map[string]string{AnnotationNativeSidecar: ""}, regular, Regular},
		{"other annotations ignored", map[string]string{"sidecar.istio.io/inject": "false"}, native, Native},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(ExpectedType(tt.annotations, tt.d)).To(Equal(tt.want))
		})
	}
}

func TestAnnotationTrueOnOldKubeletStillExpectsNative(t *testing.T) {
	g := NewWithT(t)
	d, err := Decide("1.30.0", false, ClusterFacts{MinKubeletVersion: "v1.28.3"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d.DefaultType).To(Equal(Regular))
	g.Expect(d.NativeUnsupported).To(BeTrue())
	g.Expect(ExpectedType(map[string]string{AnnotationNativeSidecar: "true"}, d)).To(Equal(Native))
	g.Expect(ExpectedType(nil, d)).To(Equal(Regular))
}
