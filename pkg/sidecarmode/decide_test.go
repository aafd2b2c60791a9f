package sidecarmode

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// documentedPolicy is the version policy written down independently of
// Releases, from the module's real releases (shared/RELEASES.md): module
// releases -> exact Istio version, default type, type with compatibilityMode,
// and the compatibility profile. Tests compare the code against it.
var documentedPolicy = []struct {
	modules        string
	istio          string
	def, compatDef ContainerType
	compatProfile  string
}{
	{"1.19.0 1.19.1 1.20.0", "1.26.1", Regular, Regular, "1.25"},
	{"1.19.2 1.19.3 1.20.1 1.20.2", "1.26.2", Regular, Regular, "1.25"},
	{"1.21.0 1.21.1", "1.27.1", Regular, Regular, "1.26"},
	{"1.22.0 1.22.1 1.23.0 1.23.1 1.23.2 1.24.0 1.24.1", "1.27.1", Native, Regular, "1.26"},
	{"1.23.3 1.24.2 1.24.3", "1.27.4", Native, Regular, "1.26"},
	{"1.25.0 1.25.1 1.25.2", "1.28.2", Native, Native, "1.27"},
	{"1.25.3 1.25.4 1.25.5 1.25.6 1.26.0 1.26.1 1.26.2", "1.28.3", Native, Native, "1.27"},
	{"1.26.3 1.26.4 1.26.5 1.26.6", "1.28.5", Native, Native, "1.27"},
	{"1.26.7 1.26.8", "1.28.6", Native, Native, "1.27"},
	{"1.27.0 1.27.1", "1.29.1", Native, Native, "1.28"},
	{"1.27.2 1.27.3", "1.29.2", Native, Native, "1.28"},
	{"1.27.4", "1.29.3", Native, Native, "1.28"},
	{"1.28.0 1.29.0 1.30.0", "1.30.2", Native, Native, "1.29"},
}

type documentedRelease struct {
	istio          string
	def, compatDef ContainerType
	compatProfile  string
}

// documentedReleases is documentedPolicy by module release.
func documentedReleases() map[string]documentedRelease {
	out := map[string]documentedRelease{}
	for _, p := range documentedPolicy {
		for _, m := range strings.Fields(p.modules) {
			out[m] = documentedRelease{p.istio, p.def, p.compatDef, p.compatProfile}
		}
	}
	return out
}

func TestReleasesMatchDocumentedPolicy(t *testing.T) {
	g := NewWithT(t)
	documented := documentedReleases()
	g.Expect(Releases).To(HaveLen(len(documented)), "one row per documented module release")
	for _, r := range Releases {
		p, ok := documented[r.Module]
		g.Expect(ok).To(BeTrue(), "row %s is not a documented release", r.Module)
		g.Expect(r.Istio).To(Equal(p.istio), r.Module)
		g.Expect(r.Default).To(Equal(p.def), r.Module)
		g.Expect(r.CompatibilityDefault).To(Equal(p.compatDef), r.Module)
		g.Expect(r.CompatibilityVersion()).To(Equal(p.compatProfile), r.Module)
	}
}

// kubeletCases are the kubelet facts of the decision matrix, with whether the
// version is known to be too old for native sidecars.
var kubeletCases = []struct {
	version string
	tooOld  bool
}{
	{"", false},
	{"kwok-0.8.0", false},
	{"v1.27.16", true},
	{"v1.28.3", true},
	{"v1.28.15-eks-4f4795d", true},
	{"v1.29.0", false},
	{"1.29.4+k3s1", false},
	{"v1.33.1", false},
	{"v2.0.0", false},
	{"v0.99.0", true},
}

func TestDecideMatrix(t *testing.T) {
	for moduleVersion, p := range documentedReleases() {
		for _, compat := range []bool{false, true} {
			for _, k := range kubeletCases {
				t.Run(moduleVersion+"/compat="+map[bool]string{true: "on", false: "off"}[compat]+"/kubelet="+k.version, func(t *testing.T) {
					g := NewWithT(t)
					d, err := Decide(moduleVersion, compat, ClusterFacts{MinKubeletVersion: k.version})
					g.Expect(err).NotTo(HaveOccurred())

					want := p.def
					wantProfile := ""
					if compat {
						want, wantProfile = p.compatDef, p.compatProfile
					}
					wantForced := want == Native && k.tooOld
					if wantForced {
						want = Regular
					}
					wantEnable := "false"
					if want == Native {
						wantEnable = "true"
					}

					g.Expect(d.ModuleVersion).To(Equal(moduleVersion))
					g.Expect(d.IstioVersion).To(Equal(p.istio))
					g.Expect(d.DefaultType).To(Equal(want))
					g.Expect(d.EnableNativeSidecars).To(Equal(wantEnable))
					g.Expect(d.CompatibilityVersion).To(Equal(wantProfile))
					g.Expect(d.NativeUnsupported).To(Equal(wantForced))
					g.Expect(d.Target()).To(Equal(p.istio + "/" + string(want)))
					g.Expect(d.Reason).To(HavePrefix("Module " + moduleVersion + " installs Istio " + p.istio))
					if wantForced {
						g.Expect(d.Reason).To(ContainSubstring("need kubelet 1.29 or newer and the oldest node runs " + k.version))
					}
				})
			}
		}
	}
}

