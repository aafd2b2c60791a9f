package sidecarmode

import (
	"fmt"
	"strings"
)

// Markers around the generated release table in the README and docs/; the
// text between them is PolicyTable() (hack/release-table rewrites it, a test
// compares it).
const (
	PolicyTableBegin = "<!-- release-table:begin (generated from sidecarmode.Releases by hack/release-table) -->"
	PolicyTableEnd   = "<!-- release-table:end -->"
)

// PolicyTable renders Releases as a markdown table for readers: consecutive
// releases that install the same Istio with the same defaults share a line.
func PolicyTable() string {
	var b strings.Builder
	b.WriteString("| module releases | Istio | default container type | with `compatibilityMode: true` |\n")
	b.WriteString("|---|---|---|---|\n")
	for start := 0; start < len(Releases); {
		end := start + 1
		for end < len(Releases) && sameDefaults(Releases[start], Releases[end]) {
			end++
		}
		r := Releases[start]
		modules := make([]string, 0, end-start)
		for _, m := range Releases[start:end] {
			modules = append(modules, m.Module)
		}
		compat := string(r.CompatibilityDefault)
		if p := r.CompatibilityVersion(); p != "" {
			compat += fmt.Sprintf(" (Istio %s profile)", p)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", strings.Join(modules, ", "), r.Istio, r.Default, compat)
		start = end
	}
	return b.String()
}

func sameDefaults(a, b Release) bool {
	return a.Istio == b.Istio && a.Default == b.Default && a.CompatibilityDefault == b.CompatibilityDefault && a.Note == b.Note
}

// ReplacePolicyTable returns doc with the text between the table's markers
// replaced by PolicyTable(); an error when the markers are missing.
func ReplacePolicyTable(doc string) (string, error) {
	i := strings.Index(doc, PolicyTableBegin)
	j := strings.Index(doc, PolicyTableEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("the release table's markers %q ... %q are missing", PolicyTableBegin, PolicyTableEnd)
	}
	return doc[:i+len(PolicyTableBegin)] + "\n" + PolicyTable() + doc[j:], nil
}
