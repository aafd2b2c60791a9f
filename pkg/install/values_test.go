package install

import (
	"encoding/json"
	"strconv"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/istio-module/operator/api/v1alpha2"
)

// mappingCase is one CR field: the spec that sets it, where its value lands
// in the rendered objects, and what that place holds when the field is unset
// (so removing the field removes its effect).
type mappingCase struct {
	name  string
	spec  string
	set   func(g Gomega, objs []*unstructured.Unstructured)
	unset func(g Gomega, objs []*unstructured.Unstructured)
}

func meshField(g Gomega, objs []*unstructured.Unstructured, path ...string) any {
	return field(meshOf(g, objs), path...)
}

func workloadField(g Gomega, objs []*unstructured.Unstructured, kind, name string, path ...string) any {
	return field(find(g, objs, kind, name).Object, path...)
}

// containerResources returns a container's resources with every quantity as
// a string: the charts render quantities unquoted, so "2" reads back as a
// number.
func containerResources(g Gomega, objs []*unstructured.Unstructured, kind, name, containerName string) any {
	return quantityStrings(container(g, find(g, objs, kind, name), containerName)["resources"])
}

func quantityStrings(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			out[k] = quantityStrings(val)
		}
		return out
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return v
}

// asJSON serializes a rendered value, to compare it with MatchJSON (numbers
// read back from the charts' YAML are float64).
func asJSON(g Gomega, v any) string {
	b, err := json.Marshal(v)
	g.Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// effectiveProxyResources are the istio-proxy resources the injection
// template renders from the injector values: nulls omitted, as its omitNil
// does.
func effectiveProxyResources(g Gomega, objs []*unstructured.Unstructured) any {
	return omitNulls(field(injectorValues(g, objs), "global", "proxy", "resources"))
}

func omitNulls(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, val := range m {
		if val = omitNulls(val); val != nil {
			out[k] = val
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// restartedByNetworkPolicies are the kinds and names of the components the
// Kyma module restarts when network policies are turned on or off.
var restartedByNetworkPolicies = [][2]string{
	{"Deployment", IstiodName}, {"Deployment", IngressGatewayName}, {"DaemonSet", "istio-cni-node"},
}

var mappingCases = []mappingCase{{
	name: "config.numTrustedProxies",
	spec: `config: {numTrustedProxies: 2}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "gatewayTopology", "numTrustedProxies")).To(BeNumerically("==", 2))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "gatewayTopology")).To(BeNil())
	},
}, {
	name: "config.forwardClientCertDetails",
	spec: `config: {forwardClientCertDetails: ALWAYS_FORWARD_ONLY}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "gatewayTopology", "forwardClientCertDetails")).To(Equal("ALWAYS_FORWARD_ONLY"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "gatewayTopology")).To(BeNil())
	},
}, {
	name: "config.authorizers",
	spec: `
config:
  authorizers:
  - name: ext-authz
    service: ext-authz.auth.svc.cluster.local
    port: 8080
    pathPrefix: /check
    timeout: 500ms
    headers:
      inCheck: {include: [x-user, "x-b3-*"], add: {x-from: istio}}
      toUpstream: {onAllow: [x-auth-user]}
      toDownstream: {onAllow: [x-auth-ok], onDeny: [x-auth-reason]}
  - name: minimal
    service: bar/authz
    port: 9000
`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "extensionProviders")).To(Equal([]any{
			map[string]any{"name": "ext-authz", "envoyExtAuthzHttp": map[string]any{
				"service":                         "ext-authz.auth.svc.cluster.local",
				"port":                            float64(8080),
				"pathPrefix":                      "/check",
				"timeout":                         "0.5s",
				"includeRequestHeadersInCheck":    []any{"x-user", "x-b3-*"},
				"includeAdditionalHeadersInCheck": map[string]any{"x-from": "istio"},
				"headersToUpstreamOnAllow":        []any{"x-auth-user"},
				"headersToDownstreamOnAllow":      []any{"x-auth-ok"},
				"headersToDownstreamOnDeny":       []any{"x-auth-reason"},
			}},
			map[string]any{"name": "minimal", "envoyExtAuthzHttp": map[string]any{
				"service": "bar/authz",
				"port":    float64(9000),
			}},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "extensionProviders")).To(BeNil())
	},
}, {
	name: "config.gatewayExternalTrafficPolicy",
	spec: `config: {gatewayExternalTrafficPolicy: Cluster}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "Service", IngressGatewayName, "spec", "externalTrafficPolicy")).To(Equal("Cluster"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "Service", IngressGatewayName, "spec", "externalTrafficPolicy")).To(Equal("Local"))
	},
}, {
	name: "config.telemetry.metrics.prometheusMerge",
	spec: `config: {telemetry: {metrics: {prometheusMerge: true}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "enablePrometheusMerge")).To(Equal(true))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "enablePrometheusMerge")).To(Equal(false))
	},
}, {
	name: "config.trustDomain",
	spec: `config: {trustDomain: example.org}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "trustDomain")).To(Equal("example.org"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "trustDomain")).To(Equal("cluster.local"))
	},
}, {
	name: "config.enableDNSProxying true",
	spec: `config: {enableDNSProxying: true}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "proxyMetadata")).To(Equal(map[string]any{"ISTIO_META_DNS_CAPTURE": "true"}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "proxyMetadata")).To(BeNil())
	},
}, {
	name: "config.enableDNSProxying false",
	spec: `config: {enableDNSProxying: false}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "proxyMetadata")).To(Equal(map[string]any{"ISTIO_META_DNS_CAPTURE": "false"}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "proxyMetadata")).To(BeNil())
	},
}, {
	name: "config.proxyStatsMatcher.inclusionRegexps",
	spec: `config: {proxyStatsMatcher: {inclusionRegexps: [".*upstream_rq.*", "^cluster\\..*"]}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "proxyStatsMatcher")).To(Equal(map[string]any{
			"inclusionRegexps": []any{".*upstream_rq.*", `^cluster\..*`},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(meshField(g, objs, "defaultConfig", "proxyStatsMatcher")).To(BeNil())
	},
}, {
	name: "components.pilot.k8s.resources",
	spec: `components: {pilot: {k8s: {resources: {limits: {cpu: "02", memory: 3072Mi}}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "Deployment", IstiodName, "discovery")).To(Equal(map[string]any{
			"limits": map[string]any{"cpu": "2", "memory": "3Gi"},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "Deployment", IstiodName, "discovery")).To(Equal(map[string]any{
			"requests": map[string]any{"cpu": "500m", "memory": "2048Mi"},
		}))
	},
}, {
	name: "components.pilot.k8s.hpaSpec",
	spec: `components: {pilot: {k8s: {hpaSpec: {minReplicas: 2, maxReplicas: 8}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "minReplicas")).To(BeNumerically("==", 2))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "maxReplicas")).To(BeNumerically("==", 8))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "minReplicas")).To(BeNumerically("==", 1))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "maxReplicas")).To(BeNumerically("==", 5))
	},
}, {
	name: "components.pilot.k8s.hpaSpec minReplicas above the default maximum",
	spec: `components: {pilot: {k8s: {hpaSpec: {minReplicas: 7}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "minReplicas")).To(BeNumerically("==", 7))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "maxReplicas")).To(BeNumerically("==", 7))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "minReplicas")).To(BeNumerically("==", 1))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "maxReplicas")).To(BeNumerically("==", 5))
	},
}, {
	name: "components.pilot.k8s.strategy",
	spec: `components: {pilot: {k8s: {strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: "0%"}}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(asJSON(g, workloadField(g, objs, "Deployment", IstiodName, "spec", "strategy"))).To(
			MatchJSON(`{"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "0%"}}`))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "Deployment", IstiodName, "spec", "strategy")).To(Equal(map[string]any{
			"rollingUpdate": map[string]any{"maxSurge": "100%", "maxUnavailable": "25%"},
		}))
	},
}, {
	name: "components.ingressGateway.k8s.resources",
	spec: `components: {ingressGateway: {k8s: {resources: {requests: {cpu: 200m}}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "Deployment", IngressGatewayName, "istio-proxy")).To(Equal(map[string]any{
			"requests": map[string]any{"cpu": "200m"},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "Deployment", IngressGatewayName, "istio-proxy")).To(Equal(map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
			"limits":   map[string]any{"cpu": "2000m", "memory": "1024Mi"},
		}))
	},
}, {
	name: "components.ingressGateway.k8s.hpaSpec",
	spec: `components: {ingressGateway: {k8s: {hpaSpec: {minReplicas: 3, maxReplicas: 10}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IngressGatewayName, "spec", "minReplicas")).To(BeNumerically("==", 3))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IngressGatewayName, "spec", "maxReplicas")).To(BeNumerically("==", 10))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IngressGatewayName, "spec", "minReplicas")).To(BeNumerically("==", 1))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IngressGatewayName, "spec", "maxReplicas")).To(BeNumerically("==", 5))
	},
}, {
	name: "components.ingressGateway.k8s.strategy",
	spec: `components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxSurge: 50%, maxUnavailable: 0}}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(asJSON(g, workloadField(g, objs, "Deployment", IngressGatewayName, "spec", "strategy"))).To(
			MatchJSON(`{"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}`))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "Deployment", IngressGatewayName, "spec", "strategy")).To(BeNil())
	},
}, {
	name: "components.egressGateway.enabled",
	spec: `components: {egressGateway: {enabled: true}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(has(objs, "Deployment", EgressGatewayName)).To(BeTrue())
		g.Expect(workloadField(g, objs, "Service", EgressGatewayName, "spec", "type")).To(Equal("ClusterIP"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(has(objs, "Deployment", EgressGatewayName)).To(BeFalse())
	},
}, {
	name: "components.egressGateway.k8s",
	spec: `
components:
  egressGateway:
    enabled: true
    k8s:
      resources: {limits: {memory: 512Mi}, requests: {cpu: 10m, memory: 64Mi}}
      hpaSpec: {minReplicas: 2, maxReplicas: 3}
      strategy: {rollingUpdate: {maxUnavailable: 1}}
`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "Deployment", EgressGatewayName, "istio-proxy")).To(Equal(map[string]any{
			"limits":   map[string]any{"memory": "512Mi"},
			"requests": map[string]any{"cpu": "10m", "memory": "64Mi"},
		}))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", EgressGatewayName, "spec", "minReplicas")).To(BeNumerically("==", 2))
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", EgressGatewayName, "spec", "maxReplicas")).To(BeNumerically("==", 3))
		g.Expect(asJSON(g, workloadField(g, objs, "Deployment", EgressGatewayName, "spec", "strategy"))).To(
			MatchJSON(`{"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}`))
		// The ingress gateway keeps its defaults.
		g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IngressGatewayName, "spec", "maxReplicas")).To(BeNumerically("==", 5))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(has(objs, "Deployment", EgressGatewayName)).To(BeFalse())
		g.Expect(has(objs, "HorizontalPodAutoscaler", EgressGatewayName)).To(BeFalse())
	},
}, {
	name: "components.cni.k8s.affinity",
	spec: `
components:
  cni:
    k8s:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{key: mesh, operator: In, values: ["yes"]}]
`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "DaemonSet", "istio-cni-node", "spec", "template", "spec", "affinity")).To(Equal(map[string]any{
			"nodeAffinity": map[string]any{
				"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
					"nodeSelectorTerms": []any{map[string]any{
						"matchExpressions": []any{map[string]any{"key": "mesh", "operator": "In", "values": []any{"yes"}}},
					}},
				},
			},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(workloadField(g, objs, "DaemonSet", "istio-cni-node", "spec", "template", "spec", "affinity")).To(BeNil())
	},
}, {
	name: "components.cni.k8s.resources",
	spec: `components: {cni: {k8s: {resources: {limits: {cpu: 500m, memory: 256Mi}, requests: {cpu: 50m, memory: 64Mi}}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "DaemonSet", "istio-cni-node", "install-cni")).To(Equal(map[string]any{
			"limits":   map[string]any{"cpu": "500m", "memory": "256Mi"},
			"requests": map[string]any{"cpu": "50m", "memory": "64Mi"},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(containerResources(g, objs, "DaemonSet", "istio-cni-node", "install-cni")).To(Equal(map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "100Mi"},
		}))
	},
}, {
	name: "components.proxy.k8s.resources",
	spec: `components: {proxy: {k8s: {resources: {requests: {cpu: 20m, memory: 64Mi}, limits: {memory: 256Mi}}}}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(effectiveProxyResources(g, objs)).To(Equal(map[string]any{
			"requests": map[string]any{"cpu": "20m", "memory": "64Mi"},
			"limits":   map[string]any{"memory": "256Mi"},
		}))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(effectiveProxyResources(g, objs)).To(Equal(map[string]any{
			"requests": map[string]any{"cpu": "100m", "memory": "128Mi"},
			"limits":   map[string]any{"cpu": "2000m", "memory": "1024Mi"},
		}))
	},
}, {
	name: "experimental.pilot.enableAlphaGatewayAPI",
	spec: `experimental: {pilot: {enableAlphaGatewayAPI: true}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(discoveryEnv(g, objs)).To(HaveKeyWithValue("PILOT_ENABLE_ALPHA_GATEWAY_API", "true"))
		g.Expect(discoveryEnv(g, objs)).NotTo(HaveKey("PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(discoveryEnv(g, objs)).NotTo(HaveKey("PILOT_ENABLE_ALPHA_GATEWAY_API"))
	},
}, {
	name: "experimental.pilot.enableMultiNetworkDiscoverGatewayAPI",
	spec: `experimental: {pilot: {enableMultiNetworkDiscoverGatewayAPI: true}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(discoveryEnv(g, objs)).To(HaveKeyWithValue("PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API", "true"))
		g.Expect(discoveryEnv(g, objs)).NotTo(HaveKey("PILOT_ENABLE_ALPHA_GATEWAY_API"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(discoveryEnv(g, objs)).NotTo(HaveKey("PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API"))
	},
}, {
	name: "networkPoliciesEnabled",
	spec: `networkPoliciesEnabled: true`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		for _, w := range restartedByNetworkPolicies {
			g.Expect(workloadField(g, objs, w[0], w[1], "spec", "template", "metadata", "annotations", NetworkPoliciesAnnotation)).To(Equal("enabled"), w[1])
		}
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {
		for _, w := range restartedByNetworkPolicies {
			g.Expect(workloadField(g, objs, w[0], w[1], "spec", "template", "metadata", "annotations", NetworkPoliciesAnnotation)).To(BeNil(), w[1])
		}
	},
}, {
	name: "experimental.pilot flags false",
	spec: `experimental: {pilot: {enableAlphaGatewayAPI: false, enableMultiNetworkDiscoverGatewayAPI: false}}`,
	set: func(g Gomega, objs []*unstructured.Unstructured) {
		g.Expect(discoveryEnv(g, objs)).NotTo(HaveKey("PILOT_ENABLE_ALPHA_GATEWAY_API"))
		g.Expect(discoveryEnv(g, objs)).NotTo(HaveKey("PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API"))
	},
	unset: func(g Gomega, objs []*unstructured.Unstructured) {},
}}

// TestValuesMapping renders a spec with one CR field and checks where its
// value lands, then checks that the same place holds the default in the
// render of the empty spec: a field removed from the CR removes its effect.
func TestValuesMapping(t *testing.T) {
	g := NewWithT(t)
	empty := render(g, v1alpha2.IstioSpec{}, testDecision(), testOptions())
	for _, tc := range mappingCases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			objs := render(g, specFrom(g, tc.spec), testDecision(), testOptions())
			tc.set(g, objs)
			tc.unset(g, empty)
		})
	}
}

