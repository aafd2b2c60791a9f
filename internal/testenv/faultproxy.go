package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Fault is one way the fault proxy fails a request.
type Fault string

// The faults the proxy injects. Each applies to some requests only; a
// request drawn for a fault gets one of those that apply to it.
const (
	// FaultServerError answers 500 Internal Server Error without forwarding.
	// Any request.
	FaultServerError Fault = "500"
	// FaultThrottle answers 429 Too Many Requests with a Retry-After header
	// (FaultOptions.RetryAfter) without forwarding, as API Priority and
	// Fairness does. Any request.
	FaultThrottle Fault = "429"
	// FaultConflict answers 409 Conflict without forwarding, as a write with
	// a stale resourceVersion gets. Writes (POST, PUT, PATCH, DELETE).
	FaultConflict Fault = "409"
	// FaultExpired answers 410 Gone (reason Expired) to a list continuation,
	// as when etcd compacted the continue token's revision. GETs with a
	// continue parameter.
	FaultExpired Fault = "410"
	// FaultReset forwards the request, sends the response's status, headers
	// and half its body, then drops the connection. Reads (GET, not watches).
	FaultReset Fault = "reset"
	// FaultLostResponse forwards the request, so the API server carries it
	// out, then drops the connection before any of the response: the client
	// sees an error for a write that succeeded. Writes.
	FaultLostResponse Fault = "lost"
)

// AllFaults are every Fault, the default of FaultOptions.Faults.
var AllFaults = []Fault{FaultServerError, FaultThrottle, FaultConflict, FaultExpired, FaultReset, FaultLostResponse}

// FaultOptions configure a FaultProxy.
type FaultOptions struct {
	// Rate is the share of requests that fail, 0 to 1. Requests no chosen
	// fault applies to (a watch drawn when only FaultLostResponse is on) pass.
	Rate float64
	// Seed makes the sequence of draws repeatable for one sequence of
	// requests (concurrent clients still interleave differently).
	Seed int64
	// Faults are the faults to inject; empty means AllFaults.
	Faults []Fault
	// RetryAfter is the Retry-After of FaultThrottle, rounded up to whole
	// seconds; default 1s.
	RetryAfter time.Duration
	// Exempt, when set, names requests that always pass (and are not drawn
	// for), e.g. EventWrites.
	Exempt func(*http.Request) bool
	// Observe, when set, sees every request before it is drawn for, e.g. to
	// count a client's writes by resource (at Rate 0 the proxy only counts).
	// It is called from the proxy's handlers, concurrently.
	Observe func(*http.Request)
}

// EventWrites are the requests that write Events (core or events.k8s.io).
func EventWrites(r *http.Request) bool {
	return r.Method != http.MethodGet && (strings.Contains(r.URL.Path, "/events.k8s.io/") || strings.HasSuffix(r.URL.Path, "/events") ||
		strings.Contains(r.URL.Path, "/events/"))
}

// FaultProxy is an HTTP proxy on 127.0.0.1 between clients and the test API
// server that fails a share of the requests: with an error status, by
// cutting a response short, or by losing the response of a write the API
// server carried out. Clients connect with Config (plain HTTP to the proxy;
// the proxy talks TLS and authenticates to the API server as the target
// config does). Streaming responses (watches) pass through unbuffered.
type FaultProxy struct {
	target    *rest.Config
	targetURL *url.URL
	transport http.RoundTripper
	pass      *httputil.ReverseProxy
	listener  net.Listener
	server    *http.Server
	retryAt   int

	mu       sync.Mutex
	rng      *rand.Rand
	rate     float64
	faults   []Fault
	exempt   func(*http.Request) bool
	observe  func(*http.Request)
	requests int64
	injected map[Fault]int64
}

// StartFaultProxy starts a FaultProxy in front of the environment's API
// server; Stop closes it.
func (e *Env) StartFaultProxy(o FaultOptions) (*FaultProxy, error) {
	p, err := NewFaultProxy(e.Config, o)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.cleanups = append(e.cleanups, func() { _ = p.Close() })
	e.mu.Unlock()
	return p, nil
}

