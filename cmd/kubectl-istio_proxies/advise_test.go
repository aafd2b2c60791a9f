package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/pkg/advisor"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// briefFindings are findings without their advice:
// "id/when/container/field=value".
func briefFindings(fs []advisor.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s/%s/%s/%s=%s", f.ID, f.When, f.Container, f.Field, f.Value))
	}
	return out
}

func adviseJSON(stdout string) adviseReport {
	GinkgoHelper()
	var r adviseReport
	ExpectWithOffset(1, json.Unmarshal([]byte(stdout), &r)).To(Succeed())
	return r
}

// findingsByObject is "Kind/name" -> brief findings.
func findingsByObject(r adviseReport) map[string][]string {
	out := map[string][]string{}
	for _, o := range r.Objects {
		out[o.Kind+"/"+o.Name] = briefFindings(o.Findings)
	}
	return out
}

const (
	pinnedEv     = "metadata.annotations[sidecar.istio.io/nativeSidecar]=false"
	holdEv       = "metadata.annotations[proxy.istio.io/config]=holdApplicationUntilProxyStarts: true"
	excludeIPEv  = "metadata.annotations[traffic.sidecar.istio.io/excludeOutboundIPRanges]=10.96.0.0/12"
	excludePtEv  = "metadata.annotations[traffic.sidecar.istio.io/excludeOutboundPorts]=5432"
	uidEv        = "migrate/securityContext.runAsUser=1337"
	regularNowEv = "job-regular-sidecar/now/istio-proxy/layout=regular"
)

func TestAdviseTable(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("", "advise", "-f", "testdata/advise/workloads.yaml")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))
	want, err := os.ReadFile("testdata/advise/workloads.table")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(stdout).To(Equal(strings.ReplaceAll(string(want), "MODULE", sidecarmode.ModuleVersion)))
}

func TestAdviseManifests(t *testing.T) {
	const quit = "/app/report && curl -sf -XPOST http://127.0.0.1:15020/quitquitquit"
	tests := []struct {
		name string
		args []string
		want map[string][]string
	}{
		{
			name: "this build's target: native",
			want: map[string][]string{
				"Job/report":               {"quitquitquit/after-switch/report/args[0]=" + quit},
				"CronJob/nightly-export":   {"job-regular-sidecar/after-switch//" + pinnedEv, "opt-out-review/after-switch//" + pinnedEv},
				"Deployment/orders":        {"uid-1337/after-switch/" + uidEv, "exclude-outbound/after-switch//" + excludeIPEv},
				"Deployment/cart":          {"hold-ignored/after-switch//" + holdEv},
				"Deployment/ledger":        {},
				"StatefulSet/legacy-queue": {"opt-out-review/after-switch//" + pinnedEv},
				"Deployment/web":           {},
				"Job/backup":               {},
			},
		},
		{
			name: "a release with regular containers: Jobs need their workaround",
			args: []string{"--module-version", "1.21.0"},
			want: map[string][]string{
				"Job/report":               {"job-regular-sidecar/after-switch//target=1.27.1/regular"},
				"CronJob/nightly-export":   {"job-regular-sidecar/after-switch//" + pinnedEv, "opt-out-review/after-switch//" + pinnedEv},
				"Deployment/orders":        {},
				"Deployment/cart":          {},
				"Deployment/ledger":        {},
				"StatefulSet/legacy-queue": {"opt-out-review/after-switch//" + pinnedEv},
				"Deployment/web":           {},
				"Job/backup":               {},
			},
		},
		{
			name: "old kubelets: the gate forces regular containers",
			args: []string{"--min-kubelet-version", "v1.28.3"},
			want: map[string][]string{
				"Job/report":               {"job-regular-sidecar/after-switch//target=1.30.2/regular"},
				"CronJob/nightly-export":   {"job-regular-sidecar/after-switch//" + pinnedEv, "opt-out-review/after-switch//" + pinnedEv},
				"Deployment/orders":        {},
				"Deployment/cart":          {},
				"Deployment/ledger":        {},
				"StatefulSet/legacy-queue": {"opt-out-review/after-switch//" + pinnedEv},
				"Deployment/web":           {},
				"Job/backup":               {},
			},
		},
		{
			name: "given directly",
			args: []string{"--istio-version", "1.30.2", "--default-type", "native"},
			want: map[string][]string{
				"Job/report":               {"quitquitquit/after-switch/report/args[0]=" + quit},
				"CronJob/nightly-export":   {"job-regular-sidecar/after-switch//" + pinnedEv, "opt-out-review/after-switch//" + pinnedEv},
				"Deployment/orders":        {"uid-1337/after-switch/" + uidEv, "exclude-outbound/after-switch//" + excludeIPEv},
				"Deployment/cart":          {"hold-ignored/after-switch//" + holdEv},
				"Deployment/ledger":        {},
				"StatefulSet/legacy-queue": {"opt-out-review/after-switch//" + pinnedEv},
				"Deployment/web":           {},
				"Job/backup":               {},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := runCmd("", append([]string{"advise", "-f", "testdata/advise/workloads.yaml", "-o", "json"}, tt.args...)...)
			g.Expect(stderr).To(BeEmpty())
			g.Expect(code).To(Equal(0))
			var r adviseReport
			g.Expect(json.Unmarshal([]byte(stdout), &r)).To(Succeed())
			g.Expect(findingsByObject(r)).To(Equal(tt.want))
		})
	}
}

