package install

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// spec.networkPoliciesEnabled: the NetworkPolicies of the Kyma Istio module,
// with its names, selectors, ports and peers, so that clusters moving from
// that module keep the same traffic rules. They are applied, pruned and
// uninstalled with the charts' objects, found by ManagedByLabel.

// NetworkPolicyPrefix starts the name of every NetworkPolicy the operator
// keeps for spec.networkPoliciesEnabled.
const NetworkPolicyPrefix = "kyma-project.io--"

// NetworkPoliciesAnnotation is set to "enabled" on the pod templates of
// istiod, the ingress gateway and the CNI node agent while the network
// policies are on: toggling spec.networkPoliciesEnabled changes those
// templates, so each of them is rolled out exactly once per toggle, as the
// Kyma module restarts them.
const NetworkPoliciesAnnotation = "operator.kyma-project.io/network-policies"

// KymaSystemNamespace holds the Kyma module's operator; the policy for its
// pods is created there, and only when the namespace exists.
const KymaSystemNamespace = "kyma-system"

// defaultAPIServerPort is the API server's port when the kubernetes Service
// does not name a numeric target port.
const defaultAPIServerPort = 443

// Label keys of the policies' selectors, as the Kyma module uses them.
const (
	moduleLabel            = "kyma-project.io/module"
	kymaNetworkingPrefix   = "networking.kyma-project.io/"
	allowedValue           = "allowed"
	tlsModeLabel           = "security.istio.io/tlsMode"
	fromIngressGatewayPeer = kymaNetworkingPrefix + "from-ingressgateway"
	toEgressGatewayPeer    = kymaNetworkingPrefix + "to-egressgateway"
)

// networkPolicyFacts are the facts about the cluster the policies depend on.
type networkPolicyFacts struct {
	// APIServerPort is the target port of port "https" of Service
	// default/kubernetes: where pods reach the API server.
	APIServerPort int32
	// KymaSystem tells whether the namespace kyma-system exists.
	KymaSystem bool
}

// readNetworkPolicyFacts reads the API server's port and whether
// kyma-system exists.
func (i *Installer) readNetworkPolicyFacts(ctx context.Context) (networkPolicyFacts, error) {
	facts := networkPolicyFacts{APIServerPort: defaultAPIServerPort}
	var svc corev1.Service
	if err := i.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "kubernetes"}, &svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return facts, fmt.Errorf("read Service default/kubernetes for the API server's port: %w", err)
		}
	}
	for _, p := range svc.Spec.Ports {
		// A named target port cannot be resolved from the Service: keep 443.
		if p.Name == "https" && p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal > 0 {
			facts.APIServerPort = p.TargetPort.IntVal
		}
	}
	var ns corev1.Namespace
	switch err := i.client.Get(ctx, client.ObjectKey{Name: KymaSystemNamespace}, &ns); {
	case err == nil:
		facts.KymaSystem = ns.DeletionTimestamp == nil
	case !apierrors.IsNotFound(err):
		return facts, fmt.Errorf("read namespace %s: %w", KymaSystemNamespace, err)
	}
	return facts, nil
}

