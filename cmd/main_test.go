package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The manager binary as an operator runs it: standard flags are honoured, and
// a module version whose Istio is not the embedded charts' is refused before
// it connects anywhere.
func TestManagerFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "manager")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	missing := filepath.Join(t.TempDir(), "no-such-kubeconfig")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "--kubeconfig is read", args: []string{"--kubeconfig", missing},
			want: "error: no connection to a cluster (kubeconfig or in-cluster config): stat " + missing},
		{name: "a release of another Istio", args: []string{"--module-version", "1.27.3", "--kubeconfig", missing},
			want: "error: --module-version 1.27.3 installs Istio 1.29.2, but this binary holds the charts of Istio 1.30.2"},
		{name: "an unknown release", args: []string{"--module-version", "1.31.0"},
			want: "error: --module-version: module version 1.31.0 is not in the release table (known releases: 1.19.0,"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(bin, tt.args...).CombinedOutput()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output does not say %q:\n%s", tt.want, out)
			}
		})
	}
}
