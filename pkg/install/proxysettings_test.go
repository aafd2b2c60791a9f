package install

import (
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/istio-module/operator/pkg/sidecarmode"
)

// TestProxySettingsSetToTheirDefaultsChangeNothing: a field set to the value
// used when it is unset gives the same settings, so no restart.
func TestProxySettingsSetToTheirDefaultsChangeNothing(t *testing.T) {
	g := NewWithT(t)
	unset := ProxySettingsFor(specFrom(g, `{}`))
	g.Expect(unset.IsZero()).To(BeFalse())
	for _, spec := range []string{
		`config: {numTrustedProxies: 0}`,
		`config: {forwardClientCertDetails: SANITIZE_SET}`,
		`config: {trustDomain: cluster.local}`,
		`config: {enableDNSProxying: false}`,
		`config: {telemetry: {metrics: {prometheusMerge: false}}}`,
		`config: {proxyStatsMatcher: {inclusionRegexps: []}}`,
		`components: {proxy: {k8s: {resources: {requests: {cpu: "0.1", memory: 128Mi}, limits: {cpu: "2", memory: 1Gi}}}}}`,
	} {
		t.Run(spec, func(t *testing.T) {
			g := NewWithT(t)
			set := ProxySettingsFor(specFrom(g, spec))
			g.Expect(set.Fingerprint()).To(Equal(unset.Fingerprint()))
			g.Expect(set.GatewayFingerprint()).To(Equal(unset.GatewayFingerprint()))
		})
	}
}

// TestProxySettingsFollowTheCR: each proxy-affecting field changes the
// fingerprint of what it restarts, as Kyma's restart table says.
func TestProxySettingsFollowTheCR(t *testing.T) {
	g := NewWithT(t)
	unset := ProxySettingsFor(specFrom(g, `{}`))
	for _, tc := range []struct {
		spec             string
		sidecar, gateway bool
	}{
		{`config: {numTrustedProxies: 1}`, false, true},
		{`config: {forwardClientCertDetails: APPEND_FORWARD}`, false, true},
		{`config: {trustDomain: example.org}`, true, true},
		{`config: {proxyStatsMatcher: {inclusionRegexps: [".*"]}}`, true, true},
		{`config: {enableDNSProxying: true}`, true, false},
		{`config: {telemetry: {metrics: {prometheusMerge: true}}}`, true, false},
		{`components: {proxy: {k8s: {resources: {limits: {memory: 1Gi}}}}}`, true, false},
		{`config: {gatewayExternalTrafficPolicy: Cluster}`, false, false},
		{`compatibilityMode: true`, false, false},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			g := NewWithT(t)
			s := ProxySettingsFor(specFrom(g, tc.spec))
			g.Expect(s.Fingerprint() != unset.Fingerprint()).To(Equal(tc.sidecar), "sidecar fingerprint changed")
			g.Expect(s.GatewayFingerprint() != unset.GatewayFingerprint()).To(Equal(tc.gateway), "gateway fingerprint changed")
		})
	}
}

// TestProxySettingsRendered: istiod records the settings on every pod it
// injects, and the ingress gateway's template carries its fingerprint; the
// default resources are the chart's.
func TestProxySettingsRendered(t *testing.T) {
	g := NewWithT(t)
	spec := specFrom(g, `config: {enableDNSProxying: true, numTrustedProxies: 2}`)
	d := testDecision()
	d.Proxy = ProxySettingsFor(spec)
	g.Expect(d.Proxy.RequestsCPU).To(Equal("100m"))
	g.Expect(d.Proxy.LimitsMemory).To(Equal("1Gi"))
	objs := render(g, spec, d, testOptions())

	cm := find(g, objs, "ConfigMap", "istio-sidecar-injector")
	var config map[string]any
	g.Expect(yaml.Unmarshal([]byte(field(cm.Object, "data", "config").(string)), &config)).To(Succeed())
	g.Expect(config["injectedAnnotations"]).To(HaveKeyWithValue(sidecarmode.AnnotationProxySettings, d.Proxy.Record()))

	g.Expect(workloadField(g, objs, "Deployment", IngressGatewayName, "spec", "template", "metadata", "annotations", sidecarmode.AnnotationProxySettings)).
		To(Equal(d.Proxy.GatewayFingerprint()))
}
