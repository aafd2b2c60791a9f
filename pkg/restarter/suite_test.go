package restarter_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/install"
	"github.com/istio-module/operator/pkg/podlist"
)

// The restarter suite runs in cluster mode: a real API server, controller
// manager, scheduler and kwok nodes, Istio installed by the installer and the
// real istiod running locally as the sidecar injector. Proxies are injected
// by Istio itself, and rollouts and evictions converge for real.
func TestRestarter(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(3 * time.Minute)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "Restarter suite")
}

var (
	env       *testenv.Env
	istiod    *testenv.Istiod
	installer *install.Installer
	// pods lists pods as the operator does; specs pass it to the restarter.
	pods *podlist.Lister
	// operator is the deployed operator's ServiceAccount (config/default's
	// RBAC), which every restarter in this suite runs as; operatorClient
	// connects as it. env.Client stays admin for the specs' own setup.
	operator       *testenv.OperatorIdentity
	operatorClient client.Client
)

var _ = BeforeSuite(func() {
	ctrl.SetLogger(funcr.New(func(prefix, args string) {
		GinkgoWriter.Println(prefix, args)
	}, funcr.Options{Verbosity: 1}))
	var err error
	env, err = testenv.StartCluster()
	Expect(err).NotTo(HaveOccurred())
	istiod, err = env.StartIstiod()
	Expect(err).NotTo(HaveOccurred())
	operator, err = env.DeployOperatorRBAC(context.Background())
	Expect(err).NotTo(HaveOccurred())
	operatorClient, err = client.New(operator.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	pods, err = podlist.NewForConfig(operator.Config)
	Expect(err).NotTo(HaveOccurred())
	installer = install.New(env.Client, install.Options{
		KubeVersion:     testenv.KubeletVersion,
		IstiodRemoteURL: istiod.URL(),
	})
})

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() && env != nil {
		env.KeepLogs()
	}
})

var _ = AfterSuite(func() {
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})
