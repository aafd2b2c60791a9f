// Package install installs, upgrades and uninstalls Istio from Istio's own
// Helm charts (embedded in the istio.io/istio module), rendered with Helm's
// engine and applied with server-side apply under one field manager.
//
// What istiod injects comes from the sidecarmode.Decision it is given, set
// explicitly (ENABLE_NATIVE_SIDECARS "true" or "false", never "auto"), the
// same Decision the restarter checks proxies against.
//
// Files:
//
//   - installer.go: the Installer, Install (render, apply, prune) and the
//     kinds it prunes.
//   - guard.go: the upgrade guard (CheckVersionUpdate) and the Istio version
//     the cluster runs, read from istiod's image (InstalledVersion).
//   - values.go: Options and the chart values computed from the CR and the
//     Decision; proxysettings.go: the CR's proxy settings as sidecarmode
//     compares them.
//   - charts.go: the embedded charts or a chart folder; render.go: rendering
//     them with Helm's engine, stamped with the managed-by label.
//   - apply.go: parallel server-side apply and what counts as a transient
//     error worth retrying.
//   - readiness.go: whether the control plane runs the target version.
//   - networkpolicies.go: Kyma's NetworkPolicies; ingressfilters.go: user
//     EnvoyFilters that target the ingress gateway.
//   - uninstall.go: Uninstall, blocked while user-created Istio resources
//     exist.
package install
