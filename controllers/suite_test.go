package controllers_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/istio-module/operator/controllers"
	"github.com/istio-module/operator/internal/testenv"
)

// End-to-end: the real manager against a real cluster (API server,
// controller-manager, scheduler, kwok nodes) with the real istiod running
// locally as the sidecar injector.
func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Istio controller end-to-end suite")
}

var (
	env    *testenv.Env
	istiod *testenv.Istiod
	// operator is the identity the manager runs as: the ServiceAccount of
	// config/default with its RBAC, so a permission the deployed operator
	// lacks fails a test. env.Client stays admin.
	operator *testenv.OperatorIdentity
	// writes counts the manager's write requests (POST, PUT, PATCH, DELETE).
	writes atomic.Int64
)

var _ = BeforeSuite(func() {
	// The manager's log, shown for failed specs: a permission it lacks shows
	// there first.
	ctrl.SetLogger(funcr.New(func(prefix, args string) {
		GinkgoWriter.Println(prefix, args)
	}, funcr.Options{}))
	var err error
	env, err = testenv.StartCluster()
	Expect(err).NotTo(HaveOccurred())
	istiod, err = env.StartIstiod()
	Expect(err).NotTo(HaveOccurred())
	operator, err = env.DeployOperatorRBAC(context.Background())
	Expect(err).NotTo(HaveOccurred())
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

// runningManager is an operator started by a test.
type runningManager struct {
	reconciler *controllers.IstioReconciler
	// metricsURL is its metrics endpoint, served as deployed: HTTPS behind
	// the API server's authentication and authorization.
	metricsURL string
	// elected is closed once it leads (at once without leader election).
	elected <-chan struct{}
	stop    func()
}

// startManager runs the real manager as the given module release, under the
// operator's ServiceAccount, until the returned stop is called. Its requests
// are counted in writes. tune changes its options, including those tests
// reach only from Go (another release row, another Istio's charts).
func startManager(module string, tune ...func(*controllers.ManagerOptions)) *runningManager {
	GinkgoHelper()
	cfg := rest.CopyConfig(operator.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countWrites{rt} })
	metricsAddr := freeAddress()
	opts := controllers.ManagerOptions{
		MetricsAddr:          metricsAddr,
		ProbeAddr:            "0",
		ResyncPeriod:         time.Hour,
		ProgressRequeue:      500 * time.Millisecond,
		WarningRequeue:       time.Second,
		MaxConcurrentRollout: 5,
		PageSize:             500,
		IstioNamespace:       testenv.IstioNamespace,
		IstiodRemoteURL:      istiod.URL(),
		ModuleVersion:        module,
		ShutdownTimeout:      10 * time.Second,
		SkipNameValidation:   true,
	}
	for _, t := range tune {
		t(&opts)
	}
	mgr, rec, err := controllers.NewManager(cfg, opts)
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return &runningManager{reconciler: rec, metricsURL: "https://" + metricsAddr + "/metrics", elected: mgr.Elected(),
		stop: func() { cancel(); <-done }}
}

// freeAddress is a loopback address with a port nothing listens on now.
// controller-runtime does not tell which port it bound for ":0".
func freeAddress() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

type countWrites struct{ next http.RoundTripper }

func (c countWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		writes.Add(1)
	}
	return c.next.RoundTrip(req)
}
