package podlist_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/internal/testenv"
	"github.com/istio-module/operator/pkg/podlist"
)

const pageLimit = 7

// The API server is started by the first test that needs one, not by
// TestMain: fuzz workers and benchmarks run TestMain too, and need none.
var (
	apiOnce sync.Once
	api     *testenv.Env
	apiErr  error
	// created is how many pods the tests created, and deleting how many of
	// them carry a deletion timestamp.
	created, deleting int
)

func TestMain(m *testing.M) {
	code := m.Run()
	if api != nil {
		if err := api.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop the API server: %v\n", err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// apiServerWithPods starts the package's API server and fills it with pods
// of the decode tests' variety, spread over three namespaces, some with a
// status, some being deleted (a finalizer keeps them).
func apiServerWithPods(t *testing.T) *testenv.Env {
	t.Helper()
	apiOnce.Do(func() {
		if api, apiErr = testenv.StartAPI(); apiErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Stays if createPods ends the test, so later tests do not run on
		// an empty server.
		apiErr = errors.New("creating the pods failed")
		apiErr = createPods(ctx, t, api.Client)
	})
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return api
}

func uniqueContainerNames(p *corev1.Pod) bool {
	seen := map[string]bool{}
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if seen[c.Name] {
			return false
		}
		seen[c.Name] = true
	}
	return true
}

func createPods(ctx context.Context, t *testing.T, c client.Client) error {
	namespaces := []string{"podlist-a", "podlist-b", "podlist-c"}
	for _, ns := range namespaces {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	var pods []*corev1.Pod
	for _, p := range podlist.SyntheticPods() {
		if len(p.Spec.Containers) > 0 { // the API server requires one
			pods = append(pods, p)
		}
	}
	for _, p := range podlist.InjectedPods(t, "native", "regular-cni", "native-hold") {
		// Istio's injector gives a pod asking for both the sidecar and the
		// grpc-agent templates two istio-proxy containers, which the API
		// server refuses; the testdata keeps it for sidecarmode's tests.
		if uniqueContainerNames(p) {
			pods = append(pods, p)
		}
	}
	pods = pods[:40]
	for i, want := range pods {
		pod := want.DeepCopy()
		pod.Namespace = namespaces[i%len(namespaces)]
		// Server-owned fields: the API server sets them, or refuses them.
		pod.UID, pod.ResourceVersion, pod.ManagedFields = "", "", nil
		pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = nil, nil
		pod.Status = corev1.PodStatus{}
		// What ServiceAccount admission fills in (off in API mode): Istio's
		// projected token volume is refused without it.
		if pod.Spec.ServiceAccountName == "" {
			pod.Spec.ServiceAccountName = "default"
		}
		if err := c.Create(ctx, pod); err != nil {
			return fmt.Errorf("create pod %s: %w", want.Name, err)
		}
		created++
		status := want.Status
		if status.Phase == "" && i%4 == 0 {
			status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		}
		if status.Phase != "" {
			pod.Status = status
			if err := c.Status().Update(ctx, pod); err != nil {
				return fmt.Errorf("set the status of pod %s: %w", want.Name, err)
			}
		}
		if want.DeletionTimestamp != nil {
			if len(pod.Finalizers) == 0 {
				return fmt.Errorf("pod %s would be deleted for good: it has no finalizer", want.Name)
			}
			if err := c.Delete(ctx, pod); err != nil {
				return fmt.Errorf("delete pod %s: %w", want.Name, err)
			}
			deleting++
		}
	}
	return nil
}

// roundTripperFunc turns a function into an http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// lister is a podlist.Lister over env's connection, with every request
// going through wrap.
func lister(t *testing.T, env *testenv.Env, wrap func(next http.RoundTripper, r *http.Request) (*http.Response, error)) *podlist.Lister {
	t.Helper()
	clientset, err := kubernetes.NewForConfig(wrapped(env, wrap))
	if err != nil {
		t.Fatal(err)
	}
	return podlist.New(clientset.CoreV1().RESTClient())
}

func wrapped(env *testenv.Env, wrap func(next http.RoundTripper, r *http.Request) (*http.Response, error)) *rest.Config {
	cfg := rest.CopyConfig(env.Config)
	if wrap != nil {
		cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(r *http.Request) (*http.Response, error) { return wrap(next, r) })
		})
	}
	return cfg
}

