package sidecarmode

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AnnotationProxySettings is the record of the proxy settings a pod was
// injected under: istiod adds it to every pod it injects (the injector's
// injectedAnnotations, set by the installer from ProxySettings.Record), so
// the restarter can tell, pod by pod, which settings its running proxy took.
// On the ingress gateway's pod template it holds GatewayFingerprint.
const AnnotationProxySettings = "operator.kyma-project.io/proxy-settings"

// Pod annotations with which a pod sets a proxy setting for itself; a pod
// that carries one is not stale for the setting it overrides.
const (
	annotationProxyConfig       = "proxy.istio.io/config"
	annotationProxyCPU          = "sidecar.istio.io/proxyCPU"
	annotationProxyCPULimit     = "sidecar.istio.io/proxyCPULimit"
	annotationProxyMemory       = "sidecar.istio.io/proxyMemory"
	annotationProxyMemoryLimit  = "sidecar.istio.io/proxyMemoryLimit"
	annotationStatsInclusion    = "sidecar.istio.io/statsInclusionRegexps"
	annotationStatsPrefixes     = "sidecar.istio.io/statsInclusionPrefixes"
	annotationStatsSuffixes     = "sidecar.istio.io/statsInclusionSuffixes"
	annotationMergeMetrics      = "prometheus.istio.io/merge-metrics"
	annotationPrometheusScrape  = "prometheus.io/scrape"
	proxyConfigDNSCaptureKey    = "ISTIO_META_DNS_CAPTURE"
	proxyConfigStatsMatcherKey  = "proxyStatsMatcher"
	proxySettingsFieldSeparator = ";"
)

// ProxySettings are the mesh settings that change what a running proxy does
// and that a proxy takes when it starts, normalized so that a field left
// unset and the same field set to its default are equal. The zero value
// means "not known": nothing is checked against it.
type ProxySettings struct {
	// Settings every injected proxy takes at injection.

	// DNSCapture: the proxy answers DNS queries (ISTIO_META_DNS_CAPTURE).
	DNSCapture bool
	// PrometheusMerge: the proxy merges the application's metrics.
	PrometheusMerge bool
	// StatsInclusionRegexps are the extra Envoy statistics, sorted.
	StatsInclusionRegexps []string
	// TrustDomain is the mesh's trust domain, e.g. "cluster.local"; never
	// empty in known settings.
	TrustDomain string
	// Resources of the istio-proxy container, as canonical quantities; ""
	// for a quantity left out.
	RequestsCPU, RequestsMemory, LimitsCPU, LimitsMemory string

	// Settings only the ingress gateway uses.

	// NumTrustedProxies in front of the gateway.
	NumTrustedProxies int64
	// ForwardClientCertDetails is how the gateway handles the XFCC header.
	ForwardClientCertDetails string
}

// IsZero reports whether the settings are unknown: known settings always
// name a trust domain (the default is cluster.local).
func (s ProxySettings) IsZero() bool {
	return s.TrustDomain == ""
}

// Keys of the record, one per setting a pod can be stale for.
const (
	settingDNS     = "dns"
	settingMerge   = "merge"
	settingStats   = "stats"
	settingTrust   = "td"
	settingReqCPU  = "rc"
	settingReqMem  = "rm"
	settingLimCPU  = "lc"
	settingLimMem  = "lm"
	unsetQuantity  = "-"
	noStatsRegexps = "none"
)

// settingNames are the names of the record's keys for humans.
var settingNames = map[string]string{
	settingDNS:    "enableDNSProxying",
	settingMerge:  "prometheusMerge",
	settingStats:  "proxyStatsMatcher",
	settingTrust:  "trustDomain",
	settingReqCPU: "proxy requests.cpu",
	settingReqMem: "proxy requests.memory",
	settingLimCPU: "proxy limits.cpu",
	settingLimMem: "proxy limits.memory",
}