// NewFaultProxy starts a FaultProxy in front of the API server of target.
func NewFaultProxy(target *rest.Config, o FaultOptions) (*FaultProxy, error) {
	if o.Rate < 0 || o.Rate > 1 {
		return nil, fmt.Errorf("fault rate %v is not between 0 and 1", o.Rate)
	}
	if len(o.Faults) == 0 {
		o.Faults = AllFaults
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	host := target.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("parse the API server's address %q: %w", target.Host, err)
	}
	rt, err := rest.TransportFor(target)
	if err != nil {
		return nil, fmt.Errorf("build the transport to the API server: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{
		target:    target,
		targetURL: u,
		transport: rt,
		listener:  ln,
		retryAt:   int((o.RetryAfter + time.Second - 1) / time.Second),
		rng:       rand.New(rand.NewSource(o.Seed)),
		rate:      o.Rate,
		faults:    append([]Fault(nil), o.Faults...),
		exempt:    o.Exempt,
		observe:   o.Observe,
		injected:  map[Fault]int64{},
	}
	p.pass = &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     rt,
		FlushInterval: -1,
	}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

// Config connects to the API server through the proxy, with the target's
// client-side rate limits.
func (p *FaultProxy) Config() *rest.Config {
	return &rest.Config{Host: "http://" + p.listener.Addr().String(), QPS: p.target.QPS, Burst: p.target.Burst}
}

// SetRate changes the share of requests that fail from now on.
func (p *FaultProxy) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// FaultStats counts the proxy's requests and the faults it injected.
type FaultStats struct {
	Requests int64
	Injected map[Fault]int64
}

// Total is the number of requests that got a fault.
func (s FaultStats) Total() int64 {
	var n int64
	for _, c := range s.Injected {
		n += c
	}
	return n
}

// String is "1234 requests, 245 faults (409: 40, 429: 41, ...)".
func (s FaultStats) String() string {
	parts := make([]string, 0, len(s.Injected))
	for f, c := range s.Injected {
		parts = append(parts, fmt.Sprintf("%s: %d", f, c))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d requests, %d faults (%s)", s.Requests, s.Total(), strings.Join(parts, ", "))
}

// Stats returns the counts so far.
func (p *FaultProxy) Stats() FaultStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := FaultStats{Requests: p.requests, Injected: make(map[Fault]int64, len(p.injected))}
	for f, c := range p.injected {
		s.Injected[f] = c
	}
	return s
}

// Close stops the proxy and drops its connections.
func (p *FaultProxy) Close() error {
	err := p.server.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeHTTP draws whether the request fails, and how.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.observe != nil {
		p.observe(r)
	}
	switch p.draw(r) {
	case FaultServerError:
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError,
			"Internal error occurred: injected by the fault proxy", 0)
	case FaultThrottle:
		writeStatus(w, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests,
			"Too many requests, please try again later (injected by the fault proxy)", p.retryAt)
	case FaultConflict:
		writeStatus(w, http.StatusConflict, metav1.StatusReasonConflict,
			"Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected by the fault proxy)", 0)
	case FaultExpired:
		writeStatus(w, http.StatusGone, metav1.StatusReasonExpired,
			"The provided continue parameter is too old to display a consistent list result (injected by the fault proxy)", 0)
	case FaultReset:
		p.cutShort(w, r)
	case FaultLostResponse:
		p.loseResponse(r)
	default:
		p.pass.ServeHTTP(w, r)
	}
}

// draw picks the request's fault, "" for none.
func (p *FaultProxy) draw(r *http.Request) Fault {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	watch := r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" || strings.Contains(r.URL.Path, "/watch/")
	continuation := r.Method == http.MethodGet && r.URL.Query().Get("continue") != ""
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	if p.exempt != nil && p.exempt(r) {
		return ""
	}
	if p.rate <= 0 || p.rng.Float64() >= p.rate {
		return ""
	}
	applicable := make([]Fault, 0, len(p.faults))
	for _, f := range p.faults {
		switch {
		case f == FaultConflict && !write,
			f == FaultLostResponse && !write,
			f == FaultExpired && !continuation,
			f == FaultReset && (write || watch):
			continue
		}
		applicable = append(applicable, f)
	}
	if len(applicable) == 0 {
		return ""
	}
	f := applicable[p.rng.Intn(len(applicable))]
	p.injected[f]++
	return f
}

// forward sends the request to the API server and reads the whole response.
func (p *FaultProxy) forward(r *http.Request) (*http.Response, []byte, error) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.targetURL.Scheme, p.targetURL.Host
	out.Host = p.targetURL.Host
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// cutShort forwards a read and drops the connection halfway through the
// response body.
func (p *FaultProxy) cutShort(w http.ResponseWriter, r *http.Request) {
	resp, body, err := p.forward(r)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body[:len(body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}

// loseResponse forwards a write, so the API server carries it out, and drops
// the connection without answering.
func (p *FaultProxy) loseResponse(r *http.Request) {
	_, _, _ = p.forward(r)
	panic(http.ErrAbortHandler)
}

// writeStatus answers as the API server does: a Status body, and for
// retryAfter > 0 the Retry-After header and its seconds in the details.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string, retryAfter int) {
	status := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  message,
		Reason:   reason,
		Code:     int32(code),
	}
	if retryAfter > 0 {
		status.Details = &metav1.StatusDetails{RetryAfterSeconds: int32(retryAfter)}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
