package sidecarmode

import (
	"testing"

	. "github.com/onsi/gomega"
)

func defaultSettings() ProxySettings {
	return ProxySettings{TrustDomain: "cluster.local", RequestsCPU: "100m", RequestsMemory: "128Mi", LimitsCPU: "2", LimitsMemory: "1Gi",
		ForwardClientCertDetails: "SANITIZE_SET"}
}

func TestStaleSettings(t *testing.T) {
	base := defaultSettings()
	with := func(change func(*ProxySettings)) ProxySettings {
		s := defaultSettings()
		change(&s)
		return s
	}
	dnsOn := with(func(s *ProxySettings) { s.DNSCapture = true })
	mergeOn := with(func(s *ProxySettings) { s.PrometheusMerge = true })
	stats := with(func(s *ProxySettings) { s.StatsInclusionRegexps = []string{".*upstream_rq.*"} })
	trust := with(func(s *ProxySettings) { s.TrustDomain = "example.org" })
	cpu := with(func(s *ProxySettings) { s.RequestsCPU = "200m" })
	memLimit := with(func(s *ProxySettings) { s.LimitsMemory = "" })
	gateway := with(func(s *ProxySettings) { s.NumTrustedProxies = 2; s.ForwardClientCertDetails = "APPEND_FORWARD" })

	for _, tc := range []struct {
		name        string
		injected    ProxySettings // recorded on the pod; zero: no record
		annotations map[string]string
		want        ProxySettings
		stale       string // "" or the message
	}{
		{name: "same settings", injected: base, want: base},
		{name: "no record: injected before settings were recorded", want: dnsOn},
		{name: "settings unknown", injected: base},
		{name: "DNS proxying turned on", injected: base, want: dnsOn, stale: "injected under other enableDNSProxying"},
		{name: "DNS proxying set by the pod itself", injected: base, want: dnsOn,
			annotations: map[string]string{"proxy.istio.io/config": "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"false\"\n"}},
		{name: "metrics merge turned on", injected: base, want: mergeOn, stale: "injected under other prometheusMerge"},
		{name: "metrics merge turned off", injected: mergeOn, want: base, stale: "injected under other prometheusMerge"},
		{name: "metrics merge decided by the pod", injected: mergeOn, want: base,
			annotations: map[string]string{"prometheus.istio.io/merge-metrics": "true"}},
		{name: "a pod not scraped is not merged either way", injected: base, want: mergeOn,
			annotations: map[string]string{"prometheus.io/scrape": "false", "prometheus.io/port": "8080"}},
		{name: "a pod with its own prometheus.io port and path is still merged", injected: base, want: mergeOn,
			annotations: map[string]string{"prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus"},
			stale:       "injected under other prometheusMerge"},
		{name: "stats matcher", injected: base, want: stats, stale: "injected under other proxyStatsMatcher"},
		{name: "stats matcher set by the pod", injected: base, want: stats,
			annotations: map[string]string{"sidecar.istio.io/statsInclusionRegexps": ".*"}},
		{name: "trust domain", injected: base, want: trust, stale: "injected under other trustDomain"},
		{name: "cpu request", injected: base, want: cpu, stale: "injected under other proxy requests.cpu"},
		{name: "cpu request set by the pod", injected: base, want: cpu,
			annotations: map[string]string{"sidecar.istio.io/proxyCPU": "50m"}},
		{name: "the pod's cpu request does not hide a memory limit change", injected: base, want: memLimit,
			annotations: map[string]string{"sidecar.istio.io/proxyCPU": "50m"}, stale: "injected under other proxy limits.memory"},
		{name: "two settings", injected: base, want: with(func(s *ProxySettings) { s.DNSCapture = true; s.TrustDomain = "x" }),
			stale: "injected under other enableDNSProxying, trustDomain"},
		{name: "gateway-only settings do not touch sidecars", injected: base, want: gateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			annotations := map[string]string{}
			for k, v := range tc.annotations {
				annotations[k] = v
			}
			if r := tc.injected.Record(); r != "" {
				annotations[AnnotationProxySettings] = r
			}
			got := staleSettings(annotations, tc.want)
			if tc.stale == "" {
				g.Expect(got).To(BeNil())
				return
			}
			g.Expect(got).NotTo(BeNil())
			g.Expect(got.Kind).To(Equal(ReasonWrongSettings))
			g.Expect(got.Message).To(Equal(tc.stale))
		})
	}
}

