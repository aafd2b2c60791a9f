// Command release-table rewrites the release table in markdown files from
// sidecarmode.Releases, between the markers sidecarmode.PolicyTableBegin and
// PolicyTableEnd: `go run ./hack/release-table README.md docs/kubectl-istio-proxies.md`.
package main

import (
	"fmt"
	"os"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

func main() {
	for _, path := range os.Args[1:] {
		if err := rewrite(path); err != nil {
			fmt.Fprintf(os.Stderr, "release-table: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func rewrite(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := sidecarmode.ReplacePolicyTable(string(b))
	if err != nil {
		return err
	}
	if out == string(b) {
		return nil
	}
	return os.WriteFile(path, []byte(out), 0o644)
}
