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

package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Istio is the configuration of the Istio service mesh installed by the
// operator. One Istio CR per cluster is reconciled: the oldest one; the Ready
// condition of any other says OlderCRExists.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:scope=Namespaced,categories={kyma-modules,kyma-istio}
// +kubebuilder:printcolumn:name="State",type="string",JSONPath=".status.state",description="State of the Istio installation"
// +kubebuilder:printcolumn:name="Istio version",type="string",JSONPath=".status.istioVersion",description="Istio version installed"
// +kubebuilder:printcolumn:name="Sidecar type",type="string",JSONPath=".status.sidecarType",description="Default istio-proxy container type in force: native or regular"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type Istio struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired configuration of Istio.
	Spec IstioSpec `json:"spec,omitempty"`
	// Status is the state of the installation as last observed by the operator.
	Status IstioStatus `json:"status,omitempty"`
}

// IstioList is a list of Istio custom resources.
//
// +kubebuilder:object:root=true
type IstioList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Istio custom resources.
	Items []Istio `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Istio{}, &IstioList{})
}

// IstioSpec is the desired configuration of the Istio installation. Every
// field is optional: an empty spec installs Istio with the module's defaults.
type IstioSpec struct {
	// CompatibilityMode makes Istio behave as the previous Istio minor
	// version (Istio's compatibility profile of that version). With module
	// 1.30 it means Istio 1.29 behaviour; the default istio-proxy container
	// type stays native, as it is for every Istio version from 1.28 on.
	// Defaults to false.
	// +optional
	CompatibilityMode bool `json:"compatibilityMode,omitempty"`

	// Config is the mesh-wide configuration of Istio.
	// +optional
	Config Config `json:"config,omitzero"`

	// Components configures the Kubernetes resources of Istio's components.
	// +optional
	Components *Components `json:"components,omitempty"`

	// NetworkPoliciesEnabled makes the operator keep the NetworkPolicies of
	// the Kyma Istio module, named kyma-project.io--*, that allow the traffic
	// of istiod, the gateways and the CNI node agent (DNS, the API server,
	// istiod's ports, the gateways' ports, metrics scraping) in
	// istio-system, and of the module's operator in kyma-system if that
	// namespace exists. Turning it on or off rolls out istiod, the ingress
	// gateway and the CNI node agent once. Defaults to false: no policies;
	// the operator removes those it created.
	// +optional
	NetworkPoliciesEnabled bool `json:"networkPoliciesEnabled,omitempty"`

	// Experimental holds features of Istio that are not yet stable.
	// +optional
	Experimental *Experimental `json:"experimental,omitempty"`
}

// Experimental holds features of Istio that are not yet stable.
type Experimental struct {
	// Pilot holds experimental features of istiod.
	// +optional
	Pilot *PilotFeatures `json:"pilot,omitempty"`

	// EnableAmbient asks for Istio's ambient data plane (ztunnel). This
	// operator installs the sidecar data plane only: a CR with
	// enableAmbient true is refused in its status (state Error, Ready reason
	// ValidationFailed) and nothing is installed or changed until it is
	// removed or set to false. Not set: false.
	// +optional
	EnableAmbient *bool `json:"enableAmbient,omitempty"`
}

// PilotFeatures are experimental features of istiod.
type PilotFeatures struct {
	// EnableAlphaGatewayAPI makes istiod serve the alpha resources of the
	// Kubernetes Gateway API (istiod's PILOT_ENABLE_ALPHA_GATEWAY_API).
	// Defaults to false.
	// +optional
	EnableAlphaGatewayAPI bool `json:"enableAlphaGatewayAPI,omitempty"`

	// EnableMultiNetworkDiscoverGatewayAPI makes istiod discover the
	// east-west gateways of a multi-network mesh from Gateway API resources
	// (istiod's PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API). Defaults to false.
	// +optional
	EnableMultiNetworkDiscoverGatewayAPI bool `json:"enableMultiNetworkDiscoverGatewayAPI,omitempty"`
}

// AmbientRequested reports whether the spec asks for the ambient data
// plane, which this operator does not install.
func (s IstioSpec) AmbientRequested() bool {
	return s.Experimental != nil && s.Experimental.EnableAmbient != nil && *s.Experimental.EnableAmbient
}

// ForwardClientCertDetails is how the ingress gateway handles the
// x-forwarded-client-cert (XFCC) HTTP header.
//
// +kubebuilder:validation:Enum=APPEND_FORWARD;SANITIZE_SET;SANITIZE;ALWAYS_FORWARD_ONLY;FORWARD_ONLY
type ForwardClientCertDetails string

// The values of ForwardClientCertDetails, as in Istio's
// Topology.ForwardClientCertDetails.
const (
	// ForwardClientCertAppendForward appends the client certificate details to the XFCC header of the request.
	ForwardClientCertAppendForward ForwardClientCertDetails = "APPEND_FORWARD"
	// ForwardClientCertSanitizeSet replaces the XFCC header with the client certificate details.
	ForwardClientCertSanitizeSet ForwardClientCertDetails = "SANITIZE_SET"
	// ForwardClientCertSanitize removes the XFCC header.
	ForwardClientCertSanitize ForwardClientCertDetails = "SANITIZE"
	// ForwardClientCertAlwaysForwardOnly always forwards the XFCC header unchanged.
	ForwardClientCertAlwaysForwardOnly ForwardClientCertDetails = "ALWAYS_FORWARD_ONLY"
	// ForwardClientCertForwardOnly forwards the XFCC header unchanged on mTLS connections.
	ForwardClientCertForwardOnly ForwardClientCertDetails = "FORWARD_ONLY"
)

// GatewayExternalTrafficPolicy is the externalTrafficPolicy of the ingress
// gateway's Service.
//
// +kubebuilder:validation:Enum=Local;Cluster
type GatewayExternalTrafficPolicy string

// The values of GatewayExternalTrafficPolicy.
const (
	// GatewayExternalTrafficPolicyLocal keeps the client source IP and routes only to gateway pods on the receiving node.
	GatewayExternalTrafficPolicyLocal GatewayExternalTrafficPolicy = "Local"
	// GatewayExternalTrafficPolicyCluster routes to gateway pods on any node and hides the client source IP.
	GatewayExternalTrafficPolicyCluster GatewayExternalTrafficPolicy = "Cluster"
)

// Config is the mesh-wide configuration of Istio.
type Config struct {
	// NumTrustedProxies is the number of trusted proxies deployed in front of
	// the Istio ingress gateway; it decides which entry of X-Forwarded-For is
	// taken as the client address. Not set: 0, no trusted proxy.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	NumTrustedProxies *int `json:"numTrustedProxies,omitempty"`

	// ForwardClientCertDetails is how the ingress gateway handles the
	// x-forwarded-client-cert (XFCC) header. Not set: SANITIZE_SET.
	// +optional
	ForwardClientCertDetails *ForwardClientCertDetails `json:"forwardClientCertDetails,omitempty"`

	// Authorizers are the external authorization (Envoy ext_authz over
	// HTTP) providers that AuthorizationPolicies with action CUSTOM refer to
	// by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Authorizers []Authorizer `json:"authorizers,omitempty"`

	// GatewayExternalTrafficPolicy is the externalTrafficPolicy of the
	// ingress gateway's Service: Local keeps the client source IP, Cluster
	// spreads traffic over all nodes. Not set: Local.
	// +optional
	GatewayExternalTrafficPolicy *GatewayExternalTrafficPolicy `json:"gatewayExternalTrafficPolicy,omitempty"`

	// Telemetry configures the telemetry of the mesh.
	// +optional
	Telemetry Telemetry `json:"telemetry,omitzero"`

	// TrustDomain is the SPIFFE trust domain of the mesh's workload
	// identities: a DNS name, labels of letters, digits and '-' separated by
	// '.', optionally ending in '.'. Istio's own check, which istiod applies
	// to the mesh config, refuses anything else, '_' included (though SPIFFE
	// allows it), so such a name is refused at admission rather than breaking
	// istiod later. Not set: cluster.local.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?([.][a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*[.]?$')",message="trustDomain must be a DNS name: labels of at most 63 letters, digits and '-' (not at either end), separated by '.'; Istio refuses other characters, '_' included"
	// +optional
	TrustDomain *string `json:"trustDomain,omitempty"`

	// EnableDNSProxying makes the istio-proxy of every workload answer DNS
	// queries (ISTIO_META_DNS_CAPTURE), so ServiceEntries without an address
	// resolve. Not set: false.
	// +optional
	EnableDNSProxying *bool `json:"enableDNSProxying,omitempty"`

	// ProxyStatsMatcher selects Envoy statistics that the istio-proxy
	// exposes in addition to Istio's default set.
	// +optional
	ProxyStatsMatcher *ProxyStatsMatcher `json:"proxyStatsMatcher,omitempty"`
}

// Authorizer is an external authorization provider: an HTTP service that
// implements Envoy's ext_authz API.
type Authorizer struct {
	// Name identifies the provider; AuthorizationPolicies with action CUSTOM
	// refer to it. Unique among the authorizers.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +required
	Name string `json:"name"`

	// Service is the service that implements the authorization API, as
	// "[<namespace>/]<hostname>", for example
	// "my-ext-authz.foo.svc.cluster.local" or "bar/my-ext-authz".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +required
	Service string `json:"service"`

	// Port is the port of the service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port uint32 `json:"port"`

	// Headers selects the headers sent to the authorization service and
	// those taken from its response.
	// +optional
	Headers *Headers `json:"headers,omitempty"`

	// PathPrefix is prepended to the path of the authorization request; it
	// must start with '/'. Not set: the original request path is used.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/\S*$`
	// +optional
	PathPrefix *string `json:"pathPrefix,omitempty"`

	// Timeout is how long to wait for the authorization service, as a
	// positive Go duration such as "500ms" or "2s". Not set: 600s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self) > duration('0s')",message="timeout must be greater than 0"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Headers selects the headers exchanged with an authorization service.
