package install_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
)

// The installer suite runs against a real cluster (API server, controllers,
// kwok nodes) with the real istiod running locally as the sidecar injector.
func TestInstall(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Installer suite")
}

var (
	env       *testenv.Env
	istiod    *testenv.Istiod
	installer *install.Installer
)

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.StartCluster()
	Expect(err).NotTo(HaveOccurred())
	istiod, err = env.StartIstiod()
	Expect(err).NotTo(HaveOccurred())
	installer = install.New(env.Client, install.Options{
		KubeVersion:     testenv.KubeletVersion,
		IstiodRemoteURL: istiod.URL(),
	})
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
