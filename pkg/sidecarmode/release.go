package sidecarmode

import (
	"fmt"
	"slices"
	"strings"

	"github.com/istio-module/operator/pkg/version"
)

// ModuleVersion is this build's module version. The Makefile stamps it from
// the VERSION file:
//
//	-ldflags "-X github.com/istio-module/operator/pkg/sidecarmode.ModuleVersion=$(cat VERSION)"
//
// The default below must equal the VERSION file (a unit test checks it).
var ModuleVersion = "1.30.0"

// ContainerType is the way istio-proxy runs in a pod.
type ContainerType string

const (
	// Native is a Kubernetes native sidecar: istio-proxy in spec.initContainers
	// with restartPolicy Always (Kubernetes 1.29+).
	Native ContainerType = "native"
	// Regular is istio-proxy in spec.containers, beside the application.
	Regular ContainerType = "regular"
)

// Release is one row of the version policy: what one module release installs.
type Release struct {
	// Module is the module release, major.minor.patch, e.g. "1.23.3". The
	// Istio version belongs to the release, not to its minor: 1.23.2 and
	// 1.23.3 install different Istio patches.
	Module string
	// Istio is the exact Istio version the release installs, e.g. "1.27.4".
	// A patch upgrade of Istio replaces every proxy, so rows never say "1.27.x".
	Istio string
	// Default is the default container type of istio-proxy.
	Default ContainerType
	// CompatibilityDefault is the default container type when the Istio CR sets
	// compatibilityMode: true (Istio then behaves as its previous minor).
	CompatibilityDefault ContainerType
	// Note explains the row to a reader of the table.
	Note string
}

// Notes shared by the releases of one Istio line.
const (
	noteIstio126       = "Istio 1.26 injects regular containers"
	noteNativeOff      = "native sidecars switched off explicitly (ENABLE_NATIVE_SIDECARS=false)"
	noteNativeUnless   = "native sidecars, unless compatibilityMode makes Istio behave as 1.26"
	noteNativeKeptComp = "native sidecars; compatibilityMode keeps them"
)

// Releases is the version policy, oldest release first, one row per module
// release. It is the one source for what the installer tells istiod, what the
// restarter expects, and the tables of the README and docs/ (tests compare
// them). The rows are the module's real releases: the Istio image tag and the
// native-sidecar setting of each release tag (shared/RELEASES.md). A module
// version without a row is an error, never a guess: add a row when a release
// is cut.
var Releases = slices.Concat(
	rows("1.26.1", Regular, Regular, noteIstio126, "1.19.0", "1.19.1", "1.20.0"),
	rows("1.26.2", Regular, Regular, noteIstio126, "1.19.2", "1.19.3", "1.20.1", "1.20.2"),
	rows("1.27.1", Regular, Regular, noteNativeOff, "1.21.0", "1.21.1"),
	rows("1.27.1", Native, Regular, noteNativeUnless, "1.22.0", "1.22.1", "1.23.0", "1.23.1", "1.23.2", "1.24.0", "1.24.1"),
	rows("1.27.4", Native, Regular, noteNativeUnless, "1.23.3", "1.24.2", "1.24.3"),
	rows("1.28.2", Native, Native, noteNativeKeptComp, "1.25.0", "1.25.1", "1.25.2"),
	rows("1.28.3", Native, Native, noteNativeKeptComp, "1.25.3", "1.25.4", "1.25.5", "1.25.6", "1.26.0", "1.26.1", "1.26.2"),
	rows("1.28.5", Native, Native, noteNativeKeptComp, "1.26.3", "1.26.4", "1.26.5", "1.26.6"),
	rows("1.28.6", Native, Native, noteNativeKeptComp, "1.26.7", "1.26.8"),
	rows("1.29.1", Native, Native, noteNativeKeptComp, "1.27.0", "1.27.1"),
	rows("1.29.2", Native, Native, noteNativeKeptComp, "1.27.2", "1.27.3"),
	rows("1.29.3", Native, Native, noteNativeKeptComp, "1.27.4"),
	rows("1.30.2", Native, Native, noteNativeKeptComp, "1.28.0", "1.29.0", "1.30.0"),
)

// rows gives the rows of module releases that install the same Istio with
// the same defaults.
func rows(istio string, def, compat ContainerType, note string, modules ...string) []Release {
	out := make([]Release, 0, len(modules))
	for _, m := range modules {
		out = append(out, Release{Module: m, Istio: istio, Default: def, CompatibilityDefault: compat, Note: note})
	}
	return out
}

// LookupRelease returns the row of the module release moduleVersion
// ("1.30.0" or "v1.30.0"). A version without a row, a pre-release or a bare
// minor is an error that lists the known releases.
func LookupRelease(moduleVersion string) (Release, error) {
	v, err := version.Parse(strings.TrimPrefix(moduleVersion, "v"))
	if err != nil || v.Pre != "" {
		// No release is a pre-release: the table has rows for releases only.
		return Release{}, fmt.Errorf("module version %q is not a release version (want X.Y.Z, e.g. %s)", moduleVersion, ModuleVersion)
	}
	want := v.String()
	for _, r := range Releases {
		if r.Module == want {
			return r, nil
		}
	}
	return Release{}, fmt.Errorf("module version %s is not in the release table (known releases: %s)",
		moduleVersion, strings.Join(KnownReleases(), ", "))
}

// KnownReleases lists the module releases of the table, oldest first.
func KnownReleases() []string {
	known := make([]string, 0, len(Releases))
	for _, r := range Releases {
		known = append(known, r.Module)
	}
	return known
}

// TypeFor returns the row's default container type with or without
// compatibilityMode.
func (r Release) TypeFor(compatibilityMode bool) ContainerType {
	if compatibilityMode {
		return r.CompatibilityDefault
	}
	return r.Default
}

// CompatibilityVersion is the Istio minor that compatibilityMode makes this
// release behave as: the minor before the row's Istio version ("1.27.3" ->
// "1.26"). It names Istio's compatibility profile (chart value
// compatibilityVersion).
func (r Release) CompatibilityVersion() string {
	v, err := version.Parse(r.Istio)
	if err != nil || v.Minor == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor-1)
}
