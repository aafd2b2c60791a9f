package sidecarmode

import (
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/pkg/version"
)

func TestModuleVersionMatchesVersionFile(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile("../../VERSION")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ModuleVersion).To(Equal(strings.TrimSpace(string(b))),
		"the source default of ModuleVersion must equal the VERSION file")
	_, err = LookupRelease(ModuleVersion)
	g.Expect(err).NotTo(HaveOccurred(), "this build's module version needs a row in Releases")
}

func TestReleasesTable(t *testing.T) {
	g := NewWithT(t)
	g.Expect(Releases).NotTo(BeEmpty())
	seen := map[string]bool{}
	var prevIstio version.Version
	for i, r := range Releases {
		m, err := version.Parse(r.Module)
		g.Expect(err).NotTo(HaveOccurred(), "row %d: module %q is a release X.Y.Z", i, r.Module)
		g.Expect(m.Pre).To(BeEmpty(), "row %d: no pre-release module", i)
		g.Expect(seen[r.Module]).To(BeFalse(), "row %d: duplicate module %s", i, r.Module)
		seen[r.Module] = true
		v, err := version.Parse(r.Istio)
		if i > 0 {
			g.Expect(v.Less(prevIstio)).To(BeFalse(), "row %d: rows are in the order of the Istio they install", i)
		}
		prevIstio = v

		g.Expect(err).NotTo(HaveOccurred(), "row %d: Istio %q must be an exact patch version", i, r.Istio)
		g.Expect(v.Pre).To(BeEmpty(), "row %d: no pre-release Istio", i)
		g.Expect(r.Default).To(BeElementOf(Native, Regular), "row %d", i)
		g.Expect(r.CompatibilityDefault).To(BeElementOf(Native, Regular), "row %d", i)
		g.Expect(r.Note).NotTo(BeEmpty(), "row %d", i)
	}
	last := Releases[len(Releases)-1]
	g.Expect(last.Module).To(Equal("1.30.0"))
	g.Expect(last.Istio).To(Equal("1.30.2"), "this build installs the charts of Istio 1.30.2")
}

func TestLookupRelease(t *testing.T) {
	tests := []struct {
		version   string
		wantIstio string
		wantErr   string
	}{
		{version: "1.19.0", wantIstio: "1.26.1"},
		{version: "1.20.2", wantIstio: "1.26.2"},
		{version: "1.21.0", wantIstio: "1.27.1"},
		{version: "1.22.1", wantIstio: "1.27.1"},
		{version: "1.23.2", wantIstio: "1.27.1"},
		{version: "1.23.3", wantIstio: "1.27.4"},
		{version: "1.25.0", wantIstio: "1.28.2"},
		{version: "1.27.3", wantIstio: "1.29.2"},
		{version: "1.30.0", wantIstio: "1.30.2"},
		{version: "v1.30.0", wantIstio: "1.30.2"},
		{version: "1.30.1", wantErr: "not in the release table"},
		{version: "1.18.0", wantErr: "not in the release table"},
		{version: "1.31.0", wantErr: "not in the release table"},
		{version: "1.24.4", wantErr: "not in the release table"},
		{version: "2.30.0", wantErr: "not in the release table"},
		{version: "1.30", wantErr: "not a release version"},
		{version: "1.30.0-rc.1", wantErr: "not a release version"},
		{version: "", wantErr: "not a release version"},
		{version: "latest", wantErr: "not a release version"},
		{version: "1", wantErr: "not a release version"},
		{version: "1.30.0.1", wantErr: "not a release version"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			g := NewWithT(t)
			r, err := LookupRelease(tt.version)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tt.wantErr)))
				g.Expect(r).To(Equal(Release{}))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(r.Istio).To(Equal(tt.wantIstio))
		})
	}
}

func TestLookupReleaseErrorNamesKnownReleases(t *testing.T) {
	g := NewWithT(t)
	_, err := LookupRelease("1.31.0")
	g.Expect(err).To(MatchError(HavePrefix("module version 1.31.0 is not in the release table (known releases: 1.19.0, 1.19.1, 1.20.0, 1.19.2,")))
	g.Expect(err.Error()).To(HaveSuffix("1.27.4, 1.28.0, 1.29.0, 1.30.0)"))
}

func TestReleaseCompatibilityVersion(t *testing.T) {
	tests := []struct{ istio, want string }{
		{"1.27.3", "1.26"},
		{"1.30.2", "1.29"},
		{"1.28.0", "1.27"},
		{"2.0.1", ""},
		{"bad", ""},
	}
	for _, tt := range tests {
		t.Run(tt.istio, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(Release{Istio: tt.istio}.CompatibilityVersion()).To(Equal(tt.want))
		})
	}
}

// The README and docs/ show the release table generated from Releases
// (`go run ./hack/release-table README.md docs/kubectl-istio-proxies.md`).
func TestDocsShowTheReleaseTable(t *testing.T) {
	for _, path := range []string{"../../README.md", "../../docs/kubectl-istio-proxies.md"} {
		t.Run(path, func(t *testing.T) {
			g := NewWithT(t)
			b, err := os.ReadFile(path)
			g.Expect(err).NotTo(HaveOccurred())
			want, err := ReplacePolicyTable(string(b))
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(b)).To(Equal(want), "the release table is stale: run go run ./hack/release-table README.md docs/kubectl-istio-proxies.md")
		})
	}
}
