package install_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// requiredVersion is the version a go.mod requires module at.
func requiredVersion(t *testing.T, goMod, module string) string {
	t.Helper()
	b, err := os.ReadFile(goMod)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s does not require %s", goMod, module)
	}
	return string(m[1])
}

// One Istio release everywhere: the charts this binary embeds, the release
// table's row of this build, the Istio the test cluster's istiod is built
// from, and the version that istiod prints.
func TestOneIstioReleaseEverywhere(t *testing.T) {
	g := NewWithT(t)
	row, err := sidecarmode.LookupRelease(sidecarmode.ModuleVersion)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(row.Istio).To(Equal(install.EmbeddedIstioVersion), "this build's row of the release table")
	g.Expect(install.EmbeddedCharts().Istio).To(Equal(install.EmbeddedIstioVersion))
	g.Expect(testenv.IstioVersion).To(Equal(install.EmbeddedIstioVersion), "the test cluster's istiod")

	g.Expect(requiredVersion(t, "../../go.mod", "istio.io/istio")).To(Equal(install.EmbeddedIstioModuleVersion),
		"go.mod pins the charts' istio.io/istio")
	g.Expect(requiredVersion(t, "../../hack/tools/istio/go.mod", "istio.io/istio")).To(Equal(install.EmbeddedIstioModuleVersion),
		"the test istiod is built from the same istio.io/istio")

	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: the istiod binaries' versions are checked by make test")
	}
	for bin, want := range map[string]string{
		"pilot-discovery": install.EmbeddedIstioVersion,
		"pilot-discovery-" + testenv.PreviousIstioVersion: testenv.PreviousIstioVersion,
	} {
		out, err := exec.Command(filepath.Join(assets, bin), "version", "--short").CombinedOutput()
		g.Expect(err).NotTo(HaveOccurred(), string(out))
		g.Expect(strings.TrimSpace(string(out))).To(HaveSuffix(" "+want), "%s version --short", bin)
	}
}
