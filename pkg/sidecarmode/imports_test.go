package sidecarmode

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure keeps the package free of clients and I/O: its non-test files may
// import only these packages.
func TestPure(t *testing.T) {
	allowed := map[string]bool{
		"crypto/sha256":                        true,
		"encoding/hex":                         true,
		"fmt":                                  true,
		"slices":                               true,
		"regexp":                               true,
		"strconv":                              true,
		"strings":                              true,
		"k8s.io/api/apps/v1":                   true,
		"k8s.io/api/batch/v1":                  true,
		"k8s.io/api/core/v1":                   true,
		"k8s.io/apimachinery/pkg/apis/meta/v1": true,
		"k8s.io/apimachinery/pkg/runtime":      true,
		// As pure as this package: one version parser for the module.
		"github.com/istio-module/operator/pkg/version": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s; the package must stay pure (no client, no I/O)", f, path)
			}
		}
	}
}