// networkPolicies returns the policies for the control-plane namespace
// istioNamespace, each labelled with ManagedByLabel.
func networkPolicies(facts networkPolicyFacts, istioNamespace string) ([]*unstructured.Unstructured, error) {
	dns := egressRule(nil, port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53))
	api := egressRule(nil, port(corev1.ProtocolTCP, facts.APIServerPort))
	metrics := func(ports ...int32) networkingv1.NetworkPolicyIngressRule {
		return ingressRule(metricsScrapers(), tcpPorts(ports...)...)
	}
	sameNamespace := func(key, value string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}}
	}

	var policies []networkingv1.NetworkPolicy
	if facts.KymaSystem {
		policies = append(policies, policy(KymaSystemNamespace, "allow-istio-controller-manager",
			map[string]string{moduleLabel: "istio", "app.kubernetes.io/name": "istio-operator"},
			nil, []networkingv1.NetworkPolicyEgressRule{dns, api}))
	}
	policies = append(policies,
		policy(istioNamespace, "istio-pilot", map[string]string{"istio": "pilot"},
			[]networkingv1.NetworkPolicyIngressRule{
				ingressRule([]networkingv1.NetworkPolicyPeer{
					anyNamespace(tlsModeLabel, "istio"),
					sameNamespace("istio", "ingressgateway"),
					sameNamespace("istio", "egressgateway"),
				}, tcpPorts(15012)...),
				metrics(15014),
				ingressRule(nil, tcpPorts(15017)...),
			},
			[]networkingv1.NetworkPolicyEgressRule{dns, api}),
		policy(istioNamespace, "istio-pilot-jwks", map[string]string{"istio": "pilot"},
			nil, []networkingv1.NetworkPolicyEgressRule{egressRule(nil, tcpPorts(80, 443)...)}),
		policy(istioNamespace, "istio-ingressgateway", map[string]string{"istio": "ingressgateway"},
			[]networkingv1.NetworkPolicyIngressRule{
				ingressRule(nil, tcpPorts(8080, 8443)...),
				metrics(15020, 15021, 15090),
			},
			[]networkingv1.NetworkPolicyEgressRule{
				egressRule([]networkingv1.NetworkPolicyPeer{sameNamespace("istio", "pilot")}, tcpPorts(15012)...),
				dns,
			}),
		policy(istioNamespace, "istio-ingressgateway-egress", map[string]string{"istio": "ingressgateway"},
			nil, []networkingv1.NetworkPolicyEgressRule{
				egressRule([]networkingv1.NetworkPolicyPeer{anyNamespace(fromIngressGatewayPeer, allowedValue)}),
			}),
		policy(istioNamespace, "istio-egressgateway", map[string]string{"istio": "egressgateway"},
			[]networkingv1.NetworkPolicyIngressRule{
				ingressRule([]networkingv1.NetworkPolicyPeer{anyNamespace(toEgressGatewayPeer, allowedValue)}),
				metrics(15020, 15021, 15090),
			},
			// One empty rule: all egress.
			[]networkingv1.NetworkPolicyEgressRule{{}}),
		policy(istioNamespace, "istio-cni-node", map[string]string{"k8s-app": "istio-cni-node"},
			nil, []networkingv1.NetworkPolicyEgressRule{dns, api}),
	)

	out := make([]*unstructured.Unstructured, 0, len(policies))
	for n := range policies {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&policies[n])
		if err != nil {
			return nil, fmt.Errorf("convert NetworkPolicy %s: %w", policies[n].Name, err)
		}
		u := &unstructured.Unstructured{Object: m}
		// Fields the typed struct always has but a server-side apply must
		// not own.
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "status")
		out = append(out, u)
	}
	return out, nil
}

// policy is one NetworkPolicy; its policy types are those it has rules for,
// so an egress-only policy does not isolate its pods' ingress.
func policy(namespace, name string, podLabels map[string]string, ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule) networkingv1.NetworkPolicy {
	p := networkingv1.NetworkPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      NetworkPolicyPrefix + name,
			Labels:    map[string]string{ManagedByLabel: ManagedByValue, moduleLabel: "istio"},
		},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: podLabels},
			Ingress:     ingress,
			Egress:      egress,
		},
	}
	if len(ingress) > 0 {
		p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
	}
	if len(egress) > 0 {
		p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	}
	return p
}

// metricsScrapers are the peers allowed to scrape metrics: pods of any Kyma
// module, and pods labelled for Istio metrics or metrics scraping, in any
// namespace.
func metricsScrapers() []networkingv1.NetworkPolicyPeer {
	return []networkingv1.NetworkPolicyPeer{
		{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: moduleLabel, Operator: metav1.LabelSelectorOpExists},
			}},
		},
		anyNamespace(kymaNetworkingPrefix+"istio-metrics", allowedValue),
		anyNamespace(kymaNetworkingPrefix+"metrics-scraping", allowedValue),
	}
}

// anyNamespace is a peer of pods labelled key=value in any namespace.
func anyNamespace(key, value string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{key: value}},
	}
}

func ingressRule(from []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: from, Ports: ports}
}

func egressRule(to []networkingv1.NetworkPolicyPeer, ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: to, Ports: ports}
}

func port(protocol corev1.Protocol, number int32) networkingv1.NetworkPolicyPort {
	p := intstr.FromInt32(number)
	return networkingv1.NetworkPolicyPort{Protocol: &protocol, Port: &p}
}

func tcpPorts(numbers ...int32) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, len(numbers))
	for n, number := range numbers {
		out[n] = port(corev1.ProtocolTCP, number)
	}
	return out
}
