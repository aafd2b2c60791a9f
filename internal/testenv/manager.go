package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildManager compiles the operator's manager (./cmd) into dir, the binary
// a release ships, for harnesses that run it as a process of its own.
func BuildManager(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the manager (go build ./cmd): %w\n%s", err, out)
	}
	return bin, nil
}
