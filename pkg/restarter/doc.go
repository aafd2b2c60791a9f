// Package restarter finds pods whose istio-proxy has the wrong container
// type or version and replaces them by restarting their workloads: once per
// workload and target, paced, at any cluster size.
//
// The flow of one Run is gather, decide, act:
//
//	scan    (scan.go)     page through all pods uncached; classify each
//	                      against the sidecarmode.Decision; aggregate per
//	                      direct owner
//	gather  (gather.go)   resolve owners to workloads and read their
//	                      namespaces (pkg/workload: reads, listings,
//	                      rollout judgement); reads only
//	recall  (track.go)    add what this Restarter remembers over time: the
//	                      restarts it follows, since when they are unsettled
//	decide  (decide.go)   the decision table: small named rules, the first
//	                      that applies gives one Action per workload; then
//	                      the pacing limit (plan.go puts the steps together)
//	act     (act.go,      patch pod templates, evict pods, emit Events; ask
//	         injector.go, the injector first; confirm writes whose answer
//	         record.go)   was lost
//	report  (summary.go,  a Summary for the CR status, computed from the
//	         metrics.go)  plan and what acting did; Prometheus metrics
//
// Plan stops after the second step: it is the dry-run API that reports
// (such as a CLI status command) build on.
//
// # Rules
//
//   - Scanned: Running, not terminating pods outside the control-plane
//     namespace with an istio-proxy (either layout) or the injector's status
//     annotation; gateways are skipped unless the injector filled in their
//     proxy (sidecarmode.InjectedGateway), which are checked for version. sidecarmode.StaleProxy decides
//     whether a pod is stale, and why.
//   - One plan entry per workload: Pod -> ReplicaSet -> Deployment,
//     StatefulSet, DaemonSet, Job -> CronJob, ReplicationController, any
//     other owner kind, or the bare Pod itself.
//   - Deployments, and StatefulSets and DaemonSets with RollingUpdate, are
//     rolled out by setting the pod-template annotation RestartAnnotation to
//     Decision.Target(), and the same annotation on the workload's metadata
//     (the record that survives a tool stripping the template's).
//     StatefulSets and DaemonSets with OnDelete, and
//     ReplicaSets and ReplicationControllers without an owner, get the same
//     marker (template and metadata) and their stale pods are evicted one
//     at a time, each once its predecessor's replacement is ready; the
//     Eviction API makes PodDisruptionBudgets apply. Paused Deployments,
//     Jobs, CronJobs, bare Pods and other owner kinds are reported as
//     needing a manual restart, never touched.
//   - Once: the marker records the target a workload was restarted for, on
//     the template and on every pod created from it. A workload that
//     carries the target's marker is not restarted again for that target:
//     while its rollout progresses it is pending; if pods are still stale
//     once it settled, it is reported as not converging. Because the record
//     is in the cluster, a new Restarter (after an operator restart)
//     continues without repeating a restart; the Restarter also remembers
//     what it restarted, so a marker reverted by another tool does not cause
//     a second restart either. Marker patches carry the resourceVersion
//     read, so two restarters never both patch.
//   - Settled: a rollout is judged as `kubectl rollout status` does; an
//     eviction waits until the workload's status and the pods just listed
//     agree that all its pods are up. Status and list are read moments
//     apart, so neither alone decides.
//   - Pacing: at most Options.MaxConcurrentRollouts restarts are in progress
//     (not settled) at once; restarts started earlier hold their slots, the
//     next workloads in plan order take the free ones, the rest wait. A
//     restart unsettled for longer than Options.RolloutTimeout releases its
//     slot and, with stale pods left, is reported as not converging.
//   - Opt-out: OptOutAnnotation "disabled" on a workload or its namespace;
//     reported, never touched.
//   - The injector has the last word (injector.go): right before a
//     workload's restart, a server-side dry-run create of a pod from its
//     template asks istiod's webhook what a new pod would get. If every
//     stale pod already has that proxy (layout and version), the restart
//     is not made (ActionSameProxy, remembered while the workload's
//     generation stays); if the dry run fails, nothing is restarted and the
//     workload is pending with the error.
//
// # Memory
//
// The scan lists pods PageSize at a time (Limit and Continue) and keeps per
// owner only counters, small sets of reasons, layouts and versions, and the
// name of the next pod to evict: memory grows with the number of workloads
// with stale pods, not with the number of pods. With Options.Pods set to a
// podlist.Lister, as the operator runs it, not even a page is held: each
// pod is decoded from the response stream, a dozen fields of it, and
// dropped. When the API server expires the continue token (HTTP 410), the
// listing starts over with an empty aggregation. client-go's pager is not
// used: on a 410 it falls back to one unpaged list of all pods.
//
// The owners of stale pods are read once per scan: one by one, 16 at a
// time, or, when the plan needs many of a kind (at least 32, and a tenth of
// all objects of that kind), by paging through all of them, which costs a
// tenth of a GET per object (workload.Reader.ListOwners). Those pages are decoded whole,
// so they are small: 100 objects of metadata, 50 workloads.
//
// See docs/restarter.md for the user's view.
package restarter