//
// Header names in these lists match exactly ("abc"), by prefix ("abc*") or by
// suffix ("*abc").
type Headers struct {
	// InCheck selects the headers sent to the authorization service.
	// +optional
	InCheck *InCheck `json:"inCheck,omitempty"`

	// ToUpstream selects the headers of the authorization response that are
	// added to the request forwarded upstream.
	// +optional
	ToUpstream *ToUpstream `json:"toUpstream,omitempty"`

	// ToDownstream selects the headers of the authorization response that
	// are sent back to the client.
	// +optional
	ToDownstream *ToDownstream `json:"toDownstream,omitempty"`
}

// InCheck selects the headers sent to the authorization service.
type InCheck struct {
	// Include lists the client request headers sent to the authorization
	// service, besides Host, Method, Path and Content-Length, which are
	// always sent.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	Include []string `json:"include,omitempty"`

	// Add holds fixed headers (name: value) added to the authorization
	// request; they override client headers of the same name.
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Add map[string]string `json:"add,omitempty"`
}

// ToUpstream selects the authorization response headers forwarded upstream.
type ToUpstream struct {
	// OnAllow lists the authorization response headers that are added to
	// (or override those of) the request forwarded upstream when the request
	// is allowed. Not set: the request is forwarded unchanged.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	OnAllow []string `json:"onAllow,omitempty"`
}