func TestAdviseJSONShape(t *testing.T) {
	g := NewWithT(t)
	manifest, err := os.ReadFile("testdata/advise/workloads.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	code, stdout, stderr := runCmd(string(manifest), "advise", "-f", "-", "-o", "json")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))

	var generic map[string]any
	g.Expect(json.Unmarshal([]byte(stdout), &generic)).To(Succeed())
	g.Expect(generic).To(HaveLen(2))
	g.Expect(generic["target"]).To(HaveKeyWithValue("reason", "Module "+sidecarmode.ModuleVersion+" installs Istio 1.30.2 with native sidecars by default"))
	g.Expect(generic["target"]).To(HaveKeyWithValue("defaultType", "native"))
	objects := generic["objects"].([]any)
	g.Expect(objects).To(HaveLen(8))
	report := objects[0].(map[string]any)
	g.Expect(report).To(HaveLen(7))
	g.Expect(report).To(HaveKeyWithValue("kind", "Job"))
	g.Expect(report).To(HaveKeyWithValue("namespace", "shop"))
	g.Expect(report).To(HaveKeyWithValue("name", "report"))
	g.Expect(report).To(HaveKeyWithValue("pods", BeNumerically("==", 0)))
	g.Expect(report).To(HaveKeyWithValue("layout", "none"))
	g.Expect(report).To(HaveKeyWithValue("expectedType", "native"))
	findings := report["findings"].([]any)
	g.Expect(findings).To(HaveLen(1))
	g.Expect(findings[0]).To(Equal(map[string]any{
		"id":        "quitquitquit",
		"when":      "after-switch",
		"container": "report",
		"field":     "args[0]",
		"value":     "/app/report && curl -sf -XPOST http://127.0.0.1:15020/quitquitquit",
		"advice": "After the switch istio-proxy is a native sidecar: it stops by itself once the app containers have finished, " +
			"so the call to /quitquitquit is unnecessary. Remove the call to /quitquitquit once the workload's pods run with native sidecars.",
	}))
	// Objects without findings have an empty list, not null.
	g.Expect(objects[7].(map[string]any)).To(HaveKeyWithValue("findings", BeEmpty()))
}

func TestAdviseNoFindings(t *testing.T) {
	g := NewWithT(t)
	code, stdout, _ := runCmd("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: app, image: nginx}]}\n", "advise", "-f", "-")
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(HaveSuffix("\n\nNo findings in 1 objects.\n"))
}

func TestAdviseErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{name: "namespace with a file", args: []string{"-f", "-", "-n", "shop"}, want: "-n is for the cluster; with -f the manifests are read offline"},
		{name: "kubeconfig with a file", args: []string{"-f", "-", "--kubeconfig", "k"}, want: "-kubeconfig is for the cluster"},
		{name: "output", args: []string{"-f", "-", "-o", "wide"}, want: `unknown output format "wide"`},
		{name: "target", args: []string{"-f", "-", "--default-type", "native"}, want: "--istio-version and --default-type go together"},
		{name: "missing file", args: []string{"-f", "testdata/advise/nope.yaml"}, want: "read manifest"},
		{name: "not a manifest", args: []string{"-f", "-"}, stdin: "- a\n- b\n", want: "not a Kubernetes object"},
		{name: "namespace and all", args: []string{"-n", "shop", "-A"}, want: "give either -n NAMESPACE or -A, not both"},
		{name: "missing kubeconfig", args: []string{"--kubeconfig", "/nonexistent/kubeconfig"}, want: "load kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := runCmd(tt.stdin, append([]string{"advise"}, tt.args...)...)
			g.Expect(code).To(Equal(1))
			g.Expect(stdout).To(BeEmpty())
			g.Expect(stderr).To(HavePrefix("error: "))
			g.Expect(stderr).To(ContainSubstring(tt.want))
		})
	}
}

