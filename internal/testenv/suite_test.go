package testenv_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/internal/testenv"
)

// The smoke suite proves the test cluster works: the API server accepts what
// later suites rely on, and in cluster mode workloads really run and roll out.
func TestSmoke(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Test cluster smoke suite")
}

var (
	apiEnv     *testenv.Env
	clusterEnv *testenv.Env
)

var _ = BeforeSuite(func() {
	var err error
	apiEnv, err = testenv.StartAPI()
	Expect(err).NotTo(HaveOccurred())
	clusterEnv, err = testenv.StartCluster(testenv.WithNodes(2))
	Expect(err).NotTo(HaveOccurred())
})

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() && clusterEnv != nil {
		clusterEnv.KeepLogs()
	}
})

var _ = AfterSuite(func() {
	for _, env := range []*testenv.Env{clusterEnv, apiEnv} {
		if env != nil {
			Expect(env.Stop()).To(Succeed())
		}
	}
})
