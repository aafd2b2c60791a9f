package sidecarmode

import (
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
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
	var prev semver
	for i, r := range Releases {
		m, ok := parseLooseVersion(r.Module)
		g.Expect(ok).To(BeTrue(), "row %d: module %q", i, r.Module)
		g.Expect(r.Module).To(Equal(m.minorString()), "row %d: module is major.minor", i)
		g.Expect(seen[r.Module]).To(BeFalse(), "row %d: duplicate module %s", i, r.Module)
		seen[r.Module] = true
		if i > 0 {
			g.Expect(prev.lessMinor(m.Major, m.Minor)).To(BeTrue(), "row %d: rows are oldest first", i)
		}
		prev = m

		v, ok := parseReleaseVersion(r.Istio)
		g.Expect(ok).To(BeTrue(), "row %d: Istio %q must be an exact patch version", i, r.Istio)
		g.Expect(v.Pre).To(BeEmpty(), "row %d: no pre-release Istio", i)
		g.Expect(r.Default).To(BeElementOf(Native, Regular), "row %d", i)
		g.Expect(r.CompatibilityDefault).To(BeElementOf(Native, Regular), "row %d", i)
		g.Expect(r.Note).NotTo(BeEmpty(), "row %d", i)
	}
	last := Releases[len(Releases)-1]
	g.Expect(last.Module).To(Equal("1.30"))
	g.Expect(last.Istio).To(Equal("1.30.2"), "this build installs the charts of Istio 1.30.2")
}

func TestLookupRelease(t *testing.T) {
	tests := []struct {
		version   string
		wantIstio string
		wantErr   string
	}{
		{version: "1.19.0", wantIstio: "1.25.3"},
		{version: "1.20.5", wantIstio: "1.26.4"},
		{version: "1.21.0", wantIstio: "1.27.1"},
		{version: "1.22.3", wantIstio: "1.27.3"},
		{version: "1.23.0", wantIstio: "1.28.2"},
		{version: "1.30.0", wantIstio: "1.30.2"},
		{version: "v1.30.1", wantIstio: "1.30.2"},
		{version: "1.30", wantIstio: "1.30.2"},
		{version: "1.30.0-rc.1", wantIstio: "1.30.2"},
		{version: "1.18.0", wantErr: "not in the release table"},
		{version: "1.31.0", wantErr: "not in the release table"},
		{version: "1.24.0", wantErr: "not in the release table"},
		{version: "2.30.0", wantErr: "not in the release table"},
		{version: "", wantErr: "not a version"},
		{version: "latest", wantErr: "not a version"},
		{version: "1", wantErr: "not a version"},
		{version: "1.30.0.1", wantErr: "not a version"},
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
	g.Expect(err).To(MatchError("module version 1.31.0 is not in the release table (known releases: 1.19, 1.20, 1.21, 1.22, 1.23, 1.30)"))
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