func TestAdviseHelp(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("", "advise", "-h")
	g.Expect(code).To(Equal(0))
	g.Expect(stderr).To(BeEmpty())
	for _, id := range advisor.IDs {
		g.Expect(stdout).To(ContainSubstring("  " + string(id) + " "))
	}
	for _, flag := range []string{"-f string", "-kubeconfig", "-context", "-n string", "-A", "-module-version", "-o string"} {
		g.Expect(stdout).To(ContainSubstring(flag))
	}
}

func TestTableAction(t *testing.T) {
	g := NewWithT(t)
	g.Expect(action("Istio 1.30.2 is here. Remove it.")).To(Equal("Remove it."))
	g.Expect(action("One sentence (v1.28.3).")).To(Equal("One sentence (v1.28.3)."))
}

// The fixtures of the live specs, and what advise must say about each. The
// regular ones are created under the real Istio 1.29.2 with native sidecars
// switched off (as module 1.21 had it), the native ones under this build's.

const quitArgs = "sleep 1; curl -sf -XPOST http://127.0.0.1:15020/quitquitquit"

func quitSpec() corev1.PodSpec {
	return appSpec(corev1.Container{Name: "app", Image: "alpine", Command: []string{"/bin/sh", "-c"}, Args: []string{quitArgs}})
}

func initSpec(uid int64) corev1.PodSpec {
	spec := appSpec()
	spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "migrate/migrate",
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To(uid)}}}
	return spec
}

func podUIDSpec() corev1.PodSpec {
	spec := appSpec()
	spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "migrate/migrate"}}
	spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1337)}
	return spec
}

var (
	excludeAnn = map[string]string{
		advisor.AnnotationExcludeOutboundIPRanges: "10.96.0.0/12",
		advisor.AnnotationExcludeOutboundPorts:    "5432",
	}
	holdAnn    = map[string]string{advisor.AnnotationProxyConfig: "holdApplicationUntilProxyStarts: true\n"}
	holdOffAnn = map[string]string{advisor.AnnotationProxyConfig: `{"holdApplicationUntilProxyStarts": false}`}
	pinnedAnn  = map[string]string{sidecarmode.AnnotationNativeSidecar: "false"}
)

func adviseFixtures(t sidecarmode.ContainerType) []fixture {
	if t == sidecarmode.Regular {
		return []fixture{
			newJob(adviseNS, "quit-regular", nil, quitSpec()),
			newDeployment(adviseNS, "init-regular", excludeAnn, initSpec(1337)),
			newPod(adviseNS, "hold-regular", holdAnn, appSpec()),
		}
	}
	return []fixture{
		newJob(adviseNS, "quit-native", nil, quitSpec()),
		newDeployment(adviseNS, "init-native", excludeAnn, initSpec(1337)),
		newDeployment(adviseNS, "init-pod-uid", nil, podUIDSpec()),
		newPod(adviseNS, "hold-native", holdAnn, appSpec()),
		newJob(adviseNS, "pinned-job", pinnedAnn, appSpec()),
		newDeployment(adviseNS, "pinned", pinnedAnn, appSpec()),
		newDeployment(adviseNS, "clean", nil, initSpec(1000)),
		newDeployment(adviseNS, "exclude-no-init", excludeAnn, appSpec()),
		newPod(adviseNS, "hold-off", holdOffAnn, appSpec()),
		newJob(adviseNS, "clean-job", nil, appSpec()),
		newCronJob(adviseNS, "nightly-pinned", pinnedAnn, appSpec()),
		newCronJob(adviseNS, "nightly", nil, appSpec()),
		newCronJob(plainNS, "nightly-plain", pinnedAnn, appSpec()),
	}
}

