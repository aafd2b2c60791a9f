package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Offline: the flags are checked before any connection.
func TestStatusFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"output", []string{"-o", "yaml"}, `unknown output format "yaml"`},
		{"namespace and all", []string{"-n", "shop", "-A"}, "give either -n NAMESPACE or -A, not both"},
		{"unknown module", []string{"--module-version", "9.9.9"}, "not in the release table"},
		{"both target forms", []string{"--module-version", "1.30.0", "--istio-version", "1.30.2", "--default-type", "native"}, "not both"},
		{"argument", []string{"shop"}, `unexpected arguments ["shop"]`},
		{"unknown flag", []string{"--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{"missing kubeconfig", []string{"--kubeconfig", "/nonexistent/kubeconfig"}, "load kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := runCmd("", append([]string{"status"}, tt.args...)...)
			g.Expect(code).To(Equal(1))
			g.Expect(stdout).To(BeEmpty())
			g.Expect(stderr).To(HavePrefix("error: "))
			g.Expect(stderr).To(ContainSubstring(tt.want))
		})
	}
}

func TestStatusHelp(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("", "status", "-h")
	g.Expect(code).To(Equal(0))
	g.Expect(stderr).To(BeEmpty())
	for _, flag := range []string{"-kubeconfig", "-context", "-n string", "-A", "-module-version", "-compatibility-mode", "-min-kubelet-version", "-o string"} {
		g.Expect(stdout).To(ContainSubstring(flag))
	}
	g.Expect(stdout).To(ContainSubstring("this build's module version (" + sidecarmode.ModuleVersion + ")"))
}

// statusFixtures are the workloads of the status specs: under the regular
// install a Deployment, a Job and a bare Pod that the native install then
// makes stale; under the native install the same three, fresh.
func statusFixtures(t sidecarmode.ContainerType) []fixture {
	prefix := "fresh"
	if t == sidecarmode.Regular {
		prefix = "stale"
	}
	return []fixture{
		running(newDeployment(statusNS, prefix+"-app", nil, appSpec())),
		running(newJob(statusNS, prefix+"-job", nil, appSpec())),
		running(newPod(statusNS, prefix+"-pod", nil, appSpec())),
	}
}

// liveStatus runs status against the test cluster and decodes its JSON.
func liveStatus(args ...string) statusReport {
	GinkgoHelper()
	code, stdout, stderr := runCmd("", append([]string{"status", "--kubeconfig", env.Kubeconfig, "-o", "json"}, args...)...)
	GinkgoWriter.Print(stdout)
	Expect(stderr).To(BeEmpty())
	Expect(code).To(Equal(0))
	var r statusReport
	Expect(json.Unmarshal([]byte(stdout), &r)).To(Succeed())
	return r
}

func rowsByName(r statusReport) map[string]statusRow {
	out := map[string]statusRow{}
	for _, row := range r.Workloads {
		out[row.Kind+"/"+row.Namespace+"/"+row.Name] = row
	}
	return out
}

const (
	wrongType    = "regular, expected native"
	wrongVersion = "1.29.2, expected 1.30.2"
)

