package install

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
)

// Release names of the charts without a Deployment of that name; the
// releases of istiod and of the gateways are named after their Deployments
// (IstiodName, IngressGatewayName, EgressGatewayName), and a gateway's
// release name is also the name of its Service, HPA and ServiceAccount.
const (
	baseRelease = "base"
	cniRelease  = "istio-cni"
)

// Options are the operator-level install settings (not from the CR).
type Options struct {
	// Namespace is the control-plane namespace. Default DefaultNamespace.
	Namespace string
	// Hub is the image registry. Default DefaultHub.
	Hub string
	// KubeVersion is the cluster's version for the charts' capabilities,
	// e.g. "v1.37.2". Required.
	KubeVersion string
	// IstiodRemoteURL is "" or the base URL of an istiod outside the cluster,
	// e.g. "https://127.0.0.1:15017". When set, the webhooks call
	// URL+"/inject" and URL+"/validate" instead of the istiod Service.
	IstiodRemoteURL string
	// Charts are the Istio charts to render. Default EmbeddedCharts(). Only
	// tests and the local demo set others (a real earlier Istio); the
	// decision's Istio version must be theirs.
	Charts *Charts
}

// withDefaults fills in the defaults of unset options.
func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Hub == "" {
		o.Hub = DefaultHub
	}
	if o.Charts == nil {
		o.Charts = EmbeddedCharts()
	}
	return o
}

// istiod's environment variables behind spec.experimental.pilot.
const (
	envAlphaGatewayAPI                = "PILOT_ENABLE_ALPHA_GATEWAY_API"
	envMultiNetworkDiscoverGatewayAPI = "PILOT_MULTI_NETWORK_DISCOVER_GATEWAY_API"
)

// chartRelease is one chart to render with its release name and values.
type chartRelease struct {
	chart   chartID
	release string
	values  map[string]any
}

// releases computes every chart release to render from the CR spec, the
// decision and the options: base, istiod, istio-cni, the ingress gateway and,
// when enabled, the egress gateway, in that order.
//
// Values are computed from scratch on every call, so a field removed from the
// CR removes its effect, and the same input gives the same values.
func releases(spec v1alpha2.IstioSpec, d sidecarmode.Decision, opts Options) ([]chartRelease, error) {
	opts = opts.withDefaults()
	if d.IstioVersion == "" {
		return nil, errors.New("decision without Istio version")
	}
	if d.IstioVersion != opts.Charts.Istio {
		return nil, fmt.Errorf("the target Istio %s is not the Istio of the charts at hand (%s): "+
			"run the operator release that installs Istio %s", d.IstioVersion, opts.Charts.Istio, d.IstioVersion)
	}
	if d.EnableNativeSidecars != "true" && d.EnableNativeSidecars != "false" {
		return nil, fmt.Errorf("ENABLE_NATIVE_SIDECARS must be \"true\" or \"false\", not %q", d.EnableNativeSidecars)
	}
	comps := spec.Components
	if comps == nil {
		comps = &v1alpha2.Components{}
	}

	istiod, err := istiodValues(spec.Config, comps, spec.Experimental, d, opts)
	if err != nil {
		return nil, err
	}
	cni := cniValues(comps.CNI, d, opts)
	rels := []chartRelease{
		{chart: chartBase, release: baseRelease, values: baseValues(d, opts)},
		{chart: chartIstiod, release: IstiodName, values: istiod},
		{chart: chartCNI, release: cniRelease, values: cni},
	}

	ingress := gatewayValues(IngressGatewayName, k8sOf(comps.IngressGateway), d, opts)
	if spec.NetworkPoliciesEnabled {
		// The components the Kyma module restarts when the policies are
		// turned on or off: a template change rolls each out once.
		istiod["pilot"].(map[string]any)["podAnnotations"] = map[string]any{NetworkPoliciesAnnotation: "enabled"}
		cni["podAnnotations"] = map[string]any{NetworkPoliciesAnnotation: "enabled"}
		ingress["podAnnotations"].(map[string]any)[NetworkPoliciesAnnotation] = "enabled"
	}
	service := ingress["service"].(map[string]any)
	service["externalTrafficPolicy"] = string(v1alpha2.GatewayExternalTrafficPolicyLocal)
	if p := spec.Config.GatewayExternalTrafficPolicy; p != nil {
		service["externalTrafficPolicy"] = string(*p)
	}
	rels = append(rels, chartRelease{chart: chartGateway, release: IngressGatewayName, values: ingress})

	if egressEnabled(spec) {
		egress := gatewayValues(EgressGatewayName, comps.EgressGateway.K8s, d, opts)
		egress["service"].(map[string]any)["type"] = "ClusterIP"
		rels = append(rels, chartRelease{chart: chartGateway, release: EgressGatewayName, values: egress})
	}
	return rels, nil
}

