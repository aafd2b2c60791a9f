package version

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is a parsed version: major.minor.patch and an optional semver
// pre-release ("rc.1" of "1.30.0-rc.1").
type Version struct {
	Major, Minor, Patch int
	Pre                 string
}

// releaseRE is a release version as Istio tags its images and the module
// names its releases: "1.30.2", "1.30.0-rc.1". No "v" prefix, no build
// metadata: a tag "v1.30.2" is not one Istio publishes.
var releaseRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*))?$`)

// kubeletRE is a version as kubelets report it: an optional "v",
// major.minor, an optional patch, and a vendor suffix after "-" or "+"
// ("v1.28.3-eks-4f4795d", "v1.30.0+k3s1", "1.30").
var kubeletRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:[-+].*)?$`)

// Parse parses a release version such as "1.30.2" or "1.30.0-rc.1".
func Parse(s string) (Version, error) {
	m := releaseRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a release version (want MAJOR.MINOR.PATCH, e.g. 1.30.2, or a pre-release such as 1.30.0-rc.1)", s)
	}
	return Version{Major: atoi(m[1]), Minor: atoi(m[2]), Patch: atoi(m[3]), Pre: m[4]}, nil
}

// IsRelease reports whether s is a release version (see Parse).
func IsRelease(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// ParseKubelet parses a kubelet version such as "v1.28.3-eks-4f4795d". A
// missing patch is 0. The suffix is a vendor's build name, not a semver
// pre-release, and is dropped: "v1.28.3-eks-1" orders as 1.28.3.
func ParseKubelet(s string) (Version, error) {
	m := kubeletRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a kubelet version (want [v]MAJOR.MINOR[.PATCH][-suffix])", s)
	}
	v := Version{Major: atoi(m[1]), Minor: atoi(m[2])}
	if m[3] != "" {
		v.Patch = atoi(m[3])
	}
	return v, nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		// Only digit strings too long for an int get here; the regexps
		// let nothing else through.
		return -1
	}
	return n
}

// String is the version as Parse reads it.
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// MinorString is "major.minor", e.g. "1.30".
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Compare orders versions by semver precedence: -1 when v is older than o,
// 0 when equal, +1 when newer. A pre-release is older than its release
// (1.30.0-rc.1 < 1.30.0), so an rc counts as the minor it leads to.
func (v Version) Compare(o Version) int {
	for _, d := range [][2]int{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if d[0] != d[1] {
			return cmp.Compare(d[0], d[1])
		}
	}
	return comparePre(v.Pre, o.Pre)
}

// Less reports whether v is older than o.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

// OlderMinorThan reports whether v's major.minor is older than major.minor.
func (v Version) OlderMinorThan(major, minor int) bool {
	return v.Major < major || (v.Major == major && v.Minor < minor)
}

// comparePre orders pre-releases as semver does: none is newest; then
// identifier by identifier, numbers numerically and below words, and a
// shorter list of equal identifiers first.
func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for n := 0; n < len(as) && n < len(bs); n++ {
		if c := compareIdentifier(as[n], bs[n]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

func compareIdentifier(a, b string) int {
	an, aErr := strconv.Atoi(a)
	bn, bErr := strconv.Atoi(b)
	switch {
	case aErr == nil && bErr == nil:
		return cmp.Compare(an, bn)
	case aErr == nil:
		return -1
	case bErr == nil:
		return 1
	}
	return strings.Compare(a, b)
}
