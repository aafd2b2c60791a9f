package install

import (
	"fmt"
	"strconv"
	"strings"
)

// VersionUpdateError says why an Istio version change is refused. The user
// fixes it (by choosing a module release that steps one minor at a time);
// retrying does not help.
type VersionUpdateError struct {
	Installed, Target string
	Why               string
}

func (e *VersionUpdateError) Error() string {
	return fmt.Sprintf("update of Istio from %s to %s is not allowed: %s", e.Installed, e.Target, e.Why)
}

// CheckVersionUpdate refuses a downgrade and a jump of more than one Istio
// minor, as Istio supports only one-minor upgrades of the control plane.
// installed is the version last applied ("" for a fresh install).
func CheckVersionUpdate(installed, target string) error {
	if installed == "" || installed == target {
		return nil
	}
	from, err := parseVersion(installed)
	if err != nil {
		return fmt.Errorf("installed Istio version %q recorded on the CR is not a version: %w", installed, err)
	}
	to, err := parseVersion(target)
	if err != nil {
		return fmt.Errorf("target Istio version %q is not a version: %w", target, err)
	}
	switch {
	case compare(to, from) < 0:
		return &VersionUpdateError{installed, target, "downgrades are not supported; install a module release with Istio " + installed + " or newer"}
	case to[0] != from[0]:
		return &VersionUpdateError{installed, target, "a change of the major version is not supported"}
	case to[1] > from[1]+1:
		return &VersionUpdateError{installed, target, fmt.Sprintf("Istio can only be upgraded one minor version at a time; upgrade to %d.%d first", from[0], from[1]+1)}
	}
	return nil
}

func parseVersion(v string) ([3]int, error) {
	var out [3]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) != 3 {
		return out, fmt.Errorf("want MAJOR.MINOR.PATCH")
	}
	for n, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return out, fmt.Errorf("want MAJOR.MINOR.PATCH")
		}
		out[n] = x
	}
	return out, nil
}

func compare(a, b [3]int) int {
	for n := range a {
		if a[n] != b[n] {
			if a[n] < b[n] {
				return -1
			}
			return 1
		}
	}
	return 0
}