func TestFingerprints(t *testing.T) {
	g := NewWithT(t)
	base := defaultSettings()
	g.Expect(ProxySettings{}.Fingerprint()).To(BeEmpty())
	g.Expect(ProxySettings{}.GatewayFingerprint()).To(BeEmpty())
	g.Expect(base.Fingerprint()).To(HaveLen(10))

	// The order of the regexps does not matter.
	a, b := defaultSettings(), defaultSettings()
	a.StatsInclusionRegexps = []string{"x", "y"}
	b.StatsInclusionRegexps = []string{"y", "x"}
	g.Expect(a.Fingerprint()).To(Equal(b.Fingerprint()))
	g.Expect(a.GatewayFingerprint()).To(Equal(b.GatewayFingerprint()))
	g.Expect(a.Fingerprint()).NotTo(Equal(base.Fingerprint()))

	// Sidecar settings and gateway settings, as Kyma's restart table has them.
	for _, tc := range []struct {
		name             string
		change           func(*ProxySettings)
		sidecar, gateway bool
	}{
		{"numTrustedProxies", func(s *ProxySettings) { s.NumTrustedProxies = 1 }, false, true},
		{"forwardClientCertDetails", func(s *ProxySettings) { s.ForwardClientCertDetails = "APPEND_FORWARD" }, false, true},
		{"trustDomain", func(s *ProxySettings) { s.TrustDomain = "example.org" }, true, true},
		{"proxyStatsMatcher", func(s *ProxySettings) { s.StatsInclusionRegexps = []string{"x"} }, true, true},
		{"enableDNSProxying", func(s *ProxySettings) { s.DNSCapture = true }, true, false},
		{"prometheusMerge", func(s *ProxySettings) { s.PrometheusMerge = true }, true, false},
		{"proxy resources", func(s *ProxySettings) { s.LimitsCPU = "1" }, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			s := defaultSettings()
			tc.change(&s)
			g.Expect(s.Fingerprint() != base.Fingerprint()).To(Equal(tc.sidecar), "sidecar fingerprint changed")
			g.Expect(s.GatewayFingerprint() != base.GatewayFingerprint()).To(Equal(tc.gateway), "gateway fingerprint changed")
		})
	}
}

func TestTargetCarriesTheSettingsFingerprint(t *testing.T) {
	g := NewWithT(t)
	d := Decision{IstioVersion: "1.30.2", DefaultType: Native}
	g.Expect(d.Target()).To(Equal("1.30.2/native"))
	d.Proxy = defaultSettings()
	g.Expect(d.Target()).To(Equal("1.30.2/native/" + d.Proxy.Fingerprint()))
}

func TestStaleReportsWrongSettings(t *testing.T) {
	g := NewWithT(t)
	d := Decision{IstioVersion: "1.30.2", DefaultType: Native, Proxy: defaultSettings()}
	old := defaultSettings()
	old.DNSCapture = true
	p := Proxy{Layout: LayoutNative, Version: "1.30.2"}
	reasons := StaleProxy(p, map[string]string{AnnotationProxySettings: old.Record()}, d)
	g.Expect(reasons).To(ConsistOf(StaleReason{Kind: ReasonWrongSettings, Message: "injected under other enableDNSProxying"}))
	// Gateways are never stale.
	g.Expect(StaleProxy(Proxy{Layout: LayoutGateway, Version: "1.30.2"}, map[string]string{AnnotationProxySettings: old.Record()}, d)).To(BeEmpty())
}