// ToDownstream selects the authorization response headers sent to the client.
type ToDownstream struct {
	// OnAllow lists the authorization response headers sent to the client
	// when the request is allowed. Not set: the response is unchanged.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	OnAllow []string `json:"onAllow,omitempty"`

	// OnDeny lists the authorization response headers sent to the client
	// when the request is denied. Not set: all of them but Authority (Host).
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	OnDeny []string `json:"onDeny,omitempty"`
}

// Telemetry configures the telemetry of the mesh.
type Telemetry struct {
	// Metrics configures the metrics of the mesh.
	// +optional
	Metrics Metrics `json:"metrics,omitzero"`
}

// Metrics configures the metrics of the mesh.
type Metrics struct {
	// PrometheusMerge makes the istio-proxy merge the application's
	// Prometheus metrics with its own and serve both on one endpoint (and
	// rewrite the prometheus.io scrape annotations to it). Defaults to false.
	// +optional
	PrometheusMerge bool `json:"prometheusMerge,omitempty"`
}

// ProxyStatsMatcher selects additional Envoy statistics.
type ProxyStatsMatcher struct {
	// InclusionRegexps lists RE2 regular expressions; the Envoy statistics
	// whose names match any of them are exposed.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	InclusionRegexps []string `json:"inclusionRegexps,omitempty"`
}