// contentTypes records the Content-Type of every response.
type contentTypes struct {
	mu   sync.Mutex
	seen []string
}

func (c *contentTypes) record(next http.RoundTripper, r *http.Request) (*http.Response, error) {
	resp, err := next.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.seen = append(c.seen, resp.Header.Get("Content-Type"))
		c.mu.Unlock()
	}
	return resp, err
}

// pageThroughAll calls Page until the last page and returns the pods and
// how many each page had.
func pageThroughAll(ctx context.Context, t *testing.T, l *podlist.Lister) (pods []*corev1.Pod, perPage []int) {
	t.Helper()
	cont := ""
	for {
		before := len(pods)
		next, err := l.Page(ctx, pageLimit, cont, func(p *corev1.Pod) { pods = append(pods, p) })
		if err != nil {
			t.Fatalf("page %d: %v", len(perPage)+1, err)
		}
		perPage = append(perPage, len(pods)-before)
		if next == "" {
			return pods, perPage
		}
		if len(perPage) > 100 {
			t.Fatalf("still paging after %d pages of %d pods", len(perPage), pageLimit)
		}
		cont = next
	}
}

// typedPods is what a typed LIST of all pods gives, reduced to Slim.
func typedPods(ctx context.Context, t *testing.T, env *testenv.Env) []*corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := env.Client.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		pods = append(pods, podlist.Slim(&list.Items[i]))
	}
	return pods
}

func expectSamePods(g Gomega, got, want []*corev1.Pod) {
	g.Expect(got).To(HaveLen(len(want)), "number of pods")
	for i := range want {
		g.Expect(got[i]).To(Equal(want[i]), func() string {
			return fmt.Sprintf("pod %d (%s/%s), -typed +paged:\n%s", i, want[i].Namespace, want[i].Name, cmp.Diff(want[i], got[i]))
		})
	}
}

// expectFullPages checks that every page but the last held pageLimit pods.
func expectFullPages(g Gomega, perPage []int, total int) {
	pages := (total + pageLimit - 1) / pageLimit
	g.Expect(perPage).To(HaveLen(pages), "pods per page: %v", perPage)
	for i, n := range perPage[:len(perPage)-1] {
		g.Expect(n).To(Equal(pageLimit), "pods on page %d of %v", i+1, perPage)
	}
	g.Expect(perPage[len(perPage)-1]).To(Equal(total - pageLimit*(pages-1)))
}

func TestPageListsEveryPodOverProtobuf(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	responses := &contentTypes{}
	got, perPage := pageThroughAll(ctx, t, lister(t, env, responses.record))

	want := typedPods(ctx, t, env)
	g.Expect(want).To(HaveLen(created), "pods on the API server")
	expectFullPages(g, perPage, len(want))
	expectSamePods(g, got, want)

	// The shapes that matter reached the comparison, not only plain pods.
	var deleted, running, owned, annotated int
	for _, p := range got {
		if p.DeletionTimestamp != nil {
			deleted++
		}
		if p.Status.Phase == corev1.PodRunning && len(p.Status.Conditions) > 0 {
			running++
		}
		if len(p.OwnerReferences) > 0 {
			owned++
		}
		if len(p.Annotations) > 0 {
			annotated++
		}
	}
	g.Expect(deleted).To(Equal(deleting), "pods with a deletion timestamp")
	g.Expect(running).To(BeNumerically(">=", 5), "running pods with conditions")
	g.Expect(owned).To(BeNumerically(">=", 10), "pods with owner references")
	g.Expect(annotated).To(BeNumerically(">=", 20), "pods with annotations")

	g.Expect(responses.seen).To(HaveLen(len(perPage)))
	g.Expect(responses.seen).To(HaveEach(Equal("application/vnd.kubernetes.protobuf")), "response content types")
}

// NewForConfig makes its own client: it must negotiate as New's does.
func TestNewForConfigListsEveryPodOverProtobuf(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	responses := &contentTypes{}
	l, err := podlist.NewForConfig(wrapped(env, responses.record))
	g.Expect(err).NotTo(HaveOccurred())
	got, perPage := pageThroughAll(ctx, t, l)

	want := typedPods(ctx, t, env)
	expectFullPages(g, perPage, len(want))
	expectSamePods(g, got, want)
	g.Expect(responses.seen).To(HaveEach(Equal("application/vnd.kubernetes.protobuf")), "response content types")
}

