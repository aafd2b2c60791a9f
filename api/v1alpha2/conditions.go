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
	"slices"
	"unicode/utf8"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The condition types of an Istio CR.
const (
	// ConditionTypeReady is the overall result of the last reconciliation.
	ConditionTypeReady = "Ready"
	// ConditionTypeInstalled tells whether Istio's control plane and gateways
	// are installed as the spec asks.
	ConditionTypeInstalled = "Installed"
	// ConditionTypeProxySidecarRestartSucceeded tells whether every workload
	// runs an istio-proxy of the expected container type and version.
	ConditionTypeProxySidecarRestartSucceeded = "ProxySidecarRestartSucceeded"
	// ConditionTypeNativeSidecarsSupported tells whether the cluster's
	// kubelets run native sidecars (Kubernetes 1.29 or later). It is
	// informational: when False, the operator falls back to regular
	// containers.
	ConditionTypeNativeSidecarsSupported = "NativeSidecarsSupported"
	// ConditionTypeIngressTargetingUserResourceFound tells whether a
	// user-created EnvoyFilter in the control-plane namespace targets the
	// ingress gateway: such patches can break the gateway every workload's
	// inbound traffic shares, so the state is Warning while one exists. As in
	// the Kyma Istio module, EnvoyFilters that select the gateway through
	// targetRefs are not detected.
	ConditionTypeIngressTargetingUserResourceFound = "IngressTargetingUserResourceFound"
)

// ConditionReason is the reason of a condition of an Istio CR. Each reason
// belongs to exactly one condition type and status; see [ReasonInfoFor].
type ConditionReason string

// The condition reasons of an Istio CR. Where a reason means what a reason
// of the Kyma Istio module means, it has that reason's name, so dashboards
// and alerts written for the Kyma module keep working; the others are this
// operator's own.
const (
	// ReasonReconcileSucceeded: Istio is installed and every workload runs
	// the expected istio-proxy (Ready=True).
	ReasonReconcileSucceeded ConditionReason = "ReconcileSucceeded"
	// ReasonReconcileFailed: the reconciliation failed with an error that is
	// retried with backoff (Ready=False).
	ReasonReconcileFailed ConditionReason = "ReconcileFailed"
	// ReasonReconcileRequeued: the reconciliation is not finished and is
	// continued later (Ready=False).
	ReasonReconcileRequeued ConditionReason = "ReconcileRequeued"
	// ReasonValidationFailed: the CR passed admission but cannot be applied
	// as it is; the user must fix it (Ready=False).
	ReasonValidationFailed ConditionReason = "ValidationFailed"
	// ReasonOlderCRExists: another, older Istio CR is the one reconciled;
	// this one is ignored (Ready=False).
	ReasonOlderCRExists ConditionReason = "OlderCRExists"
	// ReasonVersionUpdateNotAllowed: moving from the installed Istio version
	// to the target one is not allowed, e.g. a downgrade or skipping a minor
	// version (Ready=False).
	ReasonVersionUpdateNotAllowed ConditionReason = "IstioVersionUpdateNotAllowed"
	// ReasonDanglingUserResources: the uninstallation is blocked because
	// user-created Istio resources (VirtualServices, AuthorizationPolicies,
	// ...) still exist (Ready=False).
	ReasonDanglingUserResources ConditionReason = "IstioCustomResourcesDangling"
	// ReasonControlPlaneNotReady: waiting for istiod to run the target
	// Istio version before workloads are restarted (Ready=False).
	ReasonControlPlaneNotReady ConditionReason = "ControlPlaneNotReady"
	// ReasonInstallUninstallFailed: installing, updating or uninstalling
	// Istio failed; retried with backoff (Ready=False). The Installed
	// condition says which.
	ReasonInstallUninstallFailed ConditionReason = "IstioInstallUninstallFailed"

	// ReasonInstallSucceeded: Istio was installed or updated
	// (Installed=True).
	ReasonInstallSucceeded ConditionReason = "InstallSucceeded"
	// ReasonInstallFailed: installing or updating Istio failed
	// (Installed=False).
	ReasonInstallFailed ConditionReason = "InstallFailed"
	// ReasonUninstallSucceeded: Istio was removed (Installed=False).
	ReasonUninstallSucceeded ConditionReason = "UninstallSucceeded"
	// ReasonUninstallFailed: removing Istio failed; it may be partially
	// removed (Installed=Unknown).
	ReasonUninstallFailed ConditionReason = "UninstallFailed"

	// ReasonRestartSucceeded: every workload runs an istio-proxy of the
	// expected container type and version
	// (ProxySidecarRestartSucceeded=True).
	ReasonRestartSucceeded ConditionReason = "ProxySidecarRestartSucceeded"
	// ReasonRestartPartiallySucceeded: some workloads were restarted, others
	// could not be (ProxySidecarRestartSucceeded=False).
	ReasonRestartPartiallySucceeded ConditionReason = "RestartPartiallySucceeded"
	// ReasonRestartFailed: restarting workloads failed
	// (ProxySidecarRestartSucceeded=False).
	ReasonRestartFailed ConditionReason = "ProxySidecarRestartFailed"
	// ReasonManualRestartRequired: some workloads cannot be restarted by the
	// operator (Jobs, CronJobs, bare pods, unknown owners) and must be
	// replaced by their owner (ProxySidecarRestartSucceeded=False).
	ReasonManualRestartRequired ConditionReason = "ProxySidecarManualRestartRequired"
	// ReasonRestartInProgress: rollouts of workloads with a stale
	// istio-proxy are pending or paced (ProxySidecarRestartSucceeded=False).
	ReasonRestartInProgress ConditionReason = "RestartInProgress"
	// ReasonNotConverging: some workloads were rolled out for the target and
	// still run stale pods; they are not restarted again
	// (ProxySidecarRestartSucceeded=False).
	ReasonNotConverging ConditionReason = "NotConverging"

	// ReasonNativeSidecarsSupported: every node's kubelet runs native
	// sidecars (NativeSidecarsSupported=True).
	ReasonNativeSidecarsSupported ConditionReason = "NativeSidecarsSupported"
	// ReasonNativeSidecarsUnsupported: some kubelet is older than 1.29, so
	// the default container type fell back to regular; informational
	// (NativeSidecarsSupported=False).
	ReasonNativeSidecarsUnsupported ConditionReason = "NativeSidecarsUnsupported"

	// ReasonIngressTargetingUserResourceFound: a user-created EnvoyFilter
	// targets the ingress gateway (IngressTargetingUserResourceFound=True).
	ReasonIngressTargetingUserResourceFound ConditionReason = "IngressTargetingUserResourceFound"
	// ReasonIngressTargetingUserResourceNotFound: no user-created EnvoyFilter
	// targets the ingress gateway (IngressTargetingUserResourceFound=False).
	ReasonIngressTargetingUserResourceNotFound ConditionReason = "IngressTargetingUserResourceNotFound"
	// ReasonIngressTargetingUserResourceDetectionFailed: the EnvoyFilters
	// could not be read (IngressTargetingUserResourceFound=Unknown).
	ReasonIngressTargetingUserResourceDetectionFailed ConditionReason = "IngressTargetingUserResourceDetectionFailed"
)