// commonValues are the values every chart gets: image hub and tag, the
// control-plane namespace and the compatibility profile. Every chart of Istio
// 1.30 ships the same compatibility profiles (only pilot and cni keys today),
// so all of them get the version, as Istio's own installer does.
func commonValues(d sidecarmode.Decision, opts Options) map[string]any {
	v := map[string]any{
		"global": map[string]any{
			"hub":            opts.Hub,
			"tag":            d.IstioVersion,
			"istioNamespace": opts.Namespace,
		},
	}
	if d.CompatibilityVersion != "" {
		v["compatibilityVersion"] = d.CompatibilityVersion
	}
	return v
}

// baseValues are the values of the base chart: the CRDs and the
// default-revision validating webhook.
func baseValues(d sidecarmode.Decision, opts Options) map[string]any {
	v := commonValues(d, opts)
	if opts.IstiodRemoteURL != "" {
		v["base"] = map[string]any{"validationURL": remoteURL(opts, "/validate")}
	}
	return v
}

// istiodValues are the values of the istiod chart: istiod's settings, the
// mesh config, the injector's settings and the webhooks.
func istiodValues(cfg v1alpha2.Config, comps *v1alpha2.Components, exp *v1alpha2.Experimental, d sidecarmode.Decision, opts Options) (map[string]any, error) {
	v := commonValues(d, opts)

	pilotEnv := map[string]any{
		// Never "auto": the restarter's expectation must not depend on
		// istiod's guess about the nodes.
		"ENABLE_NATIVE_SIDECARS": d.EnableNativeSidecars,
	}
	// Both features are off in istiod unless asked for, so only "true" is
	// written: turning one off removes the variable.
	if exp != nil && exp.Pilot != nil {
		if exp.Pilot.EnableAlphaGatewayAPI {
			pilotEnv[envAlphaGatewayAPI] = "true"
		}
		if exp.Pilot.EnableMultiNetworkDiscoverGatewayAPI {
			pilotEnv[envMultiNetworkDiscoverGatewayAPI] = "true"
		}
	}
	pilot := map[string]any{
		"env": pilotEnv,
		// The CNI chart is always installed: the injector then adds
		// istio-validation instead of the privileged istio-init.
		"cni": map[string]any{"enabled": true},
	}
	if k := k8sOf(comps.Pilot); k != nil {
		if k.Resources != nil {
			pilot["resources"] = resourcesValue(k.Resources)
		}
		if h := k.HPASpec; h != nil {
			lo, hi := replicaBounds(h, opts.Charts, chartIstiod, "autoscaleMax")
			if lo != nil {
				pilot["autoscaleMin"] = *lo
			}
			if hi != nil {
				pilot["autoscaleMax"] = *hi
			}
		}
		if s := k.Strategy; s != nil && s.RollingUpdate != nil {
			if s.RollingUpdate.MaxSurge != nil {
				pilot["rollingMaxSurge"] = intOrStringValue(*s.RollingUpdate.MaxSurge)
			}
			if s.RollingUpdate.MaxUnavailable != nil {
				pilot["rollingMaxUnavailable"] = intOrStringValue(*s.RollingUpdate.MaxUnavailable)
			}
		}
	}
	v["pilot"] = pilot

	mesh, err := meshConfigValue(cfg)
	if err != nil {
		return nil, err
	}
	v["meshConfig"] = mesh

	if p := comps.Proxy; p != nil && p.K8s != nil && p.K8s.Resources != nil {
		global := v["global"].(map[string]any)
		global["proxy"] = map[string]any{"resources": resourcesValue(p.K8s.Resources)}
	}

	// Every injected pod records the proxy settings it was injected under,
	// for the restarter to compare with the CR's.
	if record := d.Proxy.Record(); record != "" {
		v["sidecarInjectorWebhook"] = map[string]any{
			"injectedAnnotations": map[string]any{sidecarmode.AnnotationProxySettings: record},
		}
	}

	if opts.IstiodRemoteURL != "" {
		v["istiodRemote"] = map[string]any{"injectionURL": remoteURL(opts, "/inject")}
		v["base"] = map[string]any{"validationURL": remoteURL(opts, "/validate")}
	}
	return v, nil
}