// adviseExpected is what advise says about each fixture of adviseNS under
// this build's target, by workload kind and name.
var adviseExpected = map[string][]string{
	"Job/quit-regular":           {regularNowEv, "quitquitquit/after-switch/app/args[0]=" + quitArgs},
	"Deployment/init-regular":    {"uid-1337/after-switch/" + uidEv, "exclude-outbound/after-switch//" + excludeIPEv, "exclude-outbound/after-switch//" + excludePtEv},
	"Pod/hold-regular":           {"hold-ignored/after-switch//" + holdEv},
	"Job/quit-native":            {"quitquitquit/now/app/args[0]=" + quitArgs},
	"Deployment/init-native":     {"uid-1337/now/" + uidEv, "exclude-outbound/now//" + excludeIPEv, "exclude-outbound/now//" + excludePtEv},
	"Deployment/init-pod-uid":    {"uid-1337/now/migrate/spec.securityContext.runAsUser=1337"},
	"Pod/hold-native":            {"hold-ignored/now//" + holdEv},
	"Job/pinned-job":             {regularNowEv, "opt-out-review/now//" + pinnedEv},
	"Deployment/pinned":          {"opt-out-review/now//" + pinnedEv},
	"Deployment/clean":           {},
	"Deployment/exclude-no-init": {},
	"Pod/hold-off":               {},
	"Job/clean-job":              {},
	"CronJob/nightly-pinned":     {"job-regular-sidecar/after-switch//" + pinnedEv, "opt-out-review/after-switch//" + pinnedEv},
	"CronJob/nightly":            {},
}

// injectedFile holds the pods of adviseNS as the suite's istiod injected
// them (see the spec that writes it).
const injectedFile = "testdata/advise/injected.yaml"

// TestAdviseInjected runs advise offline over pods injected by the real
// istiod; each pod must get the findings of its workload in the live run.
func TestAdviseInjected(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("", "advise", "-f", injectedFile, "-o", "json")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))
	var r adviseReport
	g.Expect(json.Unmarshal([]byte(stdout), &r)).To(Succeed())

	want := map[string][]string{}
	for key, findings := range adviseExpected {
		if strings.HasPrefix(key, "CronJob/") {
			continue // no pods
		}
		want["Pod/"+strings.SplitN(key, "/", 2)[1]] = findings
	}
	g.Expect(findingsByObject(r)).To(Equal(want))
	for _, o := range r.Objects {
		g.Expect(o.Layout).To(BeElementOf("native", "regular"), o.Name)
	}
}

