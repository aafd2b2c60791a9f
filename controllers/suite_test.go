package controllers_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"

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
	// writes counts the manager's write requests (POST, PUT, PATCH, DELETE).
	writes atomic.Int64
)

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.StartCluster()
	Expect(err).NotTo(HaveOccurred())
	istiod, err = env.StartIstiod()
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
	stop       func()
}

// startManager runs the real manager as the given module release until the
// returned stop is called. Its requests are counted in writes. seams set the
// options tests reach only from Go (another release row, another Istio's
// charts).
func startManager(module string, seams ...func(*controllers.ManagerOptions)) *runningManager {
	GinkgoHelper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countWrites{rt} })
	opts := controllers.ManagerOptions{
		MetricsAddr:          "0",
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
	for _, seam := range seams {
		seam(&opts)
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
	return &runningManager{reconciler: rec, stop: func() { cancel(); <-done }}
}

type countWrites struct{ next http.RoundTripper }

func (c countWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		writes.Add(1)
	}
	return c.next.RoundTrip(req)
}