// Record is the value of AnnotationProxySettings for the injected proxies:
// "dns=false;merge=true;stats=<hash>;td=<hash>;rc=100m;rm=128Mi;lc=2;lm=1Gi".
// Lists and names are hashed to keep it short; "" for unknown settings.
func (s ProxySettings) Record() string {
	if s.IsZero() {
		return ""
	}
	stats := noStatsRegexps
	if len(s.StatsInclusionRegexps) > 0 {
		sorted := slices.Clone(s.StatsInclusionRegexps)
		slices.Sort(sorted)
		stats = shortHash(strings.Join(sorted, "\n"))
	}
	fields := []string{
		settingDNS + "=" + strconv.FormatBool(s.DNSCapture),
		settingMerge + "=" + strconv.FormatBool(s.PrometheusMerge),
		settingStats + "=" + stats,
		settingTrust + "=" + shortHash(s.TrustDomain),
		settingReqCPU + "=" + quantityOrUnset(s.RequestsCPU),
		settingReqMem + "=" + quantityOrUnset(s.RequestsMemory),
		settingLimCPU + "=" + quantityOrUnset(s.LimitsCPU),
		settingLimMem + "=" + quantityOrUnset(s.LimitsMemory),
	}
	return strings.Join(fields, proxySettingsFieldSeparator)
}

// Fingerprint is a short hash of the injected proxies' settings: part of the
// restart target, so that a change of the settings is a new target (each
// workload is restarted once for it) and the same settings are the same
// target. "" for unknown settings.
func (s ProxySettings) Fingerprint() string {
	r := s.Record()
	if r == "" {
		return ""
	}
	return shortHash(r)
}

// GatewayFingerprint is a short hash of the settings the ingress gateway
// takes when it starts: trusted proxies, client-certificate forwarding, trust
// domain and statistics, the fields for which the Kyma module restarts the
// gateway. The installer puts it on the gateway's pod template, so a change
// rolls the gateway out once. "" for unknown settings.
func (s ProxySettings) GatewayFingerprint() string {
	if s.IsZero() {
		return ""
	}
	sorted := slices.Clone(s.StatsInclusionRegexps)
	slices.Sort(sorted)
	return shortHash(fmt.Sprintf("%d\n%s\n%s\n%s", s.NumTrustedProxies, s.ForwardClientCertDetails, s.TrustDomain, strings.Join(sorted, "\n")))
}

// staleSettings returns why a pod's proxy runs other settings than want,
// from the record istiod left on the pod. A pod without a record (injected
// before the operator recorded settings, or by another injector) is not
// checked; a setting the pod overrides with its own annotations is not
// compared, since changing the mesh-wide value does not change its proxy.
func staleSettings(annotations map[string]string, want ProxySettings) *StaleReason {
	wantRecord := want.Record()
	got, ok := annotations[AnnotationProxySettings]
	if wantRecord == "" || !ok || got == wantRecord {
		return nil
	}
	have := parseRecord(got)
	var changed []string
	for _, kv := range strings.Split(wantRecord, proxySettingsFieldSeparator) {
		key, value, _ := strings.Cut(kv, "=")
		old, recorded := have[key]
		if !recorded || old == value || overrides(annotations, key) {
			continue
		}
		changed = append(changed, settingNames[key])
	}
	if len(changed) == 0 {
		return nil
	}
	return &StaleReason{Kind: ReasonWrongSettings,
		Message: "injected under other " + strings.Join(changed, ", ")}
}

// overrides reports whether the pod's own annotations set the setting key
// for its proxy.
func overrides(annotations map[string]string, key string) bool {
	has := func(name string) bool { _, ok := annotations[name]; return ok }
	switch key {
	case settingDNS:
		return strings.Contains(annotations[annotationProxyConfig], proxyConfigDNSCaptureKey)
	case settingStats:
		return strings.Contains(annotations[annotationProxyConfig], proxyConfigStatsMatcherKey) ||
			has(annotationStatsInclusion) || has(annotationStatsPrefixes) || has(annotationStatsSuffixes)
	case settingMerge:
		// The pod opts in or out of merging itself, or is not scraped: the
		// injector then leaves its metrics alone either way.
		return has(annotationMergeMetrics) || annotations[annotationPrometheusScrape] == "false"
	case settingReqCPU:
		return has(annotationProxyCPU)
	case settingReqMem:
		return has(annotationProxyMemory)
	case settingLimCPU:
		return has(annotationProxyCPULimit)
	case settingLimMem:
		return has(annotationProxyMemoryLimit)
	}
	return false
}

func parseRecord(r string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(r, proxySettingsFieldSeparator) {
		if key, value, ok := strings.Cut(kv, "="); ok {
			out[key] = value
		}
	}
	return out
}

func quantityOrUnset(q string) string {
	if q == "" {
		return unsetQuantity
	}
	return q
}

// shortHash is the first 10 hex digits of s's SHA-256: short enough for an
// annotation, long enough that two settings do not collide in practice.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:5])
}
