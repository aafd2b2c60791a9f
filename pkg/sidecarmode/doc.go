// Package sidecarmode is the single source of truth for the container type of
// istio-proxy: which type and which Istio version the cluster should run, which
// type one pod or pod template should get, and what a pod actually runs.
//
// The installer takes the value of istiod's ENABLE_NATIVE_SIDECARS and the
// compatibility profile from Decide; the restarter compares Inspect and
// ExpectedType of every pod against the same Decision through Stale. Because
// both sides read one Decision, they cannot drift apart.
//
// The flow is:
//
//	Releases (data)  ->  LookupRelease(module version)
//	                 ->  Decide(module version, compatibilityMode, ClusterFacts) -> Decision
//	Decision + pod   ->  ExpectedType, Inspect, Stale
//
// The package is pure: it imports no Kubernetes client and does no I/O, so
// every rule is tested exhaustively with table-driven tests and with pod specs
// produced by Istio's own injector (see testdata/README.md).
//
// # Files
//
//   - release.go: the version table (Releases), one row per module release,
//     and LookupRelease; policytable.go renders it for the docs.
//   - decide.go: where the container type is decided: the cluster-wide
//     Decision (target Istio, default container type, istiod's setting), the
//     kubelet gate, and the type one pod or pod template should get
//     (ExpectedType); templates.go: what its injection templates make of it.
//   - annotations.go: the annotations and names Istio uses on injected pods.
//   - inspect.go: what a pod actually runs; image.go: an image reference and
//     its Istio version.
//   - stale.go: whether a pod's proxy differs from the Decision, and why.
//   - proxysettings.go: the proxy settings recorded at injection and their
//     fingerprint; podtemplate.go: the pod template of a workload object.
//
// Versions are read with pkg/version, the parser the installer's upgrade
// guard uses too.
//
// # Rules worth knowing
//
//   - The annotation sidecar.istio.io/nativeSidecar is read the way Istio's
//     injection template reads it: the exact string "false" means regular, an
//     absent or empty value means the cluster default, anything else ("true",
//     "False", "yes") means native.
//   - On a cluster whose oldest kubelet is older than 1.29, Decide switches the
//     default to regular (NativeUnsupported). A pod annotated
//     sidecar.istio.io/nativeSidecar: "true" is still expected to be native
//     there, because istiod honours the annotation; such a pod does not run
//     its proxy correctly and needs the user's attention, not a restart.
//   - An istio-proxy init container without restartPolicy Always
//     (LayoutInitNotSidecar) is not a working sidecar: it blocks the pod's
//     start. Stale reports it as the wrong type whatever the expectation.
//   - Besides type and version, a pod is stale when the proxy settings istiod
//     recorded on it at injection (AnnotationProxySettings) differ from
//     Decision.Proxy for a setting the pod does not set itself; the restart
//     target carries a fingerprint of the settings, so each change restarts
//     a workload once. Pods without a record are not checked for settings.
//   - The injection templates a pod asks for (inject.istio.io/templates)
//     come first: grpc-agent and gateway put istio-proxy in spec.containers
//     whatever the default, grpc-simple injects none, and a template the
//     package does not know makes the expected type TypeUnknown, never a
//     guess (see InjectionOf).
//   - Gateways (the proxy is the pod's workload) are stale only by version,
//     and only when the injector filled in their proxy (InjectedGateway).
//     Pods without a proxy are never stale.
package sidecarmode
