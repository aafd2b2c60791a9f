package install

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// defaultTrustDomain is the mesh's trust domain when the CR sets none: the
// istiod chart's.
const defaultTrustDomain = "cluster.local"

// ProxySettingsFor returns the proxy settings the spec gives running
// proxies, normalized: a field left unset and the same field set to the
// value the installer would use without it are equal, so setting an unset
// field to its default restarts nothing. They are what the installer records
// on injected pods and on the ingress gateway, and what the restarter checks
// pods against (through Decision.Proxy): one source for both.
func ProxySettingsFor(spec v1alpha2.IstioSpec) sidecarmode.ProxySettings {
	cfg := spec.Config
	s := sidecarmode.ProxySettings{
		PrometheusMerge:          cfg.Telemetry.Metrics.PrometheusMerge,
		TrustDomain:              defaultTrustDomain,
		ForwardClientCertDetails: string(v1alpha2.ForwardClientCertSanitizeSet),
	}
	if cfg.EnableDNSProxying != nil {
		s.DNSCapture = *cfg.EnableDNSProxying
	}
	if m := cfg.ProxyStatsMatcher; m != nil && len(m.InclusionRegexps) > 0 {
		s.StatsInclusionRegexps = slices.Sorted(slices.Values(m.InclusionRegexps))
	}
	if cfg.TrustDomain != nil {
		s.TrustDomain = *cfg.TrustDomain
	}
	if cfg.NumTrustedProxies != nil {
		s.NumTrustedProxies = int64(*cfg.NumTrustedProxies)
	}
	if cfg.ForwardClientCertDetails != nil {
		s.ForwardClientCertDetails = string(*cfg.ForwardClientCertDetails)
	}

	// The istio-proxy resources: the CR's exactly (a quantity left out is
	// removed, see resourcesValue), or the chart's defaults.
	var r *v1alpha2.Resources
	if p := spec.Components; p != nil && p.Proxy != nil && p.Proxy.K8s != nil {
		r = p.Proxy.K8s.Resources
	}
	if r == nil {
		s.RequestsCPU = canonicalQuantity(chartDefaultString(chartIstiod, "global", "proxy", "resources", "requests", "cpu"))
		s.RequestsMemory = canonicalQuantity(chartDefaultString(chartIstiod, "global", "proxy", "resources", "requests", "memory"))
		s.LimitsCPU = canonicalQuantity(chartDefaultString(chartIstiod, "global", "proxy", "resources", "limits", "cpu"))
		s.LimitsMemory = canonicalQuantity(chartDefaultString(chartIstiod, "global", "proxy", "resources", "limits", "memory"))
		return s
	}
	if q := r.Requests; q != nil {
		s.RequestsCPU, s.RequestsMemory = canonicalQuantityPtr(q.CPU), canonicalQuantityPtr(q.Memory)
	}
	if q := r.Limits; q != nil {
		s.LimitsCPU, s.LimitsMemory = canonicalQuantityPtr(q.CPU), canonicalQuantityPtr(q.Memory)
	}
	return s
}

func canonicalQuantityPtr(q *string) string {
	if q == nil {
		return ""
	}
	return canonicalQuantity(*q)
}

// canonicalQuantity writes equal quantities alike ("2000m" and "2").
func canonicalQuantity(q string) string {
	parsed, err := resource.ParseQuantity(q)
	if err != nil {
		return q
	}
	return parsed.String()
}

// chartDefaultString reads a default of this build's chart below its
// _internal_defaults_do_not_set key, as a string; "" when absent. (The proxy
// resources it is read for are the same in the charts of Istio 1.29.2, the
// only other release the tests install.)
func chartDefaultString(id chartID, path ...string) string {
	c, err := EmbeddedCharts().load(id)
	if err != nil {
		return ""
	}
	var cur any = c.Values["_internal_defaults_do_not_set"]
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}
