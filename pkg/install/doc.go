// Package install installs, upgrades and uninstalls Istio from Istio's own
// Helm charts (embedded in the istio.io/istio module), rendered with Helm's
// engine and applied with server-side apply under one field manager.
//
// What istiod injects comes from the sidecarmode.Decision it is given, set
// explicitly (ENABLE_NATIVE_SIDECARS "true" or "false", never "auto"), the
// same Decision the restarter checks proxies against.
package install
