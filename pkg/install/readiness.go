package install

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-module/operator/api/v1alpha2"
	"github.com/istio-module/operator/pkg/sidecarmode"
	"github.com/istio-module/operator/pkg/workload"
)

// Names of the control-plane Deployments the charts render.
const (
	IstiodName         = "istiod"
	IngressGatewayName = "istio-ingressgateway"
	EgressGatewayName  = "istio-egressgateway"
)

// IstioVersionAnnotation on a gateway's pod template records the Istio
// version it was rolled out for: gateways take their proxy image from
// injection ("auto"), so without it an upgrade would not replace them.
const IstioVersionAnnotation = "operator.kyma-project.io/istio-version"

// ControlPlaneDeployments names the Deployments that make up the control
// plane for spec: istiod and the enabled gateways.
func ControlPlaneDeployments(spec v1alpha2.IstioSpec) []string {
	names := []string{IstiodName, IngressGatewayName}
	if egressEnabled(spec) {
		names = append(names, EgressGatewayName)
	}
	return names
}

func egressEnabled(spec v1alpha2.IstioSpec) bool {
	c := spec.Components
	return c != nil && c.EgressGateway != nil && c.EgressGateway.Enabled != nil && *c.EgressGateway.Enabled
}

// ControlPlaneReady reports whether the control plane runs the target version:
// istiod and the enabled gateways rolled out with the target image (istiod) or
// for the target version (gateways) and available. The restarter waits for
// it, so proxies are only replaced once the new injector serves. When not
// ready, the message says what is awaited.
func (i *Installer) ControlPlaneReady(ctx context.Context, spec v1alpha2.IstioSpec, d sidecarmode.Decision) (bool, string, error) {
	for _, name := range ControlPlaneDeployments(spec) {
		var deploy appsv1.Deployment
		err := retryTransient(ctx, func() error {
			return i.client.Get(ctx, client.ObjectKey{Namespace: i.opts.Namespace, Name: name}, &deploy)
		})
		if apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("Deployment %s/%s does not exist yet", i.opts.Namespace, name), nil
		}
		if err != nil {
			return false, "", fmt.Errorf("get Deployment %s/%s: %w", i.opts.Namespace, name, err)
		}
		if msg := atTargetVersion(&deploy, d); msg != "" {
			return false, msg, nil
		}
		if msg := workload.DeploymentServing(&deploy); msg != "" {
			return false, msg, nil
		}
	}
	return true, "", nil
}

// atTargetVersion returns why deploy's pod template is not for the target
// Istio version, or "".
func atTargetVersion(deploy *appsv1.Deployment, d sidecarmode.Decision) string {
	tmpl := deploy.Spec.Template
	if deploy.Name == IstiodName {
		image, ok := discoveryImage(deploy)
		switch {
		case !ok:
			return "istiod has no discovery container"
		case sidecarmode.VersionOf(image) != d.IstioVersion:
			return fmt.Sprintf("istiod runs image %s, waiting for Istio %s", image, d.IstioVersion)
		}
		return ""
	}
	if v := tmpl.Annotations[IstioVersionAnnotation]; v != d.IstioVersion {
		return fmt.Sprintf("gateway %s is not yet rolled out for Istio %s", deploy.Name, d.IstioVersion)
	}
	return ""
}
