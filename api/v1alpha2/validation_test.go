/*
Copyright 2026 The istio-module Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha2_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	operatorv1alpha2 "github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/internal/testenv"
)

var _ = Describe("The samples", func() {
	DescribeTable("are accepted and read back unchanged",
		func(file string) {
			data, err := os.ReadFile(samplePath(file))
			Expect(err).NotTo(HaveOccurred())

			// What the YAML says, as the API server sees it, and as the Go
			// types see it (strict: the types know every field of the sample).
			applied := &unstructured.Unstructured{}
			jsonData, err := yaml.YAMLToJSON(data)
			Expect(err).NotTo(HaveOccurred())
			Expect(applied.UnmarshalJSON(jsonData)).To(Succeed())
			var want operatorv1alpha2.Istio
			Expect(yaml.UnmarshalStrict(data, &want)).To(Succeed())

			applied.SetName("sample-" + strings.TrimSuffix(strings.TrimPrefix(file, "operator_v1alpha2_istio_"), ".yaml"))
			// Strict field validation: a field the schema does not know would
			// be refused instead of silently pruned.
			Expect(k8s.Create(ctx, applied, client.FieldValidation(metav1.FieldValidationStrict))).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, applied))).To(Succeed()) })

			wantSpec, _, _ := unstructured.NestedFieldCopy(applied.Object, "spec")
			Eventually(func(g Gomega) {
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(operatorv1alpha2.GroupVersion.WithKind("Istio"))
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(applied), got)).To(Succeed())
				gotSpec, _, _ := unstructured.NestedFieldCopy(got.Object, "spec")
				g.Expect(gotSpec).To(Equal(wantSpec), "the API server changed or pruned the spec")

				var typed operatorv1alpha2.Istio
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(applied), &typed)).To(Succeed())
				g.Expect(equality.Semantic.DeepEqual(typed.Spec, want.Spec)).To(BeTrue(), cmp.Diff(want.Spec, typed.Spec))
			}).Should(Succeed())
		},
		Entry("minimal", "operator_v1alpha2_istio_minimal.yaml"),
		Entry("full, every field set", "operator_v1alpha2_istio_full.yaml"),
	)

	It("round-trip through the Go types: what a client writes is what it reads", func() {
		data, err := os.ReadFile(samplePath("operator_v1alpha2_istio_full.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var istio operatorv1alpha2.Istio
		Expect(yaml.UnmarshalStrict(data, &istio)).To(Succeed())
		want := istio.Spec.DeepCopy()
		istio.Name = "typed-full"

		Expect(k8s.Create(ctx, &istio)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, &istio))).To(Succeed()) })
		Eventually(func(g Gomega) {
			var got operatorv1alpha2.Istio
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(&istio), &got)).To(Succeed())
			g.Expect(equality.Semantic.DeepEqual(got.Spec, *want)).To(BeTrue(), cmp.Diff(*want, got.Spec))
		}).Should(Succeed())
	})
})

var _ = Describe("Unknown fields", func() {
	DescribeTable("are refused under strict field validation, so no field is accepted that does nothing",
		func(spec, field string) {
			u := newIstio(specFrom(spec))
			err := k8s.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict))
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsBadRequest(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring(`unknown field "` + field + `"`))
		},
		Entry("a typo in an experimental flag", `{experimental: {pilot: {enableAlphaGatewayApi: true}}}`, "spec.experimental.pilot.enableAlphaGatewayApi"),
		Entry("an experimental feature Kyma does not have", `{experimental: {enableZtunnel: true}}`, "spec.experimental.enableZtunnel"),
		Entry("networkPoliciesEnabled spelled as in Kubernetes", `{networkPolicies: {enabled: true}}`, "spec.networkPolicies"),
		Entry("a typo in a config field", `{config: {numTrustedProxy: 1}}`, "spec.config.numTrustedProxy"),
		Entry("a field of Istio's operator API that the module does not map", `{components: {pilot: {k8s: {replicaCount: 2}}}}`, "spec.components.pilot.k8s.replicaCount"),
	)
})

var _ = Describe("Admission", func() {
	DescribeTable("accepts valid edge values",
		func(spec string) {
			u := newIstio(specFrom(spec))
			Expect(k8s.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict))).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, u))).To(Succeed()) })
		},
		Entry("numTrustedProxies bounds", `{config: {numTrustedProxies: 0}}`),
		Entry("numTrustedProxies upper bound", `{config: {numTrustedProxies: 4294967295}}`),
		Entry("every XFCC value", `{config: {forwardClientCertDetails: ALWAYS_FORWARD_ONLY}}`),
		Entry("external traffic policy Cluster", `{config: {gatewayExternalTrafficPolicy: Cluster}}`),
		Entry("a one-letter trust domain", `{config: {trustDomain: a}}`),
		Entry("a dotted trust domain with dashes", `{config: {trustDomain: my-mesh.example.com}}`),
		Entry("a trust domain with upper case, which Istio accepts", `{config: {trustDomain: Cluster.Local}}`),
		Entry("a fully qualified trust domain ending in a dot, which Istio accepts", `{config: {trustDomain: "cluster.local."}}`),
		Entry("a trust domain with a 63-character label", `{config: {trustDomain: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.local}}`),
		Entry("maxUnavailable 100%", `{components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: "100%"}}}}}}`),
		Entry("fractional and compound timeouts", `{config: {authorizers: [{name: a, service: a.b.svc.cluster.local, port: 1, timeout: 1.5s}, {name: b, service: ns/b, port: 65535, timeout: 1h30m}]}}`),
		Entry("equal replica bounds", `{components: {pilot: {k8s: {hpaSpec: {minReplicas: 3, maxReplicas: 3}}}}}`),
		Entry("only one replica bound", `{components: {ingressGateway: {k8s: {hpaSpec: {minReplicas: 4}}}}}`),
		Entry("zero surge with percent unavailable", `{components: {pilot: {k8s: {strategy: {rollingUpdate: {maxSurge: "0%", maxUnavailable: 1}}}}}}`),
		Entry("percentages above 100", `{components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxSurge: "200%", maxUnavailable: "0%"}}}}}}`),
		Entry("quantities in every notation", `{components: {proxy: {k8s: {resources: {requests: {cpu: "0.5", memory: "1e3"}, limits: {cpu: "1", memory: 1Ki}}}}}}`),
		Entry("requests equal to limits in other units", `{components: {cni: {k8s: {resources: {requests: {cpu: 1000m, memory: 1Gi}, limits: {cpu: "1", memory: 1024Mi}}}}}}`),
		Entry("an egress gateway switched off", `{components: {egressGateway: {enabled: false}}}`),
		Entry("network policies on", `{networkPoliciesEnabled: true}`),
		Entry("network policies off", `{networkPoliciesEnabled: false}`),
		Entry("an empty experimental section", `{experimental: {}}`),
		Entry("every experimental flag", `{experimental: {pilot: {enableAlphaGatewayAPI: true, enableMultiNetworkDiscoverGatewayAPI: true}, enableAmbient: false}}`),
		Entry("ambient requested: accepted at admission, refused in the status", `{experimental: {enableAmbient: true}}`),
	)

	DescribeTable("refuses an invalid CR with a message naming the field",
		func(spec map[string]any, field, detail string) {
			u := newIstio(spec)
			err := k8s.Create(ctx, u)
			if err == nil {
				_ = k8s.Delete(ctx, u)
			}
			Expect(err).To(HaveOccurred(), "the API server accepted %v", spec)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not an Invalid error: %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(detail))
		},
		// spec.compatibilityMode
		Entry("compatibilityMode as a string", specFrom(`{compatibilityMode: "true"}`), "spec.compatibilityMode", "must be of type boolean"),

		Entry("networkPoliciesEnabled as a string", specFrom(`{networkPoliciesEnabled: "true"}`), "spec.networkPoliciesEnabled", "must be of type boolean"),

		// spec.experimental
		Entry("enableAmbient as a string", specFrom(`{experimental: {enableAmbient: "yes"}}`), "spec.experimental.enableAmbient", "must be of type boolean"),
		Entry("a pilot flag as a string", specFrom(`{experimental: {pilot: {enableAlphaGatewayAPI: "true"}}}`), "spec.experimental.pilot.enableAlphaGatewayAPI", "must be of type boolean"),

		// spec.config scalars
		Entry("numTrustedProxies below 0", specFrom(`{config: {numTrustedProxies: -1}}`), "spec.config.numTrustedProxies", "greater than or equal to 0"),
		Entry("numTrustedProxies above uint32", specFrom(`{config: {numTrustedProxies: 4294967296}}`), "spec.config.numTrustedProxies", "less than or equal to 4294967295"),
		Entry("numTrustedProxies as a string", specFrom(`{config: {numTrustedProxies: "1"}}`), "spec.config.numTrustedProxies", "must be of type integer"),
		Entry("forwardClientCertDetails unknown", specFrom(`{config: {forwardClientCertDetails: FORWARD}}`), "spec.config.forwardClientCertDetails", "Unsupported value"),
		Entry("forwardClientCertDetails in lower case", specFrom(`{config: {forwardClientCertDetails: sanitize_set}}`), "spec.config.forwardClientCertDetails", "Unsupported value"),
		Entry("gatewayExternalTrafficPolicy in lower case", specFrom(`{config: {gatewayExternalTrafficPolicy: local}}`), "spec.config.gatewayExternalTrafficPolicy", "Unsupported value"),
		Entry("gatewayExternalTrafficPolicy empty", specFrom(`{config: {gatewayExternalTrafficPolicy: ""}}`), "spec.config.gatewayExternalTrafficPolicy", "Unsupported value"),
		Entry("trustDomain empty", specFrom(`{config: {trustDomain: ""}}`), "spec.config.trustDomain", "at least 1 chars long"),
		// Istio's ValidateTrustDomain (pkg/config/validation/agent) refuses
		// these when istiod reads the mesh config.
		Entry("trustDomain with an underscore", specFrom(`{config: {trustDomain: my_domain}}`), "spec.config.trustDomain", "'_' included"),
		Entry("trustDomain with an empty label", specFrom(`{config: {trustDomain: "cluster..local"}}`), "spec.config.trustDomain", "trustDomain must be a DNS name"),
		Entry("trustDomain label starting with a dash", specFrom(`{config: {trustDomain: "-cluster.local"}}`), "spec.config.trustDomain", "trustDomain must be a DNS name"),
		Entry("trustDomain with a label longer than 63", set(specFrom(`{}`), "config.trustDomain", strings.Repeat("a", 64)+".local"), "spec.config.trustDomain", "trustDomain must be a DNS name"),
		Entry("trustDomain with a slash", specFrom(`{config: {trustDomain: "cluster.local/ns"}}`), "spec.config.trustDomain", "trustDomain must be a DNS name"),
		Entry("trustDomain longer than 255", set(specFrom(`{}`), "config.trustDomain", strings.Repeat("a", 256)), "spec.config.trustDomain", "may not be more than 255"),
		Entry("enableDNSProxying as a string", specFrom(`{config: {enableDNSProxying: "yes"}}`), "spec.config.enableDNSProxying", "must be of type boolean"),
		Entry("prometheusMerge as a string", specFrom(`{config: {telemetry: {metrics: {prometheusMerge: "true"}}}}`), "spec.config.telemetry.metrics.prometheusMerge", "must be of type boolean"),
		Entry("an empty inclusion regexp", specFrom(`{config: {proxyStatsMatcher: {inclusionRegexps: [""]}}}`), "spec.config.proxyStatsMatcher.inclusionRegexps[0]", "at least 1 chars long"),
		Entry("too many inclusion regexps", set(specFrom(`{}`), "config.proxyStatsMatcher.inclusionRegexps", manyStrings(65)), "spec.config.proxyStatsMatcher.inclusionRegexps", "must have at most 64 items"),

		// spec.config.authorizers
		Entry("authorizer without name", specFrom(`{config: {authorizers: [{service: a, port: 80}]}}`), "spec.config.authorizers[0].name", "Required value"),
		Entry("authorizer without service", specFrom(`{config: {authorizers: [{name: a, port: 80}]}}`), "spec.config.authorizers[0].service", "Required value"),
		Entry("authorizer without port", specFrom(`{config: {authorizers: [{name: a, service: a}]}}`), "spec.config.authorizers[0].port", "Required value"),
		Entry("authorizer port 0", specFrom(`{config: {authorizers: [{name: a, service: a, port: 0}]}}`), "spec.config.authorizers[0].port", "greater than or equal to 1"),
		Entry("authorizer port above 65535", specFrom(`{config: {authorizers: [{name: a, service: a, port: 65536}]}}`), "spec.config.authorizers[0].port", "less than or equal to 65535"),
		Entry("duplicate authorizer names", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80}, {name: a, service: b, port: 81}]}}`), "spec.config.authorizers[1]", "Duplicate value"),
		Entry("authorizer name with a space", specFrom(`{config: {authorizers: [{name: "ext authz", service: a, port: 80}]}}`), "spec.config.authorizers[0].name", "should match"),
		Entry("authorizer service empty", specFrom(`{config: {authorizers: [{name: a, service: "", port: 80}]}}`), "spec.config.authorizers[0].service", "at least 1 chars long"),
		Entry("authorizer pathPrefix without a leading slash", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, pathPrefix: check}]}}`), "spec.config.authorizers[0].pathPrefix", "should match"),
		Entry("authorizer timeout without a unit", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, timeout: "5"}]}}`), "spec.config.authorizers[0].timeout", "should match"),
		Entry("authorizer timeout negative", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, timeout: -1s}]}}`), "spec.config.authorizers[0].timeout", "should match"),
		Entry("authorizer timeout zero", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, timeout: 0s}]}}`), "spec.config.authorizers[0].timeout", "timeout must be greater than 0"),
		Entry("authorizer included header empty", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, headers: {inCheck: {include: [""]}}}]}}`), "spec.config.authorizers[0].headers.inCheck.include[0]", "at least 1 chars long"),
		Entry("authorizer added header not a string", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, headers: {inCheck: {add: {x-a: 1}}}}]}}`), "spec.config.authorizers[0].headers.inCheck.add.x-a", "must be of type string"),
		Entry("authorizer with too many added headers", set(specFrom(`{config: {authorizers: [{name: a, service: a, port: 80}]}}`), "config.authorizers.0.headers.inCheck.add", manyHeaders(65)), "spec.config.authorizers[0].headers.inCheck.add", "must have at most 64 items"),
		Entry("authorizer with too many upstream headers", set(specFrom(`{config: {authorizers: [{name: a, service: a, port: 80}]}}`), "config.authorizers.0.headers.toUpstream.onAllow", manyStrings(65)), "spec.config.authorizers[0].headers.toUpstream.onAllow", "must have at most 64 items"),
		Entry("authorizer downstream deny header empty", specFrom(`{config: {authorizers: [{name: a, service: a, port: 80, headers: {toDownstream: {onDeny: [""]}}}]}}`), "spec.config.authorizers[0].headers.toDownstream.onDeny[0]", "at least 1 chars long"),
		Entry("too many authorizers", set(specFrom(`{}`), "config.authorizers", manyAuthorizers(65)), "spec.config.authorizers", "must have at most 64 items"),

		// spec.components: required k8s blocks
		Entry("pilot without k8s", specFrom(`{components: {pilot: {}}}`), "spec.components.pilot.k8s", "Required value"),
		Entry("ingressGateway without k8s", specFrom(`{components: {ingressGateway: {}}}`), "spec.components.ingressGateway.k8s", "Required value"),
		Entry("cni without k8s", specFrom(`{components: {cni: {}}}`), "spec.components.cni.k8s", "Required value"),
		Entry("proxy without k8s", specFrom(`{components: {proxy: {}}}`), "spec.components.proxy.k8s", "Required value"),
		Entry("egressGateway enabled as a string", specFrom(`{components: {egressGateway: {enabled: "yes"}}}`), "spec.components.egressGateway.enabled", "must be of type boolean"),

		// hpaSpec
		Entry("ingressGateway minReplicas above maxReplicas", specFrom(`{components: {ingressGateway: {k8s: {hpaSpec: {minReplicas: 5, maxReplicas: 3}}}}}`), "spec.components.ingressGateway.k8s.hpaSpec", "minReplicas must be less than or equal to maxReplicas"),
		Entry("egressGateway minReplicas above maxReplicas", specFrom(`{components: {egressGateway: {k8s: {hpaSpec: {minReplicas: 2, maxReplicas: 1}}}}}`), "spec.components.egressGateway.k8s.hpaSpec", "minReplicas must be less than or equal to maxReplicas"),
		Entry("pilot minReplicas 0", specFrom(`{components: {pilot: {k8s: {hpaSpec: {minReplicas: 0}}}}}`), "spec.components.pilot.k8s.hpaSpec.minReplicas", "greater than or equal to 1"),
		Entry("pilot maxReplicas 0", specFrom(`{components: {pilot: {k8s: {hpaSpec: {maxReplicas: 0}}}}}`), "spec.components.pilot.k8s.hpaSpec.maxReplicas", "greater than or equal to 1"),

		// strategy.rollingUpdate
		Entry("strategy without rollingUpdate", specFrom(`{components: {pilot: {k8s: {strategy: {}}}}}`), "spec.components.pilot.k8s.strategy.rollingUpdate", "Required value"),
		Entry("maxSurge a number in a string", specFrom(`{components: {pilot: {k8s: {strategy: {rollingUpdate: {maxSurge: "25"}}}}}}`), "spec.components.pilot.k8s.strategy.rollingUpdate.maxSurge", "maxSurge must be an integer >= 0 or a percentage"),
		Entry("maxSurge negative", specFrom(`{components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxSurge: -1}}}}}}`), "spec.components.ingressGateway.k8s.strategy.rollingUpdate.maxSurge", "maxSurge must be an integer >= 0 or a percentage"),
		Entry("maxUnavailable a word with percent", specFrom(`{components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxUnavailable: "abc%"}}}}}}`), "spec.components.ingressGateway.k8s.strategy.rollingUpdate.maxUnavailable", "maxUnavailable must be an integer >= 0 or a percentage"),
		Entry("maxUnavailable above 100%, which Kubernetes refuses on the Deployment", specFrom(`{components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxUnavailable: "150%"}}}}}}`), "spec.components.ingressGateway.k8s.strategy.rollingUpdate.maxUnavailable", "a percentage from 0% to 100%"),
		Entry("maxUnavailable a fractional percent", specFrom(`{components: {egressGateway: {k8s: {strategy: {rollingUpdate: {maxUnavailable: "2.5%"}}}}}}`), "spec.components.egressGateway.k8s.strategy.rollingUpdate.maxUnavailable", "maxUnavailable must be an integer >= 0 or a percentage"),
		Entry("maxSurge and maxUnavailable both zero", specFrom(`{components: {ingressGateway: {k8s: {strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: "0%"}}}}}}`), "spec.components.ingressGateway.k8s.strategy.rollingUpdate", "maxSurge and maxUnavailable must not both be zero"),

		// resources
		Entry("cpu not a quantity", specFrom(`{components: {pilot: {k8s: {resources: {limits: {cpu: one}}}}}}`), "spec.components.pilot.k8s.resources.limits.cpu", "cpu must be a non-negative quantity"),
		Entry("cpu negative", specFrom(`{components: {ingressGateway: {k8s: {resources: {requests: {cpu: -100m}}}}}}`), "spec.components.ingressGateway.k8s.resources.requests.cpu", "cpu must be a non-negative quantity"),
		Entry("cpu as a number", specFrom(`{components: {proxy: {k8s: {resources: {limits: {cpu: 1}}}}}}`), "spec.components.proxy.k8s.resources.limits.cpu", "must be of type string"),
		Entry("memory with a wrong suffix", specFrom(`{components: {proxy: {k8s: {resources: {requests: {memory: 1GB}}}}}}`), "spec.components.proxy.k8s.resources.requests.memory", "memory must be a non-negative quantity"),
		Entry("memory empty", specFrom(`{components: {egressGateway: {k8s: {resources: {limits: {memory: ""}}}}}}`), "spec.components.egressGateway.k8s.resources.limits.memory", "at least 1 chars long"),
		Entry("memory longer than 64", set(specFrom(`{}`), "components.cni.k8s.resources.limits.memory", strings.Repeat("1", 65)), "spec.components.cni.k8s.resources.limits.memory", "may not be more than 64"),
		Entry("cpu requests above limits", specFrom(`{components: {proxy: {k8s: {resources: {requests: {cpu: 1500m}, limits: {cpu: "1"}}}}}}`), "spec.components.proxy.k8s.resources", "requests.cpu must be less than or equal to limits.cpu"),
		Entry("memory requests above limits", specFrom(`{components: {cni: {k8s: {resources: {requests: {memory: 2Gi}, limits: {memory: 1Gi}}}}}}`), "spec.components.cni.k8s.resources", "requests.memory must be less than or equal to limits.memory"),

		// cni affinity (corev1.Affinity schema)
		Entry("cni node affinity without terms", specFrom(`{components: {cni: {k8s: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {}}}}}}}`), "spec.components.cni.k8s.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", "Required value"),
		Entry("cni pod anti-affinity weight as a string", specFrom(`{components: {cni: {k8s: {affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: "1", podAffinityTerm: {topologyKey: x}}]}}}}}}`), "spec.components.cni.k8s.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "must be of type integer"),
	)

	Describe("of status updates", func() {
		var istio *operatorv1alpha2.Istio

		BeforeEach(func() {
			istio = &operatorv1alpha2.Istio{ObjectMeta: metav1.ObjectMeta{GenerateName: "status-", Namespace: namespace}}
			Expect(k8s.Create(ctx, istio)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, istio))).To(Succeed()) })
		})

		It("ignores the status sent on create", func() {
			withStatus := &operatorv1alpha2.Istio{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "status-", Namespace: namespace},
				Status:     operatorv1alpha2.IstioStatus{State: operatorv1alpha2.StateReady, IstioVersion: "1.30.2"},
			}
			Expect(k8s.Create(ctx, withStatus)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8s.Delete(ctx, withStatus))).To(Succeed()) })
			Eventually(func(g Gomega) {
				var got operatorv1alpha2.Istio
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(withStatus), &got)).To(Succeed())
				g.Expect(got.Status.State).To(BeEmpty())
				g.Expect(got.Status.IstioVersion).To(BeEmpty())
			}).Should(Succeed())
		})

		It("stores a full status and shows it in the printer columns", func() {
			now := metav1.Now()
			istio.Status = operatorv1alpha2.IstioStatus{
				State:              operatorv1alpha2.StateWarning,
				Description:        "2 workloads must be restarted by their owner",
				ObservedGeneration: istio.Generation,
				IstioVersion:       "1.30.2",
				SidecarType:        operatorv1alpha2.SidecarTypeNative,
				ProxyRestart: &operatorv1alpha2.ProxyRestartStatus{
					PodsScanned: 12, StalePods: 4, Restarted: 1, ManualRestart: 7,
					RestartedWorkloads:     []string{"shop/Deployment/cart"},
					ManualRestartWorkloads: []string{"a/Job/a", "b/Job/b", "c/Job/c", "d/Job/d", "e/Job/e", "and 2 more"},
					LastRunTime:            &now,
				},
			}
			istio.SetCondition(operatorv1alpha2.ReasonInstallSucceeded, "")
			istio.SetCondition(operatorv1alpha2.ReasonReconcileSucceeded, "")
			istio.SetCondition(operatorv1alpha2.ReasonManualRestartRequired, "")
			istio.SetCondition(operatorv1alpha2.ReasonNativeSidecarsSupported, "")
			Expect(k8s.Status().Update(ctx, istio)).To(Succeed())

			Eventually(func(g Gomega) {
				var got operatorv1alpha2.Istio
				g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(istio), &got)).To(Succeed())
				g.Expect(got.Status.State).To(Equal(operatorv1alpha2.StateWarning))
				g.Expect(got.Status.Conditions).To(HaveLen(4))
				g.Expect(got.Condition(operatorv1alpha2.ConditionTypeProxySidecarRestartSucceeded).Reason).
					To(Equal(string(operatorv1alpha2.ReasonManualRestartRequired)))
				g.Expect(got.Status.ProxyRestart.ManualRestartWorkloads).To(HaveLen(6))
			}).Should(Succeed())

			Eventually(func(g Gomega) {
				table := getTable(g, env.Config, istio.Name)
				var columns []string
				for _, c := range table.ColumnDefinitions {
					columns = append(columns, c.Name)
				}
				g.Expect(columns).To(Equal([]string{"Name", "State", "Istio version", "Sidecar type", "Age"}))
				g.Expect(table.Rows).To(HaveLen(1))
				g.Expect(table.Rows[0].Cells[1:4]).To(Equal([]any{"Warning", "1.30.2", "native"}))
			}).Should(Succeed())
		})

		DescribeTable("refuses an invalid status with a message naming the field",
			func(mutate func(*operatorv1alpha2.IstioStatus), field, detail string) {
				istio.Status = operatorv1alpha2.IstioStatus{State: operatorv1alpha2.StateReady}
				mutate(&istio.Status)
				err := k8s.Status().Update(ctx, istio)
				Expect(apierrors.IsInvalid(err)).To(BeTrue(), "not an Invalid error: %v", err)
				Expect(err.Error()).To(ContainSubstring(field))
				Expect(err.Error()).To(ContainSubstring(detail))
			},
			Entry("an unknown state", func(s *operatorv1alpha2.IstioStatus) { s.State = "Healthy" }, "status.state", "Unsupported value"),
			Entry("no state", func(s *operatorv1alpha2.IstioStatus) { s.State = "" }, "status.state", "Unsupported value"),
			Entry("an unknown sidecar type", func(s *operatorv1alpha2.IstioStatus) { s.SidecarType = "hybrid" }, "status.sidecarType", "Unsupported value"),
			Entry("too many workload names", func(s *operatorv1alpha2.IstioStatus) {
				s.ProxyRestart = &operatorv1alpha2.ProxyRestartStatus{PendingWorkloads: manyNames(7)}
			}, "status.proxyRestart.pendingWorkloads", "must have at most 6 items"),
			Entry("two conditions of one type", func(s *operatorv1alpha2.IstioStatus) {
				s.Conditions = []metav1.Condition{
					operatorv1alpha2.ConditionFor(operatorv1alpha2.ReasonReconcileFailed, 1, ""),
					operatorv1alpha2.ConditionFor(operatorv1alpha2.ReasonReconcileSucceeded, 1, ""),
				}
				for i := range s.Conditions {
					s.Conditions[i].LastTransitionTime = metav1.Now()
				}
			}, "status.conditions[1]", "Duplicate value"),
		)
	})
})

// samplePath is the path of a file in config/samples.
func samplePath(file string) string {
	root, err := testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	return filepath.Join(root, "config", "samples", file)
}

// newIstio returns an Istio CR with the given spec, as the API server sees it.
func newIstio(spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(operatorv1alpha2.GroupVersion.WithKind("Istio"))
	u.SetNamespace(namespace)
	u.SetGenerateName("istio-")
	return u
}

// specFrom parses a spec written in YAML, numbers as int64 as the API server
// decodes them.
func specFrom(y string) map[string]any {
	data, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		panic(fmt.Sprintf("spec %q: %v", y, err))
	}
	spec := map[string]any{}
	if err := utiljson.Unmarshal(data, &spec); err != nil {
		panic(fmt.Sprintf("spec %q: %v", y, err))
	}
	return spec
}

// set puts value at the dotted path of spec, creating maps on the way; a
// number in the path indexes a list.
func set(spec map[string]any, path string, value any) map[string]any {
	parts := strings.Split(path, ".")
	var cur any = spec
	for i, p := range parts {
		last := i == len(parts)-1
		switch node := cur.(type) {
		case map[string]any:
			if last {
				node[p] = value
				break
			}
			if _, ok := node[p]; !ok {
				node[p] = map[string]any{}
			}
			cur = node[p]
		case []any:
			var idx int
			if _, err := fmt.Sscan(p, &idx); err != nil || idx >= len(node) {
				panic(fmt.Sprintf("path %s: bad index %s", path, p))
			}
			if last {
				node[idx] = value
				break
			}
			cur = node[idx]
		default:
			panic(fmt.Sprintf("path %s: %s is not a map or list", path, p))
		}
	}
	return spec
}

func manyStrings(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("x-header-%d", i)
	}
	return out
}

func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ns/Deployment/app-%d", i)
	}
	return out
}

func manyHeaders(n int) map[string]any {
	out := make(map[string]any, n)
	for i := range n {
		out[fmt.Sprintf("x-header-%d", i)] = "v"
	}
	return out
}

func manyAuthorizers(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"name": fmt.Sprintf("authz-%d", i), "service": "authz.svc", "port": int64(8000)}
	}
	return out
}

// getTable lists the Istio CR called name as kubectl get does: as a Table
// with the CRD's printer columns.
func getTable(g Gomega, cfg *rest.Config, name string) *metav1.Table {
	httpClient, err := rest.HTTPClientFor(cfg)
	g.Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/istios?fieldSelector=metadata.name%%3D%s",
		strings.TrimSuffix(cfg.Host, "/"), operatorv1alpha2.GroupVersion.String(), namespace, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	table := &metav1.Table{}
	g.Expect(json.Unmarshal(body, table)).To(Succeed())
	return table
}
