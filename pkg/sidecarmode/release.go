package sidecarmode

import (
	"fmt"
	"strings"
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
	// Module is the module release as major.minor, e.g. "1.22". All patch
	// releases of the module share the row.
	Module string
	// Istio is the exact Istio version the release installs, e.g. "1.27.3".
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

// Releases is the version policy, oldest release first. It is the one source
// for both what the installer tells istiod and what the restarter expects.
//
// The rows up to 1.23 are the ones of the user documentation ("Regular and
// Native Sidecar Containers"); 1.30 is this build, whose Istio version is the
// one of the charts it installs (the istio.io/istio module of the 1.30 release
// branch). A module version without a row is an error, never a guess: add a
// row when a release is cut.
var Releases = []Release{
	{Module: "1.19", Istio: "1.25.3", Default: Regular, CompatibilityDefault: Regular,
		Note: "Istio 1.25 injects regular containers"},
	{Module: "1.20", Istio: "1.26.4", Default: Regular, CompatibilityDefault: Regular,
		Note: "Istio 1.26 injects regular containers"},
	{Module: "1.21", Istio: "1.27.1", Default: Regular, CompatibilityDefault: Regular,
		Note: "native sidecars switched off explicitly"},
	{Module: "1.22", Istio: "1.27.3", Default: Native, CompatibilityDefault: Regular,
		Note: "native sidecars, unless compatibilityMode makes Istio behave as 1.26"},
	{Module: "1.23", Istio: "1.28.2", Default: Native, CompatibilityDefault: Native,
		Note: "native sidecars; compatibilityMode (Istio 1.27 behaviour) keeps them"},
	{Module: "1.30", Istio: "1.30.2", Default: Native, CompatibilityDefault: Native,
		Note: "native sidecars; compatibilityMode (Istio 1.29 behaviour) keeps them"},
}

// LookupRelease returns the row of the release table that covers
// moduleVersion ("1.30.0", "v1.22.1", "1.30.0-rc.1" or "1.30"). A version no
// row covers is an error.
func LookupRelease(moduleVersion string) (Release, error) {
	v, ok := parseLooseVersion(moduleVersion)
	if !ok {
		return Release{}, fmt.Errorf("module version %q is not a version (want X.Y.Z)", moduleVersion)
	}
	for _, r := range Releases {
		if r.Module == v.minorString() {
			return r, nil
		}
	}
	known := make([]string, 0, len(Releases))
	for _, r := range Releases {
		known = append(known, r.Module)
	}
	return Release{}, fmt.Errorf("module version %s is not in the release table (known releases: %s)",
		moduleVersion, strings.Join(known, ", "))
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
	v, ok := parseReleaseVersion(r.Istio)
	if !ok || v.Minor == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor-1)
}