// Components configures the Kubernetes resources of Istio's components. A
// component that is not set keeps the module's defaults.
type Components struct {
	// Pilot configures istiod, the control plane.
	// +optional
	Pilot *IstioComponent `json:"pilot,omitempty"`

	// IngressGateway configures the istio-ingressgateway Deployment.
	// +optional
	IngressGateway *IstioComponent `json:"ingressGateway,omitempty"`

	// EgressGateway enables and configures the istio-egressgateway
	// Deployment.
	// +optional
	EgressGateway *EgressGateway `json:"egressGateway,omitempty"`

	// CNI configures the istio-cni-node DaemonSet.
	// +optional
	CNI *CNIComponent `json:"cni,omitempty"`

	// Proxy configures the istio-proxy injected into every workload.
	// +optional
	Proxy *ProxyComponent `json:"proxy,omitempty"`
}

// IstioComponent configures a Deployment of Istio (istiod or a gateway).
type IstioComponent struct {
	// K8s holds the Kubernetes settings of the component.
	// +required
	K8s *KubernetesResourcesConfig `json:"k8s"`
}

// EgressGateway enables and configures the egress gateway.
type EgressGateway struct {
	// Enabled installs the istio-egressgateway. Not set: false.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// K8s holds the Kubernetes settings of the egress gateway.
	// +optional
	K8s *KubernetesResourcesConfig `json:"k8s,omitempty"`
}

// CNIComponent configures the Istio CNI node agent.
type CNIComponent struct {
	// K8s holds the Kubernetes settings of the CNI DaemonSet.
	// +required
	K8s *CNIK8sConfig `json:"k8s"`
}

// CNIK8sConfig holds the Kubernetes settings of the CNI DaemonSet.
type CNIK8sConfig struct {
	// Affinity is the scheduling affinity of the CNI pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// Resources are the compute resources of the CNI container.
	// +optional
	Resources *Resources `json:"resources,omitempty"`
}

// ProxyComponent configures the istio-proxy injected into workloads.
type ProxyComponent struct {
	// K8s holds the Kubernetes settings of the istio-proxy container.
	// +required
	K8s *ProxyK8sConfig `json:"k8s"`
}

// ProxyK8sConfig holds the Kubernetes settings of the istio-proxy container.
type ProxyK8sConfig struct {
	// Resources are the compute resources of every injected istio-proxy.
	// +optional
	Resources *Resources `json:"resources,omitempty"`
}

// KubernetesResourcesConfig holds the Kubernetes settings of a Deployment of
// Istio.
type KubernetesResourcesConfig struct {
	// HPASpec sets the replica bounds of the component's
	// HorizontalPodAutoscaler. Not set: the module's defaults.
	// +optional
	HPASpec *HPASpec `json:"hpaSpec,omitempty"`

	// Strategy is the Deployment's rolling update strategy. Not set: the
	// module's defaults.
	// +optional
	Strategy *Strategy `json:"strategy,omitempty"`

	// Resources are the compute resources of the component's main container.
	// Not set: the module's defaults.
	// +optional
	Resources *Resources `json:"resources,omitempty"`
}