// TestValuesMappingFullSpec checks that the fields do not interfere: with
// every field set at once, each still lands where it should.
func TestValuesMappingFullSpec(t *testing.T) {
	g := NewWithT(t)
	objs := render(g, specFrom(g, fullSpecYAML), testDecision(), testOptions())

	mesh := meshOf(g, objs)
	g.Expect(field(mesh, "defaultConfig", "gatewayTopology")).To(Equal(map[string]any{
		"numTrustedProxies": float64(2), "forwardClientCertDetails": "APPEND_FORWARD",
	}))
	g.Expect(field(mesh, "defaultConfig", "proxyMetadata", "ISTIO_META_DNS_CAPTURE")).To(Equal("true"))
	g.Expect(field(mesh, "defaultConfig", "proxyStatsMatcher", "inclusionRegexps")).To(Equal([]any{".*upstream_rq.*"}))
	g.Expect(field(mesh, "defaultConfig", "discoveryAddress")).To(Equal("istiod.istio-system.svc:15012"), "chart's defaultConfig kept")
	g.Expect(field(mesh, "enablePrometheusMerge")).To(Equal(true))
	g.Expect(field(mesh, "trustDomain")).To(Equal("example.org"))
	g.Expect(field(mesh, "rootNamespace")).To(Equal("istio-system"), "chart's mesh defaults kept")
	g.Expect(field(mesh, "extensionProviders")).To(HaveLen(1))

	g.Expect(workloadField(g, objs, "Service", IngressGatewayName, "spec", "externalTrafficPolicy")).To(Equal("Cluster"))
	g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IstiodName, "spec", "maxReplicas")).To(BeNumerically("==", 4))
	g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", IngressGatewayName, "spec", "maxReplicas")).To(BeNumerically("==", 9))
	g.Expect(workloadField(g, objs, "HorizontalPodAutoscaler", EgressGatewayName, "spec", "maxReplicas")).To(BeNumerically("==", 2))
	g.Expect(containerResources(g, objs, "Deployment", IstiodName, "discovery")).To(Equal(map[string]any{
		"limits":   map[string]any{"cpu": "2", "memory": "2Gi"},
		"requests": map[string]any{"cpu": "500m", "memory": "1Gi"},
	}))
	g.Expect(containerResources(g, objs, "DaemonSet", "istio-cni-node", "install-cni")).To(Equal(map[string]any{
		"requests": map[string]any{"cpu": "50m"},
	}))
	g.Expect(workloadField(g, objs, "DaemonSet", "istio-cni-node", "spec", "template", "spec", "affinity")).NotTo(BeNil())
	g.Expect(effectiveProxyResources(g, objs)).To(Equal(map[string]any{
		"requests": map[string]any{"cpu": "20m", "memory": "64Mi"},
	}))
	// The decision's settings are not overridden by the CR's.
	g.Expect(discoveryEnv(g, objs)).To(HaveKeyWithValue("ENABLE_NATIVE_SIDECARS", "true"))
}
