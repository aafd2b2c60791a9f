package advisor

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Pod shapes as Istio's injector produces them (see DESIGN.md, facts): a
// native pod has istio-init, istio-proxy (restartPolicy Always), then the
// user's init containers; a regular pod has istio-init, the user's init
// containers, and istio-proxy beside the app.

const quitCall = "run-report && curl -sf -XPOST http://127.0.0.1:15020/quitquitquit"

func app(args ...string) corev1.Container {
	return corev1.Container{Name: "app", Image: "alpine", Command: []string{"/bin/sh", "-c"}, Args: args}
}

func initAs(name string, uid *int64) corev1.Container {
	c := corev1.Container{Name: name, Image: "migrate/migrate"}
	if uid != nil {
		c.SecurityContext = &corev1.SecurityContext{RunAsUser: uid}
	}
	return c
}

var (
	istioInit       = corev1.Container{Name: "istio-init", Image: "docker.io/istio/proxyv2:1.30.2", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}}
	istioValidation = corev1.Container{Name: "istio-validation", Image: "docker.io/istio/proxyv2:1.30.2", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1337)}}
	proxySecurity   = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1337)}
	holdHookCmd     = []string{"pilot-agent", "wait"}
)

// pod is a pod spec in one of the shapes above.
type pod struct {
	meta metav1.ObjectMeta
	spec corev1.PodSpec
}

func injectedMeta(annotations map[string]string) metav1.ObjectMeta {
	a := map[string]string{sidecarmode.AnnotationSidecarStatus: `{"initContainers":["istio-init","istio-proxy"]}`}
	for k, v := range annotations {
		a[k] = v
	}
	return metav1.ObjectMeta{Annotations: a}
}

func nativePod(annotations map[string]string, userInit []corev1.Container, containers ...corev1.Container) pod {
	proxy := corev1.Container{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.30.2",
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), SecurityContext: proxySecurity}
	return pod{meta: injectedMeta(annotations), spec: corev1.PodSpec{
		InitContainers: append([]corev1.Container{istioInit, proxy}, userInit...),
		Containers:     containers,
	}}
}

func regularPod(annotations map[string]string, hold bool, userInit []corev1.Container, containers ...corev1.Container) pod {
	proxy := corev1.Container{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.27.1", SecurityContext: proxySecurity}
	cs := append(containers, proxy)
	if hold {
		proxy.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: holdHookCmd}}}
		cs = append([]corev1.Container{proxy}, containers...)
	}
	return pod{meta: injectedMeta(annotations), spec: corev1.PodSpec{
		InitContainers: append([]corev1.Container{istioInit}, userInit...),
		Containers:     cs,
	}}
}

func template(annotations map[string]string, userInit []corev1.Container, containers ...corev1.Container) pod {
	return pod{meta: metav1.ObjectMeta{Annotations: annotations}, spec: corev1.PodSpec{InitContainers: userInit, Containers: containers}}
}

func decide(module string, compat bool, kubelet string) sidecarmode.Decision {
	d, err := sidecarmode.Decide(module, compat, sidecarmode.ClusterFacts{MinKubeletVersion: kubelet})
	if err != nil {
		panic(err)
	}
	return d
}

var (
	native   = decide("1.30.0", false, "")
	regular  = decide("1.21.0", false, "")
	gated    = decide("1.30.0", false, "v1.28.3")
	compat22 = decide("1.22.0", true, "")
)

// brief is a finding without its advice: "id/when/container/field=value".
func brief(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s/%s/%s/%s=%s", f.ID, f.When, f.Container, f.Field, f.Value))
	}
	return out
}

const (
	pinned      = "metadata.annotations[sidecar.istio.io/nativeSidecar]=false"
	uid1337     = "securityContext.runAsUser=1337"
	podUID1337  = "spec.securityContext.runAsUser=1337"
	holdAnnot   = "metadata.annotations[proxy.istio.io/config]=holdApplicationUntilProxyStarts: true"
	holdHookEv  = "lifecycle.postStart.exec.command=pilot-agent wait"
	holdMesh    = "meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true"
	regularNow  = "layout=regular"
	excludeIPs  = "metadata.annotations[traffic.sidecar.istio.io/excludeOutboundIPRanges]=10.0.0.0/8"
	excludePort = "metadata.annotations[traffic.sidecar.istio.io/excludeOutboundPorts]=5432"
)