// HPASpec sets the replica bounds of a HorizontalPodAutoscaler.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must be less than or equal to maxReplicas"
type HPASpec struct {
	// MinReplicas is the lower replica bound.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483647
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the upper replica bound.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2147483647
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// Strategy is a Deployment's update strategy.
type Strategy struct {
	// RollingUpdate configures the rolling update.
	// +required
	RollingUpdate *RollingUpdate `json:"rollingUpdate"`
}

// RollingUpdate configures a Deployment's rolling update. Each value is a
// number of pods (an integer >= 0) or a percentage of the desired pods (a
// string such as "25%").
//
// +kubebuilder:validation:XValidation:rule="!has(self.maxSurge) || !has(self.maxUnavailable) || !(string(self.maxSurge) in ['0', '0%'] && string(self.maxUnavailable) in ['0', '0%'])",message="maxSurge and maxUnavailable must not both be zero"
type RollingUpdate struct {
	// MaxSurge is how many pods may be created above the desired number
	// during the update.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == string ? self.matches('^[0-9]+%$') : self >= 0",message="maxSurge must be an integer >= 0 or a percentage such as '25%'"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// MaxUnavailable is how many of the desired pods may be unavailable
	// during the update: at most 100%, as Kubernetes allows on a Deployment.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == string ? self.matches('^0*([0-9]{1,2}|100)%$') : self >= 0",message="maxUnavailable must be an integer >= 0 or a percentage from 0% to 100% such as '25%'"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// Resources are the compute resources of a container.
//
// +kubebuilder:validation:XValidation:rule="!has(self.limits) || !has(self.requests) || !has(self.limits.cpu) || !has(self.requests.cpu) || !isQuantity(self.limits.cpu) || !isQuantity(self.requests.cpu) || quantity(self.requests.cpu).compareTo(quantity(self.limits.cpu)) <= 0",message="requests.cpu must be less than or equal to limits.cpu"
// +kubebuilder:validation:XValidation:rule="!has(self.limits) || !has(self.requests) || !has(self.limits.memory) || !has(self.requests.memory) || !isQuantity(self.limits.memory) || !isQuantity(self.requests.memory) || quantity(self.requests.memory).compareTo(quantity(self.limits.memory)) <= 0",message="requests.memory must be less than or equal to limits.memory"
type Resources struct {
	// Limits are the maximum resources the container may use.
	// +optional
	Limits *ResourceClaims `json:"limits,omitempty"`

	// Requests are the resources reserved for the container when it is
	// scheduled.
	// +optional
	Requests *ResourceClaims `json:"requests,omitempty"`
}

// ResourceClaims are amounts of CPU and memory, as Kubernetes quantities.
type ResourceClaims struct {
	// CPU is an amount of CPU, as a Kubernetes quantity such as "100m" or "1".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isQuantity(self) && !quantity(self).isLessThan(quantity('0'))",message="cpu must be a non-negative quantity such as '100m' or '1'"
	// +optional
	CPU *string `json:"cpu,omitempty"`

	// Memory is an amount of memory, as a Kubernetes quantity such as
	// "128Mi" or "1Gi".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isQuantity(self) && !quantity(self).isLessThan(quantity('0'))",message="memory must be a non-negative quantity such as '128Mi' or '1Gi'"
	// +optional
	Memory *string `json:"memory,omitempty"`
}

// State is the state of the Istio installation, as shown in the CR's status.
type State string

// The states of an Istio CR.
const (
	// StateProcessing means the operator is installing or updating Istio, or
	// restarting workloads.
	StateProcessing State = "Processing"
	// StateDeleting means the operator is removing Istio.
	StateDeleting State = "Deleting"
	// StateReady means Istio is installed as the spec asks and every
	// workload runs the expected istio-proxy.
	StateReady State = "Ready"
	// StateError means the last reconciliation failed; see the conditions.
	StateError State = "Error"
	// StateWarning means Istio works but something needs the user's
	// attention; see the conditions.
	StateWarning State = "Warning"
)

// The values of IstioStatus.SidecarType.
const (
	// SidecarTypeNative means istio-proxy is injected as a native sidecar (an
	// init container with restartPolicy Always).
	SidecarTypeNative = "native"
	// SidecarTypeRegular means istio-proxy is injected as a regular container.
	SidecarTypeRegular = "regular"
)

// IstioStatus is the state of the installation as last observed by the
// operator.
type IstioStatus struct {
	// State is the overall state: Processing, Deleting, Ready, Error or
	// Warning.
	// +kubebuilder:validation:Enum=Processing;Deleting;Ready;Error;Warning
	// +required
	State State `json:"state"`

	// Description explains the state in one human sentence.
	// +optional
	Description string `json:"description,omitempty"`

	// Conditions are the detailed observations of the operator, one per
	// type (Ready, Installed, ProxySidecarRestartSucceeded,
	// NativeSidecarsSupported, IngressTargetingUserResourceFound), each from
	// the last reconcile: a type that reconcile did not reach (it stopped
	// earlier, e.g. at a failed install) is absent. The Conditions section
	// lists every reason.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ObservedGeneration is the metadata.generation of the spec that the
	// status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// IstioVersion is the Istio version installed, such as "1.30.2". It is
	// also the last applied version that the upgrade guard compares with.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	IstioVersion string `json:"istioVersion,omitempty"`

	// SidecarType is the default istio-proxy container type in force:
	// "native" (init container with restartPolicy Always) or "regular".
	// Workloads may override it with the pod annotation
	// sidecar.istio.io/nativeSidecar.
	// +kubebuilder:validation:Enum=native;regular
	// +optional
	SidecarType string `json:"sidecarType,omitempty"`

	// ProxyRestart summarises the last run of the proxy restarter.
	// +optional
	ProxyRestart *ProxyRestartStatus `json:"proxyRestart,omitempty"`
}

// ProxyRestartStatus summarises the last run of the proxy restarter, which
// replaces pods whose istio-proxy has the wrong container type or version.
//
// Each workload list holds at most 5 entries "namespace/Kind/name", plus a
// last entry "and N more" when there are more.
type ProxyRestartStatus struct {
	// PodsScanned is how many pods with an istio-proxy were checked.
	// +optional
	PodsScanned int32 `json:"podsScanned,omitempty"`

	// StalePods is how many of them had the wrong container type or proxy
	// version.
	// +optional
	StalePods int32 `json:"stalePods,omitempty"`

	// Restarted is how many workloads were rolled out (or had stale pods
	// deleted) in this run.
	// +optional
	Restarted int32 `json:"restarted,omitempty"`

	// Pending is how many workloads still wait for their rollout (paced or
	// in progress).
	// +optional
	Pending int32 `json:"pending,omitempty"`

	// ManualRestart is how many workloads the operator cannot restart (Jobs,
	// CronJobs, bare pods, unknown owners): their owners must replace them.
	// +optional
	ManualRestart int32 `json:"manualRestart,omitempty"`

	// NotConverging is how many workloads were rolled out for the target
	// and still run stale pods; they are not restarted again.
	// +optional
	NotConverging int32 `json:"notConverging,omitempty"`

	// SameProxy is how many workloads with stale pods were not restarted
	// because the injector gives their new pods the proxy the stale pods
	// already have: a restart would change nothing.
	// +optional
	SameProxy int32 `json:"sameProxy,omitempty"`

	// RestartedWorkloads names the workloads restarted in this run.
	// +kubebuilder:validation:MaxItems=6
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	RestartedWorkloads []string `json:"restartedWorkloads,omitempty"`

	// PendingWorkloads names the workloads whose rollout is pending.
	// +kubebuilder:validation:MaxItems=6
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	PendingWorkloads []string `json:"pendingWorkloads,omitempty"`

	// ManualRestartWorkloads names the workloads that must be restarted by
	// the user.
	// +kubebuilder:validation:MaxItems=6
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	ManualRestartWorkloads []string `json:"manualRestartWorkloads,omitempty"`

	// NotConvergingWorkloads names the workloads that are not converging.
	// +kubebuilder:validation:MaxItems=6
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	NotConvergingWorkloads []string `json:"notConvergingWorkloads,omitempty"`

	// SameProxyWorkloads names the workloads not restarted because a
	// restart would give them the same proxy.
	// +kubebuilder:validation:MaxItems=6
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	SameProxyWorkloads []string `json:"sameProxyWorkloads,omitempty"`

	// LastRunTime is when the restarter last ran.
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
}