// A Lister scoped to a namespace pages through that namespace's pods only,
// and together the namespaces hold every pod.
func TestInNamespaceListsThatNamespaceOnly(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	all := lister(t, env, nil)
	want := typedPods(ctx, t, env)
	total := 0
	for _, ns := range []string{"podlist-a", "podlist-b", "podlist-c"} {
		got, perPage := pageThroughAll(ctx, t, all.InNamespace(ns))
		var inNamespace []*corev1.Pod
		for _, p := range want {
			if p.Namespace == ns {
				inNamespace = append(inNamespace, p)
			}
		}
		g.Expect(inNamespace).NotTo(BeEmpty(), "pods created in %s", ns)
		expectFullPages(g, perPage, len(inNamespace))
		expectSamePods(g, got, inNamespace)
		total += len(got)
	}
	g.Expect(total).To(Equal(len(want)), "pods in the three namespaces")

	got, _ := pageThroughAll(ctx, t, all.InNamespace("podlist-a").InNamespace(""))
	g.Expect(got).To(HaveLen(len(want)), `InNamespace("") lists all namespaces again`)
}

// An API server or proxy that answers in JSON only: Page must give the
// same pods.
func TestPageListsEveryPodOverJSON(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	responses := &contentTypes{}
	jsonOnly := func(next http.RoundTripper, r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Accept", "application/json")
		return responses.record(next, r)
	}
	got, perPage := pageThroughAll(ctx, t, lister(t, env, jsonOnly))

	want := typedPods(ctx, t, env)
	expectFullPages(g, perPage, len(want))
	expectSamePods(g, got, want)
	g.Expect(responses.seen).To(HaveLen(len(perPage)))
	g.Expect(responses.seen).To(HaveEach(Equal("application/json")), "response content types")
}

// statusResponse answers as kube-apiserver does when it refuses a request.
func statusResponse(r *http.Request, code int, reason metav1.StatusReason, message string) *http.Response {
	body := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, message, reason, code)
	return &http.Response{
		StatusCode: code,
		Status:     fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// The restarter starts its scan over when the continue token has expired:
// it must be able to tell that error apart.
func TestPageReportsAnExpiredContinueToken(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const message = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter."
	expireTokens := func(next http.RoundTripper, r *http.Request) (*http.Response, error) {
		if r.URL.Query().Has("continue") {
			return statusResponse(r, http.StatusGone, metav1.StatusReasonExpired, message), nil
		}
		return next.RoundTrip(r)
	}
	l := lister(t, env, expireTokens)

	var first int
	cont, err := l.Page(ctx, pageLimit, "", func(*corev1.Pod) { first++ })
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(first).To(Equal(pageLimit))
	g.Expect(cont).NotTo(BeEmpty())

	var second int
	next, err := l.Page(ctx, pageLimit, cont, func(*corev1.Pod) { second++ })
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsResourceExpired(err)).To(BeTrue(), "IsResourceExpired(%v)", err)
	g.Expect(err.Error()).To(ContainSubstring("continue parameter is too old"))
	g.Expect(next).To(BeEmpty())
	g.Expect(second).To(BeZero(), "pods handed over with the error")
}

func TestPageReportsForbidden(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const message = `pods is forbidden: User "system:serviceaccount:kyma-system:istio-operator" cannot list resource "pods" in API group "" at the cluster scope`
	forbid := func(_ http.RoundTripper, r *http.Request) (*http.Response, error) {
		return statusResponse(r, http.StatusForbidden, metav1.StatusReasonForbidden, message), nil
	}
	var called int
	_, err := lister(t, env, forbid).Page(ctx, pageLimit, "", func(*corev1.Pod) { called++ })
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "IsForbidden(%v)", err)
	g.Expect(apierrors.IsResourceExpired(err)).To(BeFalse())
	g.Expect(err.Error()).To(ContainSubstring("cannot list resource"))
	g.Expect(called).To(BeZero())
}

func TestPageStopsOnACancelledContext(t *testing.T) {
	g := NewWithT(t)
	env := apiServerWithPods(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	var called int
	next, err := lister(t, env, nil).Page(ctx, pageLimit, "", func(*corev1.Pod) { called++ })
	g.Expect(err).To(HaveOccurred())
	g.Expect(errors.Is(err, context.Canceled)).To(BeTrue(), "errors.Is(%v, context.Canceled)", err)
	g.Expect(next).To(BeEmpty())
	g.Expect(called).To(BeZero())
}
