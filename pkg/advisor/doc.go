// Package advisor finds, in one pod or pod template, the workarounds that
// native sidecars make unnecessary and the workloads that misbehave without
// them. It is the logic of `kubectl istio-proxies advise`.
//
// The package is pure: Advise takes a pod's (or pod template's) metadata and
// spec, the kind of its workload and the sidecarmode.Decision of the target,
// and returns findings. Reading manifests or the cluster is the caller's job.
//
// # Two layouts
//
// A finding depends on the container type of istio-proxy, and a pod may have
// two of interest:
//
//   - now: the layout the pod actually runs (sidecarmode.Inspect), when it
//     carries a native or regular istio-proxy;
//   - after the switch: the type istiod injects under the target
//     (sidecarmode.ExpectedType).
//
// Advise checks the rules against the layout of now (findings marked
// WhenNow) and, when the expected type differs or there is no proxy yet (a
// workload's pod template, a pod not injected yet), against the expected one
// (findings marked WhenAfterSwitch). Gateways, whose proxy is the workload,
// and pods opted out of injection (sidecar.istio.io/inject: "false") have no
// findings.
//
// # Findings
//
// Each finding has a stable ID; the IDs are part of the command's interface.
//
//   - quitquitquit (native): a container's command or args call the proxy's
//     /quitquitquit endpoint (port 15020), the stop signal Jobs needed with a
//     regular sidecar.
//   - uid-1337 (native): a user init container runs as user 1337, set on the
//     container or inherited from the pod's securityContext, to bypass
//     traffic capture. With a native sidecar init containers have mesh
//     networking; the bypass only takes their traffic out of the mesh. A
//     pod-level runAsUser 1337 takes the app containers out as well.
//   - exclude-outbound (native): the traffic.sidecar.istio.io/
//     excludeOutboundIPRanges or excludeOutboundPorts annotation on a pod that
//     has init containers of its own, the case where the exclusions were the
//     way to give init containers network. Without user init containers the
//     annotations exist for another reason and are not reported.
//   - hold-ignored (native): holdApplicationUntilProxyStarts is set, by the
//     proxy.istio.io/config annotation, mesh-wide (Input.MeshHoldApplication),
//     or as seen on an injected regular pod (istio-proxy first with a
//     postStart hook running "pilot-agent wait"). Istio ignores it for native
//     sidecars: the app starts once istio-proxy's startup probe passes.
//   - job-regular-sidecar (regular): the pods of a Job or CronJob run a
//     regular sidecar, so they never complete unless the proxy is stopped
//     some other way.
//   - opt-out-review (either): the pod template pins regular containers with
//     sidecar.istio.io/nativeSidecar: "false".
//
// A pod kept on regular containers only by that pin (the target's default
// is native and no injection template fixes the type) also gets its
// quitquitquit, uid-1337 and exclude-outbound workarounds as after-switch
// findings: they go when the pin goes, and the advice says to remove both
// together.
package advisor
