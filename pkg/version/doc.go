// Package version is the one parser and ordering of the versions the
// operator meets: Istio's and the module's release versions ("1.30.2",
// "1.30.0-rc.1"), as the release table, istiod's image tag and the CR's
// status write them, and kubelet versions as nodes report them
// ("v1.28.3-eks-4f4795d"). It is pure and imports nothing of Kubernetes, so
// the installer's upgrade guard, the release table and the kubelet gate of
// pkg/sidecarmode all read a version the same way.
//
// Files: version.go holds the Version type, its two parsers (Parse for
// release versions, ParseKubelet for what kubelets report) and its order.
package version