// meshConfigValue is the istiod chart's meshConfig value, Istio's MeshConfig
// in its JSON form, which the chart merges over its own defaults.
func meshConfigValue(cfg v1alpha2.Config) (map[string]any, error) {
	mesh := map[string]any{
		// Explicit, so that removing the field reverts to Kyma's default
		// (false) and not to the chart's (true).
		"enablePrometheusMerge": cfg.Telemetry.Metrics.PrometheusMerge,
	}
	if cfg.TrustDomain != nil {
		mesh["trustDomain"] = *cfg.TrustDomain
	}

	defaultConfig := map[string]any{}
	topology := map[string]any{}
	if cfg.NumTrustedProxies != nil {
		topology["numTrustedProxies"] = *cfg.NumTrustedProxies
	}
	if cfg.ForwardClientCertDetails != nil {
		topology["forwardClientCertDetails"] = string(*cfg.ForwardClientCertDetails)
	}
	if len(topology) > 0 {
		defaultConfig["gatewayTopology"] = topology
	}
	if cfg.EnableDNSProxying != nil {
		defaultConfig["proxyMetadata"] = map[string]any{
			"ISTIO_META_DNS_CAPTURE": fmt.Sprintf("%t", *cfg.EnableDNSProxying),
		}
	}
	if m := cfg.ProxyStatsMatcher; m != nil && len(m.InclusionRegexps) > 0 {
		defaultConfig["proxyStatsMatcher"] = map[string]any{
			"inclusionRegexps": stringList(m.InclusionRegexps),
		}
	}
	if len(defaultConfig) > 0 {
		mesh["defaultConfig"] = defaultConfig
	}

	if len(cfg.Authorizers) > 0 {
		providers := make([]any, 0, len(cfg.Authorizers))
		for _, a := range cfg.Authorizers {
			p, err := extensionProvider(a)
			if err != nil {
				return nil, err
			}
			providers = append(providers, p)
		}
		mesh["extensionProviders"] = providers
	}
	return mesh, nil
}

// extensionProvider is one MeshConfig.extensionProviders entry, of type
// envoyExtAuthzHttp, for an authorizer.
func extensionProvider(a v1alpha2.Authorizer) (map[string]any, error) {
	authz := map[string]any{
		"service": a.Service,
		"port":    int64(a.Port),
	}
	if a.PathPrefix != nil {
		authz["pathPrefix"] = *a.PathPrefix
	}
	if a.Timeout != nil {
		if a.Timeout.Duration <= 0 {
			return nil, fmt.Errorf("authorizer %q: timeout must be positive, not %s", a.Name, a.Timeout.Duration)
		}
		authz["timeout"] = protoDuration(a.Timeout.Duration)
	}
	if h := a.Headers; h != nil {
		if in := h.InCheck; in != nil {
			if len(in.Include) > 0 {
				authz["includeRequestHeadersInCheck"] = stringList(in.Include)
			}
			if len(in.Add) > 0 {
				add := make(map[string]any, len(in.Add))
				for k, val := range in.Add {
					add[k] = val
				}
				authz["includeAdditionalHeadersInCheck"] = add
			}
		}
		if up := h.ToUpstream; up != nil && len(up.OnAllow) > 0 {
			authz["headersToUpstreamOnAllow"] = stringList(up.OnAllow)
		}
		if down := h.ToDownstream; down != nil {
			if len(down.OnAllow) > 0 {
				authz["headersToDownstreamOnAllow"] = stringList(down.OnAllow)
			}
			if len(down.OnDeny) > 0 {
				authz["headersToDownstreamOnDeny"] = stringList(down.OnDeny)
			}
		}
	}
	return map[string]any{"name": a.Name, "envoyExtAuthzHttp": authz}, nil
}

// cniValues are the values of the istio-cni chart.
func cniValues(cni *v1alpha2.CNIComponent, d sidecarmode.Decision, opts Options) map[string]any {
	v := commonValues(d, opts)
	if cni == nil || cni.K8s == nil {
		return v
	}
	if cni.K8s.Affinity != nil {
		// A typed struct converts without error; the chart takes it as is.
		if aff, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cni.K8s.Affinity); err == nil {
			v["affinity"] = aff
		}
	}
	if cni.K8s.Resources != nil {
		v["resources"] = resourcesValue(cni.K8s.Resources)
	}
	return v
}

