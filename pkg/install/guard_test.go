package install

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/version"
)

func TestCheckVersionUpdate(t *testing.T) {
	cases := []struct {
		installed, target string
		refused           bool
	}{
		{"", "1.30.2", false},
		{"1.30.2", "1.30.2", false},
		{"1.30.1", "1.30.2", false},
		{"1.29.4", "1.30.2", false},
		{"1.27.3", "1.28.1", false},
		{"1.30.2", "1.30.1", true},
		{"1.30.2", "1.29.9", true},
		{"1.28.1", "1.30.2", true},
		{"1.26.4", "1.28.1", true},
		{"1.30.2", "2.0.0", true},
	}
	for _, tc := range cases {
		t.Run(tc.installed+"->"+tc.target, func(t *testing.T) {
			g := NewWithT(t)
			err := CheckVersionUpdate(tc.installed, tc.target)
			var refused *VersionUpdateError
			g.Expect(errors.As(err, &refused)).To(Equal(tc.refused), "error: %v", err)
		})
	}
}

func TestCheckVersionUpdateRejectsGarbage(t *testing.T) {
	g := NewWithT(t)
	err := CheckVersionUpdate("latest", "1.30.2")
	g.Expect(err).To(MatchError(ContainSubstring(`"latest"`)))
	var refused *VersionUpdateError
	g.Expect(errors.As(err, &refused)).To(BeFalse())
}

// One rule for what a version is, whoever reads it: the upgrade guard, a
// proxy's or istiod's image tag, the release table's compatibility profile
// and the pure version package give the same answer for the same text, an rc
// tag included.
func TestVersionsReadAlikeEverywhere(t *testing.T) {
	for _, tc := range []struct {
		in      string
		release bool
		minor   string // the compatibility profile of a row installing it
	}{
		{"1.30.2", true, "1.29"},
		{"1.30.0-rc.1", true, "1.29"},
		{"1.30.0-alpha.0", true, "1.29"},
		{"v1.30.2", false, ""},
		{"1.30", false, ""},
		{"1.30.2+build", false, ""},
		{"1.30-dev", false, ""},
		{"latest", false, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(version.IsRelease(tc.in)).To(Equal(tc.release), "pkg/version")
			g.Expect(sidecarmode.IsReleaseVersion(tc.in)).To(Equal(tc.release), "sidecarmode.IsReleaseVersion")
			g.Expect(sidecarmode.VersionOf("docker.io/istio/pilot:"+tc.in) == tc.in).To(Equal(tc.release), "sidecarmode.VersionOf")
			g.Expect(sidecarmode.Release{Istio: tc.in}.CompatibilityVersion()).To(Equal(tc.minor), "Release.CompatibilityVersion")
			// The guard: a one-minor step from 1.29.2 passes for a version,
			// and the text is refused as no version otherwise.
			err := CheckVersionUpdate("1.29.2", tc.in)
			var refused *VersionUpdateError
			g.Expect(errors.As(err, &refused)).To(BeFalse(), "guard: %v", err)
			g.Expect(err == nil).To(Equal(tc.release), "guard: %v", err)
		})
	}
}

// An rc orders below its release for the guard as for pkg/version.
func TestCheckVersionUpdateOrdersPreReleases(t *testing.T) {
	for _, tc := range []struct {
		installed, target string
		refused           bool
	}{
		{"1.30.0-rc.1", "1.30.0", false},
		{"1.30.0-rc.1", "1.30.0-rc.2", false},
		{"1.30.0", "1.30.0-rc.1", true},
		{"1.30.0-rc.2", "1.30.0-rc.1", true},
		{"1.29.2", "1.30.0-rc.1", false},
		{"1.29.2", "1.31.0-rc.1", true},
	} {
		t.Run(tc.installed+"->"+tc.target, func(t *testing.T) {
			g := NewWithT(t)
			err := CheckVersionUpdate(tc.installed, tc.target)
			var refused *VersionUpdateError
			g.Expect(errors.As(err, &refused)).To(Equal(tc.refused), "error: %v", err)
			if !tc.refused {
				g.Expect(err).NotTo(HaveOccurred())
			}
		})
	}
}