var _ = Describe("advise", func() {
	It("reports the findings of each workload in a namespace", func() {
		code, stdout, stderr := runCmd("", "advise", "--kubeconfig", env.Kubeconfig, "-n", adviseNS, "-o", "json")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		GinkgoWriter.Print(stdout)
		r := adviseJSON(stdout)
		Expect(findingsByObject(r)).To(Equal(adviseExpected))
		for _, o := range r.Objects {
			if o.Kind == "CronJob" {
				Expect(o.Pods).To(Equal(0))
				Expect(o.Layout).To(Equal("none"))
			} else {
				Expect(o.Pods).To(Equal(1), o.Name)
			}
		}
	})

	It("prints a table of the findings only", func() {
		code, stdout, stderr := runCmd("", "advise", "--kubeconfig", env.Kubeconfig, "-n", adviseNS)
		Expect(stderr).To(BeEmpty())
		GinkgoWriter.Print(stdout)
		Expect(code).To(Equal(0))
		lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
		Expect(lines[0]).To(HavePrefix("Target: Module " + sidecarmode.ModuleVersion + " installs Istio 1.30.2"))
		Expect(lines[2]).To(MatchRegexp(`^KIND\s+NAMESPACE\s+NAME\s+LAYOUT\s+EXPECTED\s+FINDING\s+WHEN\s+EVIDENCE\s+ADVICE$`))
		n := 0
		for _, f := range adviseExpected {
			n += len(f)
		}
		Expect(lines).To(HaveLen(3 + n + 2))
		withFindings := 0
		for _, f := range adviseExpected {
			if len(f) > 0 {
				withFindings++
			}
		}
		Expect(lines[len(lines)-1]).To(Equal(fmt.Sprintf("%d findings in %d of %d objects; -o json has the whole advice with its reasons.",
			n, withFindings, len(adviseExpected))))
		Expect(stdout).To(MatchRegexp(`(?m)^Job\s+advise\s+quit-native\s+native\s+native\s+quitquitquit\s+now\s+app: args\[0\]=.*; curl -sf -XPOST http://127\.0\.0\.1:15020/quitquitquit\s+Remove the call to /quitquitquit\.$`))
		Expect(stdout).To(MatchRegexp(`(?m)^Job\s+advise\s+quit-regular\s+regular\s+native\s+job-regular-sidecar\s+now\s+istio-proxy: layout=regular\s+This pod predates the switch`))
		Expect(stdout).To(MatchRegexp(`(?m)^CronJob\s+advise\s+nightly-pinned\s+none\s+regular\s+opt-out-review\s+after-switch\s+sidecar\.istio\.io/nativeSidecar=false\s+`))
		for _, clean := range []string{"clean", "exclude-no-init", "hold-off", "clean-job", "nightly "} {
			Expect(stdout).NotTo(ContainSubstring(" " + clean + " "))
		}
	})

	It("skips namespaces without injection and the control plane's", func() {
		code, stdout, stderr := runCmd("", "advise", "--kubeconfig", env.Kubeconfig, "-A", "-o", "json")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		namespaces := map[string]int{}
		for _, o := range adviseJSON(stdout).Objects {
			namespaces[o.Namespace]++
		}
		Expect(namespaces).To(Equal(map[string]int{adviseNS: len(adviseExpected), statusNS: 6}))
	})

	It("reads holdApplicationUntilProxyStarts from the mesh config", func(ctx context.Context) {
		var cm corev1.ConfigMap
		key := client.ObjectKey{Namespace: "istio-system", Name: "istio"}
		Expect(env.Client.Get(ctx, key, &cm)).To(Succeed())
		orig := cm.Data["mesh"]
		DeferCleanup(func(ctx context.Context) {
			Expect(env.Client.Get(ctx, key, &cm)).To(Succeed())
			cm.Data["mesh"] = orig
			Expect(env.Client.Update(ctx, &cm)).To(Succeed())
		})
		var mesh map[string]any
		Expect(yaml.Unmarshal([]byte(orig), &mesh)).To(Succeed())
		dc, _ := mesh["defaultConfig"].(map[string]any)
		if dc == nil {
			dc = map[string]any{}
		}
		dc["holdApplicationUntilProxyStarts"] = true
		mesh["defaultConfig"] = dc
		b, err := yaml.Marshal(mesh)
		Expect(err).NotTo(HaveOccurred())
		cm.Data["mesh"] = string(b)
		Expect(env.Client.Update(ctx, &cm)).To(Succeed())

		code, stdout, stderr := runCmd("", "advise", "--kubeconfig", env.Kubeconfig, "-n", adviseNS, "-o", "json")
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		got := findingsByObject(adviseJSON(stdout))
		Expect(got["Deployment/clean"]).To(Equal([]string{"hold-ignored/now//meshConfig.defaultConfig.holdApplicationUntilProxyStarts=true"}))
		Expect(got["Pod/hold-off"]).To(BeEmpty(), "the pod's annotation turns it off")
		Expect(got["Pod/hold-native"]).To(Equal(adviseExpected["Pod/hold-native"]), "the pod's annotation is the evidence")
	})

	It("writes "+injectedFile+" when UPDATE_TESTDATA is set", func(ctx context.Context) {
		if os.Getenv("UPDATE_TESTDATA") == "" {
			Skip("set UPDATE_TESTDATA=1 to regenerate " + injectedFile)
		}
		var pods corev1.PodList
		Expect(env.Client.List(ctx, &pods, client.InNamespace(adviseNS))).To(Succeed())
		sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Labels["app"] < pods.Items[j].Labels["app"] })
		var b strings.Builder
		b.WriteString("# Pods of the live suite's namespace \"" + adviseNS + "\" as Istio's injector (the real\n" +
			"# istiod of the test cluster) made them: the *-regular ones by istiod 1.29.2\n" +
			"# told ENABLE_NATIVE_SIDECARS=false (regular containers, Istio 1.29.2), the\n" +
			"# others under this build (native sidecars, Istio 1.30.2). Written by the\n" +
			"# live spec of advise_test.go with\n" +
			"# UPDATE_TESTDATA=1; names replaced by the app label, status and server-set\n" +
			"# metadata dropped. Do not edit.\n")
		for _, p := range pods.Items {
			out := corev1.Pod{
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{
					Name: p.Labels["app"], Namespace: p.Namespace, Labels: p.Labels, Annotations: p.Annotations,
				},
				Spec: p.Spec,
			}
			for _, ref := range p.OwnerReferences {
				out.OwnerReferences = append(out.OwnerReferences, metav1.OwnerReference{
					APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: "", Controller: ref.Controller})
			}
			out.Spec.NodeName = ""
			y, err := yaml.Marshal(out)
			Expect(err).NotTo(HaveOccurred())
			b.WriteString("---\n")
			b.Write(y)
		}
		Expect(os.MkdirAll(filepath.Dir(injectedFile), 0o755)).To(Succeed())
		Expect(os.WriteFile(injectedFile, []byte(b.String()), 0o644)).To(Succeed())
	})
})

