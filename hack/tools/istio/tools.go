//go:build tools

// Package tools pins istiod's command and istioctl so they resolve in this module.
// istioctl is used offline (kube-inject, manifest generate) to produce the
// injected pod specs under pkg/sidecarmode/testdata.
package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