func TestDecideReasons(t *testing.T) {
	tests := []struct {
		name    string
		module  string
		compat  bool
		kubelet string
		want    string
	}{
		{
			name: "this build", module: "1.30.0",
			want: "Module 1.30.0 installs Istio 1.30.2 with native sidecars by default",
		},
		{
			name: "this build, compatibility mode", module: "1.30.0", compat: true,
			want: "Module 1.30.0 installs Istio 1.30.2 in compatibility mode (Istio 1.29 behaviour) with native sidecars by default",
		},
		{
			name: "1.22 compatibility mode turns native off", module: "1.22.0", compat: true,
			want: "Module 1.22.0 installs Istio 1.27.1 in compatibility mode (Istio 1.26 behaviour) with regular containers by default",
		},
		{
			name: "1.23.3 installs another Istio patch than 1.23.2", module: "1.23.3", compat: true,
			want: "Module 1.23.3 installs Istio 1.27.4 in compatibility mode (Istio 1.26 behaviour) with regular containers by default",
		},
		{
			name: "1.25.0 brought Istio 1.28; compatibility mode keeps native", module: "1.25.0", compat: true,
			want: "Module 1.25.0 installs Istio 1.28.2 in compatibility mode (Istio 1.27 behaviour) with native sidecars by default",
		},
		{
			name: "old kubelet", module: "1.30.0", kubelet: "v1.28.3",
			want: "Module 1.30.0 installs Istio 1.30.2 with regular containers: native sidecars need kubelet 1.29 or newer and the oldest node runs v1.28.3",
		},
		{
			name: "old kubelet, release already regular", module: "1.21.0", kubelet: "v1.28.3",
			want: "Module 1.21.0 installs Istio 1.27.1 with regular containers by default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			d, err := Decide(tt.module, tt.compat, ClusterFacts{MinKubeletVersion: tt.kubelet})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(d.Reason).To(Equal(tt.want))
		})
	}
}

func TestDecideUnknownModuleVersion(t *testing.T) {
	for _, v := range []string{"1.18.0", "1.31.0", "1.24.4", "1.30", "1.30.0-rc.1", "", "x"} {
		t.Run(v, func(t *testing.T) {
			g := NewWithT(t)
			d, err := Decide(v, false, ClusterFacts{})
			g.Expect(err).To(HaveOccurred())
			g.Expect(d).To(Equal(Decision{}))
		})
	}
}

func TestDecideThisBuild(t *testing.T) {
	g := NewWithT(t)
	d, err := Decide(ModuleVersion, false, ClusterFacts{MinKubeletVersion: "v1.33.1"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d).To(Equal(Decision{
		ModuleVersion:        ModuleVersion,
		IstioVersion:         "1.30.2",
		DefaultType:          Native,
		EnableNativeSidecars: "true",
		Reason:               "Module " + ModuleVersion + " installs Istio 1.30.2 with native sidecars by default",
	}))
	g.Expect(d.Target()).To(Equal("1.30.2/native"))
}

func TestLowestKubeletVersion(t *testing.T) {
	tests := []struct {
		name     string
		versions []string
		want     string
	}{
		{name: "no nodes", want: ""},
		{name: "only kwok", versions: []string{"kwok-0.8.0", "kwok-0.8.0"}, want: ""},
		{name: "one", versions: []string{"v1.33.1"}, want: "v1.33.1"},
		{name: "lowest minor", versions: []string{"v1.33.1", "v1.28.3", "v1.29.0"}, want: "v1.28.3"},
		{name: "lowest patch", versions: []string{"v1.29.10", "v1.29.2"}, want: "v1.29.2"},
		{name: "skips unparseable", versions: []string{"kwok-0.8.0", "v1.30.1-eks-1", ""}, want: "v1.30.1-eks-1"},
		{name: "major", versions: []string{"v2.0.0", "v1.35.0"}, want: "v1.35.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(LowestKubeletVersion(tt.versions)).To(Equal(tt.want))
		})
	}
}