// ReasonInfo is what a condition reason implies: its condition type, status
// and default message.
type ReasonInfo struct {
	// Type is the condition type the reason belongs to.
	Type string
	// Status is the condition status the reason implies.
	Status metav1.ConditionStatus
	// Message is the message used when none is given.
	Message string
}

// reasons is the one table of condition reasons: every reason maps to its
// condition type, status and default message.
var reasons = map[ConditionReason]ReasonInfo{
	ReasonReconcileSucceeded:      {ConditionTypeReady, metav1.ConditionTrue, "Istio is installed and every workload runs the expected istio-proxy"},
	ReasonReconcileFailed:         {ConditionTypeReady, metav1.ConditionFalse, "Reconciliation failed and will be retried"},
	ReasonReconcileRequeued:       {ConditionTypeReady, metav1.ConditionFalse, "Reconciliation is in progress and will continue shortly"},
	ReasonValidationFailed:        {ConditionTypeReady, metav1.ConditionFalse, "The Istio CR cannot be applied as it is; fix its spec"},
	ReasonOlderCRExists:           {ConditionTypeReady, metav1.ConditionFalse, "An older Istio CR exists in the cluster; only the oldest one is reconciled"},
	ReasonVersionUpdateNotAllowed: {ConditionTypeReady, metav1.ConditionFalse, "Updating from the installed Istio version to the target version is not allowed"},
	ReasonDanglingUserResources:   {ConditionTypeReady, metav1.ConditionFalse, "Istio cannot be uninstalled while user-created Istio resources exist; delete them first"},
	ReasonControlPlaneNotReady:    {ConditionTypeReady, metav1.ConditionFalse, "Waiting for istiod to run the target Istio version"},
	ReasonInstallUninstallFailed:  {ConditionTypeReady, metav1.ConditionFalse, "Installing or uninstalling Istio failed and will be retried"},

	ReasonInstallSucceeded:   {ConditionTypeInstalled, metav1.ConditionTrue, "Istio is installed"},
	ReasonInstallFailed:      {ConditionTypeInstalled, metav1.ConditionFalse, "Installing Istio failed"},
	ReasonUninstallSucceeded: {ConditionTypeInstalled, metav1.ConditionFalse, "Istio is uninstalled"},
	ReasonUninstallFailed:    {ConditionTypeInstalled, metav1.ConditionUnknown, "Uninstalling Istio failed; Istio may be partially removed"},

	ReasonRestartSucceeded:          {ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionTrue, "Every workload runs an istio-proxy of the expected container type and version"},
	ReasonRestartPartiallySucceeded: {ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse, "Some workloads with a stale istio-proxy could not be restarted; see status.proxyRestart"},
	ReasonRestartFailed:             {ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse, "Restarting workloads with a stale istio-proxy failed"},
	ReasonManualRestartRequired:     {ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse, "Some workloads with a stale istio-proxy must be restarted by their owner; see status.proxyRestart.manualRestartWorkloads"},
	ReasonRestartInProgress:         {ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse, "Workloads with a stale istio-proxy are being restarted"},
	ReasonNotConverging:             {ConditionTypeProxySidecarRestartSucceeded, metav1.ConditionFalse, "Some workloads still run a stale istio-proxy after their rollout; see status.proxyRestart.notConvergingWorkloads"},

	ReasonNativeSidecarsSupported:   {ConditionTypeNativeSidecarsSupported, metav1.ConditionTrue, "Every node's kubelet supports native sidecars"},
	ReasonNativeSidecarsUnsupported: {ConditionTypeNativeSidecarsSupported, metav1.ConditionFalse, "Some node's kubelet is older than 1.29 and does not support native sidecars; istio-proxy is injected as a regular container"},

	ReasonIngressTargetingUserResourceFound:           {ConditionTypeIngressTargetingUserResourceFound, metav1.ConditionTrue, "A user-created EnvoyFilter targets the Istio ingress gateway"},
	ReasonIngressTargetingUserResourceNotFound:        {ConditionTypeIngressTargetingUserResourceFound, metav1.ConditionFalse, "No user-created EnvoyFilter targets the Istio ingress gateway"},
	ReasonIngressTargetingUserResourceDetectionFailed: {ConditionTypeIngressTargetingUserResourceFound, metav1.ConditionUnknown, "Looking for user-created EnvoyFilters that target the Istio ingress gateway failed"},
}

