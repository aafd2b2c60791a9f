package main

import (
	"os"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// TestDocsExample keeps the example of docs/kubectl-istio-proxies.md equal to
// the real output on pods made by Istio's injector.
func TestDocsExample(t *testing.T) {
	g := NewWithT(t)
	doc, err := os.ReadFile("../../docs/kubectl-istio-proxies.md")
	g.Expect(err).NotTo(HaveOccurred())

	const prompt = "$ kubectl istio-proxies inspect -f pkg/sidecarmode/testdata/injected/regular.yaml\n"
	_, after, found := strings.Cut(string(doc), prompt)
	g.Expect(found).To(BeTrue(), "the docs show the example")
	want, _, found := strings.Cut(after, "```")
	g.Expect(found).To(BeTrue())

	code, stdout, stderr := runCmd("", "inspect", "-f", "../../pkg/sidecarmode/testdata/injected/regular.yaml", "--module-version", "1.30.0")
	g.Expect(stderr).To(BeEmpty())
	g.Expect(code).To(Equal(0))
	g.Expect(stdout).To(Equal(want))
}