func TestInjects(t *testing.T) {
	tests := []struct {
		name     string
		ns, tmpl map[string]string
		want     bool
	}{
		{name: "namespace enabled", ns: map[string]string{"istio-injection": "enabled"}, want: true},
		{name: "namespace with a revision", ns: map[string]string{"istio.io/rev": "canary"}, want: true},
		{name: "pod label", tmpl: map[string]string{advisor.LabelInject: "true"}, want: true},
		{name: "nothing", want: false},
		{name: "pod opts out", ns: map[string]string{"istio-injection": "enabled"}, tmpl: map[string]string{advisor.LabelInject: "false"}, want: false},
		{name: "namespace disabled wins over the pod label", ns: map[string]string{"istio-injection": "disabled"}, tmpl: map[string]string{advisor.LabelInject: "true"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(injects(tt.ns, metav1.ObjectMeta{Labels: tt.tmpl})).To(Equal(tt.want))
		})
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{name: "short", in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{name: "newlines", in: "a\nb", want: "a b"},
		{name: "long, no mark", in: strings.Repeat("z", 70), want: strings.Repeat("z", 20) + "…"},
		{name: "mark within the head", in: "/quitquitquit" + strings.Repeat("z", 30), want: "/quitquitquit" + strings.Repeat("z", 7) + "…"},
		{name: "mark kept in view", in: strings.Repeat("x", 30) + " /quitquitquit tail", want: "…xxxxxx /quitquitquit…"},
		{name: "mark at the end", in: strings.Repeat("x", 30) + " /quitquitquit", want: "…xxxxxx /quitquitquit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(excerpt(tt.in, "quitquitquit", 20)).To(Equal(tt.want))
		})
	}
}

// TestLiveDocsAdviseExample keeps the offline example of
// docs/kubectl-istio-proxies-live.md equal to what the command prints.
func TestLiveDocsAdviseExample(t *testing.T) {
	g := NewWithT(t)
	doc, err := os.ReadFile("../../docs/kubectl-istio-proxies-live.md")
	g.Expect(err).NotTo(HaveOccurred())
	const prompt = "```console\n$ kubectl istio-proxies advise -f cmd/kubectl-istio_proxies/testdata/advise/workloads.yaml\n"
	_, block, ok := strings.Cut(string(doc), prompt)
	g.Expect(ok).To(BeTrue(), "the doc has the example")
	block, _, ok = strings.Cut(block, "```")
	g.Expect(ok).To(BeTrue())

	code, stdout, stderr := runCmd("", "advise", "-f", "testdata/advise/workloads.yaml")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(Equal(strings.ReplaceAll(block, "Module 1.30.0 ", "Module "+sidecarmode.ModuleVersion+" ")))
}
