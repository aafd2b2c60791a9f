// Package controllers holds the IstioReconciler: it wires the Istio CR to the
// sidecarmode Decision, the installer, the restarter and the CR's status.
//
// A pass gathers, then the status is computed, then written once:
//
//	Reconcile -> runPass (delete or converge) -> passOutcome
//	          -> statusOf(passOutcome): state, Ready and every other condition
//	          -> one Status().Update, only when the status changed
//
// Files:
//
//   - istio_controller.go: the reconcile skeleton (Reconcile, runPass,
//     converge, delete), the cluster facts the Decision needs, and the
//     watches (SetupWithManager).
//   - istio_status.go: passOutcome, the one function that computes the CR's
//     state and conditions from it (statusOf), and setStatus, which writes
//     them into the CR in memory; the table of what each failed step shows.
//   - istio_retry.go: how long a CR's passes have been failing (transient
//     errors show as Processing until ErrorAfter) and the retry rate limiter.
//   - manager.go: the manager, its options and caches, the release and charts
//     it runs with, metrics serving.
//   - rbac.go: the operator's cluster-wide RBAC markers, generated into
//     config/rbac/role.yaml (the reconciler's own are beside Reconcile).
package controllers
