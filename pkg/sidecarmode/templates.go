package sidecarmode

import (
	"slices"
	"strings"
)

// Istio's built-in injection templates, as the istiod chart configures the
// injector (istio-sidecar-injector ConfigMap, config.templates). A pod picks
// templates with the annotation inject.istio.io/templates, a comma-separated
// list applied in order; without it the injector uses its defaultTemplates,
// which the chart sets to [sidecar] and this module does not change.
const (
	// TemplateSidecar is the ordinary sidecar: istio-proxy as a native
	// sidecar or a regular container, by the annotation
	// sidecar.istio.io/nativeSidecar, else the injector's default.
	TemplateSidecar = "sidecar"
	// TemplateGateway makes the pod a gateway: istio-proxy in
	// spec.containers, started as "proxy router"; it is the workload.
	TemplateGateway = "gateway"
	// TemplateGRPCAgent is proxyless gRPC with the agent: istio-proxy always
	// in spec.containers (the template writes no init containers, so the
	// injector has nothing to move to spec.initContainers), whatever the
	// default and the annotation say.
	TemplateGRPCAgent = "grpc-agent"
	// TemplateGRPCSimple is proxyless gRPC without an agent: only a
	// bootstrap init container, no istio-proxy at all.
	TemplateGRPCSimple = "grpc-simple"
)

// templateEffect is what one built-in template does to istio-proxy.
type templateEffect struct {
	// proxy: the template writes an istio-proxy container.
	proxy bool
	// fixed is the container type the template forces, "" when it follows
	// the annotation and the injector's default.
	fixed ContainerType
	// gateway: the proxy is the pod's workload.
	gateway bool
}

// builtinTemplates is read from Istio's injection templates
// (manifests/charts/istio-control/istio-discovery/files/*.yaml) and from
// pkg/kube/inject's RunTemplate, which moves a proxy the pod declares in
// spec.containers to spec.initContainers only when the template itself puts
// it there (the sidecar template in native mode).
var builtinTemplates = map[string]templateEffect{
	TemplateSidecar:    {proxy: true},
	TemplateGateway:    {proxy: true, fixed: Regular, gateway: true},
	TemplateGRPCAgent:  {proxy: true, fixed: Regular},
	TemplateGRPCSimple: {},
}

// Injection is what the injection templates a pod asks for make of its
// proxy, as far as this package knows them.
type Injection struct {
	// Templates are the templates the injector applies, in order:
	// inject.istio.io/templates, or [sidecar] without it.
	Templates []string
	// Unknown are the templates that are not built in (custom templates of
	// the injector's configuration, aliases). With any, the result of the
	// injection is unknown here: only the injector can tell.
	Unknown []string
	// Proxy: the templates inject an istio-proxy.
	Proxy bool
	// Fixed is the container type the templates force regardless of the
	// default and the annotation; "" when the ordinary rule applies.
	Fixed ContainerType
	// Gateway: the proxy is the workload (the gateway template).
	Gateway bool
	// Ambiguous: more than one template writes istio-proxy, and they do
	// not agree on where; the injector's merge decides (a native sidecar
	// merged with grpc-agent lands in both lists, which the API server
	// refuses), so nothing is predicted.
	Ambiguous bool
}

// Known reports whether the model can predict the injection: every template
// is built in and they agree where istio-proxy goes.
func (in Injection) Known() bool { return len(in.Unknown) == 0 && !in.Ambiguous }

// InjectionOf reads the templates a pod (or pod template) asks for from its
// annotations, and what the built-in ones make of its proxy.
func InjectionOf(annotations map[string]string) Injection {
	in := Injection{Templates: []string{TemplateSidecar}}
	if v, ok := annotations[AnnotationInjectTemplates]; ok {
		// The injector splits on "," and trims each name, keeping empty ones
		// (which then fail as unknown templates).
		in.Templates = nil
		for _, t := range strings.Split(v, ",") {
			in.Templates = append(in.Templates, strings.TrimSpace(t))
		}
	}
	writers := 0
	for _, t := range in.Templates {
		e, ok := builtinTemplates[t]
		if !ok {
			if !slices.Contains(in.Unknown, t) {
				in.Unknown = append(in.Unknown, t)
			}
			continue
		}
		if !e.proxy {
			continue
		}
		writers++
		if writers > 1 && e.fixed != in.Fixed {
			in.Ambiguous = true
		}
		in.Proxy, in.Fixed, in.Gateway = true, e.fixed, in.Gateway || e.gateway
	}
	return in
}

// UnknownTemplatesPhrase is how a report names the templates the model does
// not know, e.g. `template "custom" unknown to the operator`.
func (in Injection) UnknownTemplatesPhrase() string {
	switch {
	case len(in.Unknown) == 1:
		return `template "` + in.Unknown[0] + `" unknown to the operator: only the injector can tell`
	case len(in.Unknown) > 1:
		return `templates "` + strings.Join(in.Unknown, `", "`) + `" unknown to the operator: only the injector can tell`
	case in.Ambiguous:
		return "templates " + strings.Join(in.Templates, ",") + " both write istio-proxy: only the injector can tell"
	}
	return ""
}
