package testenv_test

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/testenv"
)

var _ = Describe("fault proxy", func() {
	// through is a client of apiEnv's API server through a proxy with one
	// kind of fault on every request it applies to. client-go's own retries
	// are off, so each call is one request.
	through := func(f testenv.Fault) (client.Client, *testenv.FaultProxy) {
		GinkgoHelper()
		p, err := testenv.NewFaultProxy(apiEnv.Config, testenv.FaultOptions{Rate: 1, Faults: []testenv.Fault{f}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		cfg := p.Config()
		c, err := client.New(cfg, client.Options{Scheme: apiEnv.Scheme})
		Expect(err).NotTo(HaveOccurred())
		return c, p
	}
	configMap := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	}

	It("passes every request at rate 0", func(ctx context.Context) {
		p, err := testenv.NewFaultProxy(apiEnv.Config, testenv.FaultOptions{Rate: 0})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		c, err := client.New(p.Config(), client.Options{Scheme: apiEnv.Scheme})
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Create(ctx, configMap("fp-pass"))).To(Succeed())
		Expect(c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "fp-pass"}, &corev1.ConfigMap{})).To(Succeed())
		Expect(p.Stats().Requests).To(BeNumerically(">=", 2))
		Expect(p.Stats().Total()).To(BeZero())
	})

	It("answers 500, and 409 on writes, without forwarding", func(ctx context.Context) {
		c, _ := through(testenv.FaultServerError)
		err := c.Create(ctx, configMap("fp-500"))
		Expect(apierrors.IsInternalError(err)).To(BeTrue(), "%v", err)

		c, _ = through(testenv.FaultConflict)
		err = c.Create(ctx, configMap("fp-409"))
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)
		// Reads pass: 409 applies to writes only.
		Expect(apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "fp-409"}, &corev1.ConfigMap{}))).To(BeTrue())
	})

	It("answers 429 with Retry-After, which client-go honours by retrying", func(ctx context.Context) {
		p, err := testenv.NewFaultProxy(apiEnv.Config, testenv.FaultOptions{Rate: 1, Faults: []testenv.Fault{testenv.FaultThrottle}})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		// A raw request sees the header.
		rc, err := rest.RESTClientFor(withGroupVersion(p.Config()))
		Expect(err).NotTo(HaveOccurred())
		res := rc.Get().AbsPath("/api/v1/namespaces/default/configmaps").MaxRetries(0).Do(ctx)
		Expect(apierrors.IsTooManyRequests(res.Error())).To(BeTrue(), "%v", res.Error())
		delay, ok := apierrors.SuggestsClientDelay(res.Error())
		Expect(ok).To(BeTrue())
		Expect(delay).To(Equal(1))
		// With its retries, client-go tries again after Retry-After; at rate 1
		// each retry is throttled too.
		before := p.Stats().Requests
		res = rc.Get().AbsPath("/api/v1/namespaces/default/configmaps").MaxRetries(1).Do(ctx)
		Expect(apierrors.IsTooManyRequests(res.Error())).To(BeTrue())
		Expect(p.Stats().Requests - before).To(Equal(int64(2)))
	})

	It("answers 410 Expired to list continuations only", func(ctx context.Context) {
		for i := range 3 {
			Expect(apiEnv.Client.Create(ctx, configMap(fmt.Sprintf("fp-list-%d", i)))).To(Succeed())
		}
		c, _ := through(testenv.FaultExpired)
		var first corev1.ConfigMapList
		Expect(c.List(ctx, &first, client.InNamespace("default"), client.Limit(1))).To(Succeed())
		Expect(first.Continue).NotTo(BeEmpty())
		err := c.List(ctx, &corev1.ConfigMapList{}, client.InNamespace("default"), client.Limit(1), client.Continue(first.Continue))
		Expect(apierrors.IsResourceExpired(err)).To(BeTrue(), "%v", err)
	})

	It("cuts a read short mid-response", func(ctx context.Context) {
		Expect(apiEnv.Client.Create(ctx, configMap("fp-reset"))).To(Succeed())
		c, p := through(testenv.FaultReset)
		err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "fp-reset"}, &corev1.ConfigMap{})
		Expect(err).To(HaveOccurred())
		Expect(apierrors.ReasonForError(err)).To(Equal(metav1.StatusReasonUnknown), "not an API status: %v", err)
		Expect(p.Stats().Injected[testenv.FaultReset]).To(BeNumerically(">=", 1))
	})

	It("loses the response of a write the API server carried out", func(ctx context.Context) {
		Expect(apiEnv.Client.Create(ctx, configMap("fp-lost"))).To(Succeed())
		c, _ := through(testenv.FaultLostResponse)
		patch := []byte(`{"metadata":{"annotations":{"written":"yes"}}}`)
		err := c.Patch(ctx, configMap("fp-lost"), client.RawPatch(types.MergePatchType, patch))
		Expect(err).To(HaveOccurred())
		var got corev1.ConfigMap
		Expect(apiEnv.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "fp-lost"}, &got)).To(Succeed())
		Expect(got.Annotations).To(HaveKeyWithValue("written", "yes"))
	})

	It("fails about the given share of requests, the same ones for the same seed", func(ctx context.Context) {
		run := func() []bool {
			p, err := testenv.NewFaultProxy(apiEnv.Config, testenv.FaultOptions{Rate: 0.2, Seed: 7, Faults: []testenv.Fault{testenv.FaultServerError}})
			Expect(err).NotTo(HaveOccurred())
			defer p.Close()
			rc, err := rest.RESTClientFor(withGroupVersion(p.Config()))
			Expect(err).NotTo(HaveOccurred())
			failed := make([]bool, 200)
			for i := range failed {
				failed[i] = rc.Get().AbsPath("/api/v1/namespaces/default").MaxRetries(0).Do(ctx).Error() != nil
			}
			return failed
		}
		a := run()
		Expect(run()).To(Equal(a))
		n := 0
		for _, f := range a {
			if f {
				n++
			}
		}
		Expect(n).To(BeNumerically("~", 40, 20))
	})
})

func withGroupVersion(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	return cfg
}