var _ = Describe("status", func() {
	It("shows each workload's proxy and the restarter's plan as a table", func() {
		code, stdout, stderr := runCmd("", "status", "--kubeconfig", env.Kubeconfig, "-n", statusNS)
		Expect(stderr).To(BeEmpty())
		GinkgoWriter.Print(stdout)
		Expect(code).To(Equal(0))
		lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
		Expect(lines).To(HaveLen(9), stdout)
		Expect(lines[0]).To(Equal("Target: Module " + sidecarmode.ModuleVersion + " installs Istio 1.30.2 with native sidecars by default (1.30.2/native)"))
		Expect(lines[1]).To(BeEmpty())
		Expect(lines[2]).To(MatchRegexp(`^KIND\s+NAMESPACE\s+NAME\s+PODS\s+LAYOUT\s+VERSION\s+EXPECTED\s+STALE\s+INJECTOR\s+ACTION\s+WHY$`))
		fresh := `1\s+native\s+1\.30\.2\s+native\s+no\s+-\s+None\s+the proxy matches the target$`
		stale := `1\s+regular\s+1\.29\.2\s+native\s+1/1\s+`
		reasons := regexp.QuoteMeta("1 stale pod (" + wrongVersion + "; " + wrongType + ")")
		Expect(lines[3]).To(MatchRegexp(`^Deployment\s+apps\s+fresh-app\s+` + fresh))
		// The injector was asked, as the operator asks before a restart: a
		// new pod would get another proxy, so the restart goes ahead.
		Expect(lines[4]).To(MatchRegexp(`^Deployment\s+apps\s+stale-app\s+` + stale + `native 1\.30\.2\s+RolloutRestart\s+` + reasons +
			`; roll it out by setting the pod-template annotation istio-module.kyma-project.io/restarted-for=1.30.2/native$`))
		Expect(lines[5]).To(MatchRegexp(`^Job\s+apps\s+fresh-job\s+` + fresh))
		Expect(lines[6]).To(MatchRegexp(`^Job\s+apps\s+stale-job\s+` + stale + `-\s+Manual\s+manual restart required: ` + reasons + `; it is a Job`))
		Expect(lines[7]).To(MatchRegexp(`^Pod\s+apps\s+fresh-pod\s+` + fresh))
		Expect(lines[8]).To(MatchRegexp(`^Pod\s+apps\s+stale-pod\s+` + stale + `-\s+Manual\s+manual restart required: ` + reasons + `; it is a bare Pod`))
	})

	It("says the same in JSON", func() {
		r := liveStatus("-n", statusNS)
		Expect(r.Target).To(Equal(target{
			ModuleVersion: sidecarmode.ModuleVersion, IstioVersion: "1.30.2", DefaultType: "native",
			MinKubeletVersion: testenv.KubeletVersion,
			Reason:            "Module " + sidecarmode.ModuleVersion + " installs Istio 1.30.2 with native sidecars by default",
		}))
		rows := rowsByName(r)
		Expect(rows).To(HaveLen(6))
		for _, kind := range []string{"Deployment", "Job", "Pod"} {
			name := strings.ToLower(kind)
			if kind == "Deployment" {
				name = "app"
			}
			f := rows[kind+"/apps/fresh-"+name]
			Expect(f).To(Equal(statusRow{
				Kind: kind, Namespace: statusNS, Name: "fresh-" + name, Pods: 1,
				Layouts: []string{"native"}, Versions: []string{"1.30.2"}, ExpectedType: "native",
				Reasons: []string{}, Action: actionNone, Why: "the proxy matches the target",
			}))
			s := rows[kind+"/apps/stale-"+name]
			Expect(s.Pods).To(Equal(1))
			Expect(s.Layouts).To(Equal([]string{"regular"}))
			Expect(s.Versions).To(Equal([]string{"1.29.2"}))
			Expect(s.ExpectedType).To(Equal("native"))
			Expect(s.Stale).To(BeTrue())
			Expect(s.StalePods).To(Equal(1))
			Expect(s.Reasons).To(Equal([]string{wrongVersion, wrongType}))
			if kind == "Deployment" {
				Expect(s.Action).To(Equal("RolloutRestart"))
				Expect(s.Injector).To(Equal("native 1.30.2"))
			} else {
				Expect(s.Injector).To(BeEmpty(), "only workloads about to be restarted are asked")
				Expect(s.Action).To(Equal("Manual"))
				Expect(s.Why).To(HavePrefix("manual restart required"))
			}
		}
	})

	It("covers all namespaces but the control plane's by default", func() {
		r := liveStatus()
		namespaces := map[string]bool{}
		for _, row := range r.Workloads {
			namespaces[row.Namespace] = true
		}
		Expect(namespaces).To(Equal(map[string]bool{statusNS: true, adviseNS: true}))
		Expect(rowsByName(r)).To(HaveKey("Deployment/advise/init-regular"))
		Expect(rowsByName(r)["Deployment/advise/init-regular"].Action).To(Equal("RolloutRestart"))
		Expect(liveStatus("-A").Workloads).To(Equal(r.Workloads))
	})

	It("reads compatibilityMode from the Istio CR unless the flag is given", func(ctx context.Context) {
		Expect(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kyma-system"}})).To(Succeed())
		cr := &v1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{Namespace: "kyma-system", Name: "default"},
			Spec: v1alpha2.IstioSpec{CompatibilityMode: true}}
		Expect(env.Client.Create(ctx, cr)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(env.Client.Delete(ctx, cr)).To(Succeed()) })

		r := liveStatus("-n", statusNS, "--module-version", "1.22.0")
		Expect(r.Target.CompatibilityMode).To(BeTrue())
		Expect(r.Target.IstioCR).To(Equal("kyma-system/default"))
		Expect(r.Target.DefaultType).To(Equal("regular"))
		Expect(r.Target.IstioVersion).To(Equal("1.27.1"))
		fresh := rowsByName(r)["Deployment/apps/fresh-app"]
		Expect(fresh.ExpectedType).To(Equal("regular"))
		Expect(fresh.Reasons).To(Equal([]string{"1.30.2, expected 1.27.1", "native, expected regular"}))
		// Under this target most workloads of the cluster are stale: the
		// pacing limit may keep this one waiting for a slot. If it has one,
		// the injector is asked and vetoes: istiod still injects what its
		// pods have.
		Expect(fresh.Action).To(BeElementOf("SameProxy", "Pending"))
		if fresh.Action == "SameProxy" {
			Expect(fresh.Injector).To(Equal("native 1.30.2"))
			Expect(fresh.Why).To(ContainSubstring("the injector gives a new pod the same proxy (native 1.30.2)"))
		}
		Expect(fresh.Why).To(HavePrefix("1 stale pod (1.30.2, expected 1.27.1; native, expected regular)"))
		// Without asking, the plan alone says what the model says.
		noAsk := rowsByName(liveStatus("-n", statusNS, "--module-version", "1.22.0", "--ask-injector=false"))["Deployment/apps/fresh-app"]
		Expect(noAsk.Action).To(BeElementOf("RolloutRestart", "Pending"))
		Expect(noAsk.Injector).To(BeEmpty())

		r = liveStatus("-n", statusNS, "--module-version", "1.22.0", "--compatibility-mode=false")
		Expect(r.Target.CompatibilityMode).To(BeFalse())
		Expect(r.Target.IstioCR).To(BeEmpty())
		Expect(r.Target.DefaultType).To(Equal("native"))
		Expect(rowsByName(r)["Deployment/apps/fresh-app"].Reasons).To(Equal([]string{"1.30.2, expected 1.27.1"}))
	})

	It("applies the kubelet gate of the cluster's nodes unless the flag is given", func(ctx context.Context) {
		Expect(env.SetKubeletVersion(ctx, "kwok-node-0", "v1.28.3")).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			Expect(env.SetKubeletVersion(ctx, "kwok-node-0", testenv.KubeletVersion)).To(Succeed())
		})
		r := liveStatus("-n", statusNS)
		Expect(r.Target.MinKubeletVersion).To(Equal("v1.28.3"))
		Expect(r.Target.NativeUnsupported).To(BeTrue())
		Expect(r.Target.DefaultType).To(Equal("regular"))
		Expect(rowsByName(r)["Deployment/apps/fresh-app"].Reasons).To(Equal([]string{"native, expected regular"}))
		Expect(rowsByName(r)["Deployment/apps/stale-app"].Reasons).To(Equal([]string{wrongVersion}))

		r = liveStatus("-n", statusNS, "--min-kubelet-version", "v1.33.0")
		Expect(r.Target.NativeUnsupported).To(BeFalse())
		Expect(r.Target.DefaultType).To(Equal("native"))
	})

	It("honours $KUBECONFIG and --context like kubectl", func() {
		old, had := os.LookupEnv("KUBECONFIG")
		Expect(os.Setenv("KUBECONFIG", env.Kubeconfig)).To(Succeed())
		DeferCleanup(func() {
			if had {
				os.Setenv("KUBECONFIG", old)
			} else {
				os.Unsetenv("KUBECONFIG")
			}
		})
		kc, err := clientcmd.LoadFromFile(env.Kubeconfig)
		Expect(err).NotTo(HaveOccurred())

		code, stdout, stderr := runCmd("", "status", "-n", statusNS, "--context", kc.CurrentContext)
		Expect(stderr).To(BeEmpty())
		Expect(code).To(Equal(0))
		Expect(stdout).To(ContainSubstring("fresh-app"))

		code, stdout, stderr = runCmd("", "status", "-n", statusNS, "--context", "no-such-context")
		Expect(code).To(Equal(1))
		Expect(stdout).To(BeEmpty())
		Expect(stderr).To(ContainSubstring(fmt.Sprintf("context %q does not exist", "no-such-context")))
	})

	It("names the workload of a ReplicaSet's pods after whatever controls the ReplicaSet, as the restarter's plan does", func(ctx context.Context) {
		owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: statusNS, Name: "rollout-owner"}}
		Expect(env.Client.Create(ctx, owner)).To(Succeed())
		// No pods: the pod below is only looked up, so the other specs'
		// rows stay as they are.
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: statusNS, Name: "rollout-web-1",
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
					Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rollout-web"}},
				Template: podTemplate("rollout-web", nil, appSpec()),
			},
		}
		Expect(env.Client.Create(ctx, rs)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			Expect(env.Client.Delete(ctx, rs)).To(Succeed())
			Expect(env.Client.Delete(ctx, owner)).To(Succeed())
		})
		podOf := func(uid types.UID) *corev1.Pod {
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: statusNS, Name: "rollout-web-1-x7k2p",
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: uid,
					Controller: ptr.To(true)}}}}
		}

		own := newOwners(env.Client)
		key, err := own.workloadOf(ctx, podOf(rs.UID))
		Expect(err).NotTo(HaveOccurred())
		Expect(key).To(Equal(workloadKey{Kind: "ConfigMap", Namespace: statusNS, Name: owner.Name}))

		// A pod of an earlier ReplicaSet of that name is being collected
		// with it: the plan, too, reports it under its direct owner.
		key, err = own.workloadOf(ctx, podOf("00000000-0000-0000-0000-000000000001"))
		Expect(err).NotTo(HaveOccurred())
		Expect(key).To(Equal(workloadKey{Kind: "ReplicaSet", Namespace: statusNS, Name: rs.Name}))
	})
})
