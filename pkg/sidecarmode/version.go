package sidecarmode

import (
	"fmt"
	"regexp"
	"strconv"
)

// semver is a parsed version: major.minor.patch plus an optional pre-release.
type semver struct {
	Major, Minor, Patch int
	Pre                 string
}

// releaseVersionRE matches an exact release version as found in image tags and
// in the release table: "1.30.2", "1.30.0-rc.1". No "v" prefix.
var releaseVersionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*))?$`)

// looseVersionRE matches versions as other tools print them: an optional "v",
// major.minor, an optional patch, and anything after a "-" or "+"
// ("v1.28.3-eks-4f4795d", "1.30.0+k3s1", "1.30").
var looseVersionRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:[-+](.*))?$`)

// parseReleaseVersion parses an exact release version such as "1.30.2".
func parseReleaseVersion(s string) (semver, bool) {
	m := releaseVersionRE.FindStringSubmatch(s)
	if m == nil {
		return semver{}, false
	}
	return semver{Major: atoi(m[1]), Minor: atoi(m[2]), Patch: atoi(m[3]), Pre: m[4]}, true
}

// parseLooseVersion parses a module or kubelet version such as "1.30.0",
// "v1.28.3-eks-4f4795d" or "1.30". Build metadata and suffixes are kept in Pre
// but are not compared by callers.
func parseLooseVersion(s string) (semver, bool) {
	m := looseVersionRE.FindStringSubmatch(s)
	if m == nil {
		return semver{}, false
	}
	v := semver{Major: atoi(m[1]), Minor: atoi(m[2]), Pre: m[4]}
	if m[3] != "" {
		v.Patch = atoi(m[3])
	}
	return v, true
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		// Only reached for digit strings too long for an int.
		return -1
	}
	return n
}

// minorString is "major.minor", e.g. "1.30".
func (v semver) minorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// lessMinor reports whether v's major.minor is older than major.minor.
func (v semver) lessMinor(major, minor int) bool {
	return v.Major < major || (v.Major == major && v.Minor < minor)
}

// IsReleaseVersion reports whether s is an exact release version such as
// "1.30.2" or "1.30.0-rc.1", the form Istio uses for its image tags.
func IsReleaseVersion(s string) bool {
	_, ok := parseReleaseVersion(s)
	return ok
}
