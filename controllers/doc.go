// Package controllers holds the IstioReconciler: it wires the Istio CR to the
// sidecarmode Decision, the installer, the restarter and the CR's status.
package controllers
