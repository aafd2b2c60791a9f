//go:build tools

// Package tools pins istiod's command so it resolves in this module.
package tools

import (
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