// gatewayValues are the values of the gateway chart for the gateway name
// (its release name): labels app=<name>, istio=<name without "istio-">, the
// version pod annotation and the Kubernetes settings of the CR.
func gatewayValues(name string, k *v1alpha2.KubernetesResourcesConfig, d sidecarmode.Decision, opts Options) map[string]any {
	v := commonValues(d, opts)
	v["name"] = name
	v["labels"] = map[string]any{
		"app":   name,
		"istio": strings.TrimPrefix(name, "istio-"),
	}
	// Merged by the chart with its default pod annotations.
	v["podAnnotations"] = map[string]any{IstioVersionAnnotation: d.IstioVersion}
	if name == IngressGatewayName {
		// The gateway takes these settings when it starts: a change rolls it
		// out once, as the Kyma module restarts it for them.
		if f := d.Proxy.GatewayFingerprint(); f != "" {
			v["podAnnotations"].(map[string]any)[sidecarmode.AnnotationProxySettings] = f
		}
	}
	v["service"] = map[string]any{}
	if k == nil {
		return v
	}
	if k.Resources != nil {
		v["resources"] = resourcesValue(k.Resources)
	}
	if h := k.HPASpec; h != nil {
		autoscaling := map[string]any{}
		lo, hi := replicaBounds(h, opts.Charts, chartGateway, "autoscaling", "maxReplicas")
		if lo != nil {
			autoscaling["minReplicas"] = *lo
		}
		if hi != nil {
			autoscaling["maxReplicas"] = *hi
		}
		v["autoscaling"] = autoscaling
	}
	if s := k.Strategy; s != nil && s.RollingUpdate != nil {
		rolling := map[string]any{}
		if s.RollingUpdate.MaxSurge != nil {
			rolling["maxSurge"] = intOrStringValue(*s.RollingUpdate.MaxSurge)
		}
		if s.RollingUpdate.MaxUnavailable != nil {
			rolling["maxUnavailable"] = intOrStringValue(*s.RollingUpdate.MaxUnavailable)
		}
		v["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": rolling}
	}
	return v
}

// k8sOf returns the Kubernetes settings of an optional component.
func k8sOf(c *v1alpha2.IstioComponent) *v1alpha2.KubernetesResourcesConfig {
	if c == nil {
		return nil
	}
	return c.K8s
}

// resourcesValue is a chart's resources value for the CR's resources:
// exactly the limits and requests given. Every quantity the user left out is
// null, which removes the chart's default for it (the charts' resource helpers
// and the injection template's omitNil drop nulls), so a container never
// combines the user's limits with a default request above them. Null
// quantities, rather than null groups, are the form Istio's own injection
// tests cover.
func resourcesValue(r *v1alpha2.Resources) map[string]any {
	return map[string]any{
		"limits":   claimsValue(r.Limits),
		"requests": claimsValue(r.Requests),
	}
}

func claimsValue(c *v1alpha2.ResourceClaims) map[string]any {
	if c == nil {
		c = &v1alpha2.ResourceClaims{}
	}
	return map[string]any{
		"cpu":    quantityValue(c.CPU),
		"memory": quantityValue(c.Memory),
	}
}

// quantityValue is a quantity in canonical form ("0100" becomes "100", which
// YAML would otherwise read as an octal number, since the charts render
// quantities unquoted), or nil when not given. A quantity that does not parse
// is passed on as written, for the API server to reject.
func quantityValue(s *string) any {
	if s == nil {
		return nil
	}
	q, err := resource.ParseQuantity(*s)
	if err != nil {
		return *s
	}
	return q.String()
}

// replicaBounds returns the HPA bounds to set. When only minReplicas is given
// and it exceeds the chart's default maxReplicas (read from the chart at
// defaultMaxPath under its defaults), maxReplicas is raised to it, so the HPA
// stays valid; the CR only checks min <= max when both are set.
func replicaBounds(h *v1alpha2.HPASpec, charts *Charts, id chartID, defaultMaxPath ...string) (lo, hi *int32) {
	lo, hi = h.MinReplicas, h.MaxReplicas
	if lo != nil && hi == nil {
		if def, ok := chartDefaultInt(charts, id, defaultMaxPath...); ok && int64(*lo) > def {
			raised := *lo
			hi = &raised
		}
	}
	return lo, hi
}

// chartDefaultInt reads an integer default of a chart, below its
// _internal_defaults_do_not_set key.
func chartDefaultInt(charts *Charts, id chartID, path ...string) (int64, bool) {
	c, err := charts.load(id)
	if err != nil {
		return 0, false
	}
	var cur any = c.Values["_internal_defaults_do_not_set"]
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		cur = m[p]
	}
	switch n := cur.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	}
	return 0, false
}

// intOrStringValue is the chart value of an int-or-string: a number or a
// percentage string.
func intOrStringValue(v intstr.IntOrString) any {
	if v.Type == intstr.String {
		return v.StrVal
	}
	return int(v.IntVal)
}

// protoDuration formats a duration as protobuf's JSON Duration ("2s",
// "0.500s"), the form MeshConfig's timeout fields are parsed from; Go's
// "500ms" is not accepted there.
func protoDuration(d time.Duration) string {
	secs := d / time.Second
	nanos := d % time.Second
	if nanos == 0 {
		return fmt.Sprintf("%ds", secs)
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nanos), "0")
	return fmt.Sprintf("%d.%ss", secs, frac)
}

func remoteURL(opts Options, path string) string {
	return strings.TrimSuffix(opts.IstiodRemoteURL, "/") + path
}

// stringList copies a list of strings (or of a string type such as header
// names) into a chart value.
func stringList[T ~string](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}
