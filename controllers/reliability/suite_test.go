package reliability_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/istio-module/operator/internal/reliability"
)

// The reliability suite runs the real operator through a fault-injecting
// proxy against a real cluster (API server, controllers, kwok nodes) with
// the real istiod injecting: the scenario of internal/reliability.
func TestReliability(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Operator reliability suite")
}

var scenario *reliability.Scenario

var _ = BeforeSuite(func() {
	var err error
	scenario, err = reliability.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() && scenario != nil {
		scenario.Env.KeepLogs()
	}
})

var _ = AfterSuite(func() {
	if scenario != nil {
		Expect(scenario.Stop()).To(Succeed())
	}
})