// maxConditionMessage is the longest message metav1.Condition accepts.
const maxConditionMessage = 32768

// Reasons returns every condition reason of the table, sorted.
func Reasons() []ConditionReason {
	out := make([]ConditionReason, 0, len(reasons))
	for r := range reasons {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// ReasonInfoFor returns the condition type, status and default message of a
// reason, and whether the reason is in the table.
func ReasonInfoFor(reason ConditionReason) (ReasonInfo, bool) {
	info, ok := reasons[reason]
	return info, ok
}

// ConditionFor returns the condition that reason implies, observed at
// generation. An empty message is replaced by the reason's default message;
// a message longer than a condition allows is cut. A reason missing from the
// table (a programming error, caught by the unit tests) yields a Ready
// condition of status Unknown.
func ConditionFor(reason ConditionReason, generation int64, message string) metav1.Condition {
	info, ok := reasons[reason]
	if !ok {
		info = ReasonInfo{Type: ConditionTypeReady, Status: metav1.ConditionUnknown, Message: "Unknown condition reason " + string(reason)}
	}
	if message == "" {
		message = info.Message
	}
	if len(message) > maxConditionMessage {
		cut := maxConditionMessage
		for cut > 0 && !utf8.RuneStart(message[cut]) {
			cut--
		}
		message = message[:cut]
	}
	return metav1.Condition{
		Type:               info.Type,
		Status:             info.Status,
		Reason:             string(reason),
		Message:            message,
		ObservedGeneration: generation,
	}
}

// SetCondition sets the condition that reason implies, observed at the CR's
// current generation, replacing the condition of the same type. An empty
// message means the reason's default message. The transition time changes
// only when the status does. It reports whether the conditions changed.
func (i *Istio) SetCondition(reason ConditionReason, message string) bool {
	return apimeta.SetStatusCondition(&i.Status.Conditions, ConditionFor(reason, i.Generation, message))
}

// RemoveCondition removes the condition of conditionType and reports whether
// there was one.
func (i *Istio) RemoveCondition(conditionType string) bool {
	return apimeta.RemoveStatusCondition(&i.Status.Conditions, conditionType)
}

// Condition returns the condition of conditionType, or nil.
func (i *Istio) Condition(conditionType string) *metav1.Condition {
	return apimeta.FindStatusCondition(i.Status.Conditions, conditionType)
}