var (
	withInit1337 = []corev1.Container{initAs("migrate", ptr.To[int64](1337))}
	withInit1000 = []corev1.Container{initAs("migrate", ptr.To[int64](1000))}
	withInit     = []corev1.Container{initAs("migrate", nil)}
	excludes     = map[string]string{
		AnnotationExcludeOutboundIPRanges: "10.0.0.0/8",
		AnnotationExcludeOutboundPorts:    "5432",
	}
	holdTrue  = map[string]string{AnnotationProxyConfig: "holdApplicationUntilProxyStarts: true\n"}
	pinnedAnn = map[string]string{sidecarmode.AnnotationNativeSidecar: "false"}
)

func TestAdvise(t *testing.T) {
	tests := []struct {
		name      string
		kind      string
		pod       pod
		d         sidecarmode.Decision
		meshHold  bool
		wantNow   sidecarmode.ContainerType
		wantAfter sidecarmode.ContainerType
		want      []string
	}{
		// quitquitquit
		{
			name: "quitquitquit: native Job pod", kind: "Job", d: native,
			pod:     nativePod(nil, nil, app(quitCall)),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"quitquitquit/now/app/args[0]=" + quitCall},
		},
		{
			name: "quitquitquit: regular Job pod, native target", kind: "Job", d: native,
			pod:     regularPod(nil, false, nil, app(quitCall)),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Native,
			want: []string{
				"job-regular-sidecar/now/istio-proxy/" + regularNow,
				"quitquitquit/after-switch/app/args[0]=" + quitCall,
			},
		},
		{
			name: "quitquitquit: regular Job pod, regular target: still needed", kind: "Job", d: regular,
			pod:     regularPod(nil, false, nil, app(quitCall)),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
			want: []string{"job-regular-sidecar/now/istio-proxy/" + regularNow},
		},
		{
			name: "quitquitquit: pilot-agent request in a Job template's command", kind: "Job", d: native,
			pod:       template(nil, nil, corev1.Container{Name: "report", Command: []string{"sh", "-c", "report; pilot-agent request POST quitquitquit"}}),
			wantAfter: sidecarmode.Native,
			want:      []string{"quitquitquit/after-switch/report/command[2]=report; pilot-agent request POST quitquitquit"},
		},
		{
			name: "quitquitquit: in an init container of a Deployment", kind: "Deployment", d: native,
			pod:     nativePod(nil, []corev1.Container{{Name: "fetch", Args: []string{"curl -XPOST localhost:15020/quitquitquit"}}}, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"quitquitquit/now/fetch/args[0]=curl -XPOST localhost:15020/quitquitquit"},
		},
		{
			name: "quitquitquit: native now, regular target", kind: "Job", d: compat22,
			pod:     nativePod(nil, nil, app(quitCall)),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Regular,
			want: []string{
				"quitquitquit/now/app/args[0]=" + quitCall,
				"job-regular-sidecar/after-switch//target=1.27.1/regular",
			},
		},
		{
			name: "quitquitquit: none", kind: "Job", d: native,
			pod:     nativePod(nil, nil, app("run-report")),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},

		// uid-1337
		{
			name: "uid-1337: init container", kind: "Deployment", d: native,
			pod:     nativePod(nil, withInit1337, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"uid-1337/now/migrate/" + uid1337},
		},
		{
			name: "uid-1337: inherited from the pod", kind: "Deployment", d: native,
			pod: func() pod {
				p := nativePod(nil, withInit, app())
				p.spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1337)}
				return p
			}(),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"uid-1337/now/migrate/" + podUID1337},
		},
		{
			name: "uid-1337: pod 1337 but the init container sets its own user", kind: "Deployment", d: native,
			pod: func() pod {
				p := nativePod(nil, withInit1000, app())
				p.spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1337)}
				return p
			}(),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},
		{
			name: "uid-1337: another user", kind: "Deployment", d: native,
			pod:     nativePod(nil, withInit1000, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},
		{
			name: "uid-1337: regular now, native target", kind: "StatefulSet", d: native,
			pod:     regularPod(nil, false, withInit1337, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Native,
			want: []string{"uid-1337/after-switch/migrate/" + uid1337},
		},
		{
			name: "uid-1337: regular now, regular target: still needed", kind: "StatefulSet", d: regular,
			pod:     regularPod(nil, false, withInit1337, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
		},
		{
			name: "uid-1337: istio-validation (CNI) runs as 1337 itself", kind: "Deployment", d: native,
			pod: func() pod {
				p := nativePod(nil, nil, app())
				p.spec.InitContainers[0] = istioValidation
				return p
			}(),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},

		// exclude-outbound
		{
			name: "exclude-outbound: both annotations with an init container", kind: "Deployment", d: native,
			pod:     nativePod(excludes, withInit, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"exclude-outbound/now//" + excludeIPs, "exclude-outbound/now//" + excludePort},
		},
		{
			name: "exclude-outbound: no init container of the user's", kind: "Deployment", d: native,
			pod:     nativePod(excludes, nil, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},
		{
			name: "exclude-outbound: template, native target", kind: "Deployment", d: native,
			pod:       template(map[string]string{AnnotationExcludeOutboundPorts: "5432"}, withInit, app()),
			wantAfter: sidecarmode.Native,
			want:      []string{"exclude-outbound/after-switch//" + excludePort},
		},
		{
			name: "exclude-outbound: regular, regular target: still needed", kind: "Deployment", d: regular,
			pod:     regularPod(excludes, false, withInit, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
		},
		{
			name: "exclude-outbound: empty value", kind: "Deployment", d: native,
			pod:     nativePod(map[string]string{AnnotationExcludeOutboundPorts: " "}, withInit, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},

		// hold-ignored
		{
			name: "hold-ignored: annotation on a native pod", kind: "Pod", d: native,
			pod:     nativePod(holdTrue, nil, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"hold-ignored/now//" + holdAnnot},
		},
		{
			name: "hold-ignored: JSON annotation on a template", kind: "Deployment", d: native,
			pod:       template(map[string]string{AnnotationProxyConfig: `{"holdApplicationUntilProxyStarts": true, "concurrency": 2}`}, nil, app()),
			wantAfter: sidecarmode.Native,
			want:      []string{"hold-ignored/after-switch//" + holdAnnot},
		},
		{
			name: "hold-ignored: hook of a regular pod (mesh-wide hold), native target", kind: "Deployment", d: native,
			pod:     regularPod(nil, true, nil, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Native,
			want: []string{"hold-ignored/after-switch/istio-proxy/" + holdHookEv},
		},
		{
			name: "hold-ignored: hook of a regular pod, regular target: it works", kind: "Deployment", d: regular,
			pod:     regularPod(nil, true, nil, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
		},
		{
			name: "hold-ignored: mesh-wide on a native pod", kind: "Deployment", d: native, meshHold: true,
			pod:     nativePod(nil, nil, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
			want: []string{"hold-ignored/now//" + holdMesh},
		},
		{
			name: "hold-ignored: the annotation turns the mesh-wide setting off", kind: "Deployment", d: native, meshHold: true,
			pod:     nativePod(map[string]string{AnnotationProxyConfig: "holdApplicationUntilProxyStarts: false"}, nil, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},
		{
			name: "hold-ignored: other proxy config", kind: "Deployment", d: native,
			pod:     nativePod(map[string]string{AnnotationProxyConfig: "concurrency: 2"}, nil, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},
		{
			name: "hold-ignored: proxy config that does not parse", kind: "Deployment", d: native,
			pod:     nativePod(map[string]string{AnnotationProxyConfig: "{holdApplicationUntilProxyStarts: [true"}, nil, app()),
			wantNow: sidecarmode.Native, wantAfter: sidecarmode.Native,
		},

		// job-regular-sidecar and opt-out-review
		{
			name: "job-regular-sidecar: pinned Job template", kind: "Job", d: native,
			pod:       template(pinnedAnn, nil, app()),
			wantAfter: sidecarmode.Regular,
			want: []string{
				"job-regular-sidecar/after-switch//" + pinned,
				"opt-out-review/after-switch//" + pinned,
			},
		},
		{
			name: "job-regular-sidecar: pinned Job pod", kind: "Job", d: native,
			pod:     regularPod(pinnedAnn, false, nil, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
			want: []string{
				"job-regular-sidecar/now/istio-proxy/" + regularNow,
				"opt-out-review/now//" + pinned,
			},
		},
		{
			name: "job-regular-sidecar: CronJob on a cluster with old kubelets", kind: "CronJob", d: gated,
			pod:       template(nil, nil, app()),
			wantAfter: sidecarmode.Regular,
			want:      []string{"job-regular-sidecar/after-switch//target=1.30.2/regular"},
		},
		{
			name: "job-regular-sidecar: pod owned by a Job", kind: "Pod", d: native,
			pod: func() pod {
				p := regularPod(nil, false, nil, app())
				p.meta.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "report", Controller: ptr.To(true)}}
				return p
			}(),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Native,
			want: []string{"job-regular-sidecar/now/istio-proxy/" + regularNow},
		},
		{
			name: "job-regular-sidecar: not a Job", kind: "Deployment", d: regular,
			pod:     regularPod(nil, false, nil, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
		},
		{
			name: "job-regular-sidecar: native Job", kind: "CronJob", d: native,
			pod:       template(map[string]string{sidecarmode.AnnotationNativeSidecar: "true"}, nil, app()),
			wantAfter: sidecarmode.Native,
		},
		{
			name: "opt-out-review: pinned Deployment pod", kind: "Deployment", d: native,
			pod:     regularPod(pinnedAnn, false, nil, app()),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
			want: []string{"opt-out-review/now//" + pinned},
		},
		// a manifest that declares istio-proxy only to customise the injected one
		{
			name: "customisation (image auto) in a Job template, native target: what the injector makes of it", kind: "Job", d: native,
			pod:       template(nil, nil, app(quitCall), corev1.Container{Name: "istio-proxy", Image: "auto"}),
			wantAfter: sidecarmode.Native,
			want:      []string{"quitquitquit/after-switch/app/args[0]=" + quitCall},
		},
		{
			name: "customisation in a Job template, regular target: a regular sidecar to come, not one running", kind: "Job", d: regular,
			pod:       template(nil, nil, app(quitCall), corev1.Container{Name: "istio-proxy", Image: "auto"}),
			wantAfter: sidecarmode.Regular,
			want:      []string{"job-regular-sidecar/after-switch//target=1.27.1/regular"},
		},

		// after-switch for pinned workloads: the pin and its workarounds go together
		{
			name: "pinned Job pod calling quitquitquit, native target: the workaround goes with the pin", kind: "Job", d: native,
			pod:     regularPod(pinnedAnn, false, nil, app(quitCall)),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
			want: []string{
				"job-regular-sidecar/now/istio-proxy/" + regularNow,
				"opt-out-review/now//" + pinned,
				"quitquitquit/after-switch/app/args[0]=" + quitCall,
			},
		},
		{
			name: "pinned template with uid 1337 and exclusions, native target", kind: "Deployment", d: native,
			pod:       template(merge(pinnedAnn, excludes), withInit1337, app()),
			wantAfter: sidecarmode.Regular,
			want: []string{
				"uid-1337/after-switch/migrate/" + uid1337,
				"exclude-outbound/after-switch//" + excludeIPs,
				"exclude-outbound/after-switch//" + excludePort,
				"opt-out-review/after-switch//" + pinned,
			},
		},
		{
			name: "pinned pod with a workaround, regular target: the pin changes nothing, the workaround stays", kind: "Job", d: regular,
			pod:     regularPod(pinnedAnn, false, nil, app(quitCall)),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Regular,
			want: []string{
				"job-regular-sidecar/now/istio-proxy/" + regularNow,
				"opt-out-review/now//" + pinned,
			},
		},
		{
			name: "grpc-agent template with a pin: the template keeps it regular, not the pin", kind: "Deployment", d: native,
			pod:       template(merge(pinnedAnn, map[string]string{sidecarmode.AnnotationInjectTemplates: "grpc-agent"}), withInit1337, app()),
			wantAfter: sidecarmode.Regular,
			want:      []string{"opt-out-review/after-switch//" + pinned},
		},
		{
			name: "opt-out-review: \"False\" is not a pin", kind: "Deployment", d: native,
			pod:       template(map[string]string{sidecarmode.AnnotationNativeSidecar: "False"}, nil, app()),
			wantAfter: sidecarmode.Native,
		},

		// whole pods
		{
			name: "several findings, now before after-switch, in ID order", kind: "Job", d: native,
			pod: func() pod {
				p := regularPod(map[string]string{AnnotationExcludeOutboundPorts: "5432", AnnotationProxyConfig: "holdApplicationUntilProxyStarts: true"},
					true, withInit1337, app(quitCall))
				return p
			}(),
			wantNow: sidecarmode.Regular, wantAfter: sidecarmode.Native,
			want: []string{
				"job-regular-sidecar/now/istio-proxy/" + regularNow,
				"quitquitquit/after-switch/app/args[0]=" + quitCall,
				"uid-1337/after-switch/migrate/" + uid1337,
				"exclude-outbound/after-switch//" + excludePort,
				"hold-ignored/after-switch//" + holdAnnot,
			},
		},
		{
			name: "gateway", kind: "Deployment", d: native,
			pod: pod{
				meta: metav1.ObjectMeta{Annotations: map[string]string{sidecarmode.AnnotationInjectTemplates: "gateway", AnnotationProxyConfig: "holdApplicationUntilProxyStarts: true"}},
				spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Image: "auto"}}},
			},
		},
		{
			name: "template opted out of injection", kind: "Job", d: native,
			pod: func() pod {
				p := template(pinnedAnn, withInit1337, app(quitCall))
				p.meta.Labels = map[string]string{LabelInject: "false"}
				return p
			}(),
		},
		{
			name: "proxy that is an init container but not a sidecar", kind: "Deployment", d: native,
			pod: func() pod {
				p := nativePod(nil, withInit1337, app())
				p.spec.InitContainers[1].RestartPolicy = nil
				return p
			}(),
			wantAfter: sidecarmode.Native,
			want:      []string{"uid-1337/after-switch/migrate/" + uid1337},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			r := Advise(Input{Kind: tt.kind, Meta: tt.pod.meta, Spec: tt.pod.spec, Decision: tt.d, MeshHoldApplication: tt.meshHold})
			g.Expect(r.Now).To(Equal(tt.wantNow))
			g.Expect(r.After).To(Equal(tt.wantAfter))
			want := tt.want
			if want == nil {
				want = []string{}
			}
			g.Expect(brief(r.Findings)).To(Equal(want))
			for _, f := range r.Findings {
				g.Expect(f.Advice).To(MatchRegexp(`^[A-Z].*\.$`), "advice is sentences: %q", f.Advice)
			}
		})
	}
}

// advice returns the advice of the only finding with id.
func advice(g Gomega, r Result, id ID) string {
	var out []string
	for _, f := range r.Findings {
		if f.ID == id {
			out = append(out, f.Advice)
		}
	}
	g.Expect(out).To(HaveLen(1), "findings %v", brief(r.Findings))
	return out[0]
}

func TestAdvice(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		id   ID
		want []string
	}{
		{
			name: "native now: remove",
			in:   Input{Kind: "Job", Meta: nativePod(nil, nil).meta, Spec: nativePod(nil, nil, app(quitCall)).spec, Decision: native},
			id:   IDQuitQuitQuit,
			want: []string{"The pod's istio-proxy is a native sidecar: it stops by itself", "Remove the call to /quitquitquit."},
		},
		{
			name: "after the switch: remove then",
			in:   Input{Kind: "Job", Meta: regularPod(nil, false, nil).meta, Spec: regularPod(nil, false, nil, app(quitCall)).spec, Decision: native},
			id:   IDQuitQuitQuit,
			want: []string{"After the switch istio-proxy is a native sidecar", "Remove the call to /quitquitquit once the workload's pods run with native sidecars."},
		},
		{
			name: "native now, regular target: keep",
			in:   Input{Kind: "Job", Meta: nativePod(nil, nil).meta, Spec: nativePod(nil, nil, app(quitCall)).spec, Decision: compat22},
			id:   IDQuitQuitQuit,
			want: []string{"is a native sidecar now", "Keep this workaround: under the target istio-proxy is a regular container again."},
		},
		{
			name: "pod-level 1337 names the app containers too",
			in: Input{Kind: "Deployment", Meta: nativePod(nil, nil).meta, Decision: native, Spec: func() corev1.PodSpec {
				p := nativePod(nil, withInit, app())
				p.spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1337)}
				return p.spec
			}()},
			id:   IDUID1337,
			want: []string{"inherits user 1337 from the pod", "the app containers' too", "Set another runAsUser on the pod."},
		},
		{
			name: "job predating the switch",
			in:   Input{Kind: "Job", Meta: regularPod(nil, false, nil).meta, Spec: regularPod(nil, false, nil, app(quitCall)).spec, Decision: native},
			id:   IDJobRegularSidecar,
			want: []string{"never complete without a workaround (this one calls /quitquitquit in container app)", "predates the switch", "recreate the Job"},
		},
		{
			name: "pinned job",
			in:   Input{Kind: "CronJob", Meta: template(pinnedAnn, nil).meta, Decision: native},
			id:   IDJobRegularSidecar,
			want: []string{`Remove the sidecar.istio.io/nativeSidecar: "false" override`},
		},
		{
			name: "kubelet gate",
			in:   Input{Kind: "CronJob", Decision: gated},
			id:   IDJobRegularSidecar,
			want: []string{"The cluster gate turned native sidecars off", "oldest node runs v1.28.3", "upgrade the nodes whose kubelet is older than 1.29"},
		},
		{
			name: "kubelet gate, pinned",
			in:   Input{Kind: "CronJob", Meta: template(pinnedAnn, nil).meta, Decision: gated},
			id:   IDJobRegularSidecar,
			want: []string{"upgrade the nodes whose kubelet is older than 1.29, and remove the sidecar.istio.io/nativeSidecar: \"false\" override."},
		},
		{
			name: "regular release, pinned",
			in:   Input{Kind: "CronJob", Meta: template(pinnedAnn, nil).meta, Decision: regular},
			id:   IDJobRegularSidecar,
			want: []string{"move to a target with native sidecars and remove the sidecar.istio.io/nativeSidecar: \"false\" override."},
		},
		{
			name: "regular release",
			in:   Input{Kind: "Job", Decision: regular},
			id:   IDJobRegularSidecar,
			want: []string{"regular containers by default (Module 1.21.0 installs Istio 1.27.1", `sidecar.istio.io/nativeSidecar: "true"`},
		},
		{
			name: "pin under a native default",
			in:   Input{Kind: "Deployment", Meta: template(pinnedAnn, nil).meta, Decision: native},
			id:   IDOptOutReview,
			want: []string{"while the target's default is native sidecars", "still needs regular containers"},
		},
		{
			name: "pin under a regular default",
			in:   Input{Kind: "Deployment", Meta: template(pinnedAnn, nil).meta, Decision: regular},
			id:   IDOptOutReview,
			want: []string{"the target's default is regular too", "revisit it before native sidecars become the default"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			got := advice(g, Advise(tt.in), tt.id)
			for _, w := range tt.want {
				g.Expect(got).To(ContainSubstring(w))
			}
		})
	}
}

func TestIDsAreStable(t *testing.T) {
	g := NewWithT(t)
	ids := []string{}
	for _, id := range IDs {
		ids = append(ids, string(id))
	}
	g.Expect(ids).To(Equal([]string{"quitquitquit", "uid-1337", "exclude-outbound", "hold-ignored", "job-regular-sidecar", "opt-out-review"}))
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
