#!/usr/bin/env bash
# Builds the binaries of the test cluster from Go modules and prints the folder
# that holds them (use it as KUBEBUILDER_ASSETS).
#
#   kube-apiserver, kube-controller-manager, kube-scheduler  k8s.io/kubernetes  (hack/tools/kubernetes)
#   etcd                                                    go.etcd.io/etcd     (hack/tools/etcd)
#   kwok and kwok-stages.yaml                               sigs.k8s.io/kwok    (hack/tools/kwok)
#   pilot-discovery (istiod 1.30.2, this build's Istio)     istio.io/istio      (hack/tools/istio)
#   pilot-discovery-1.29.2 (the previous release, upgrades) istio.io/istio      (hack/tools/istio-1.29)
#
# setup-envtest cannot download binaries on machines without internet, and no
# container engine is available, so everything is built from source once.
# Each binary has a stamp (version, Go version, hash of its tool module's
# go.sum); a rerun with an unchanged stamp skips the build in milliseconds.
# Progress goes to stderr; stdout carries only the folder.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/hack/tools"
out="$root/bin/k8s/$K8S_VERSION"
mkdir -p "$out"

# Two concurrent runs (say, make test in two shells) must not build the same binary twice.
exec 9>"$out/.lock"
flock 9

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Istio 1.30.2's go.mod (and both tags' .info) are refused by the module proxy;
# hack/goproxy serves them, everything else falls through to the usual proxy.
GOPROXY="file://$root/hack/goproxy,$(go env GOPROXY)"
export GOPROXY
go_version=$(go env GOVERSION)

log() { printf '[test-cluster] %s\n' "$*" >&2; }

# stamp_of NAME VERSION MODULE_DIR: what a built binary must match to be reused.
stamp_of() {
  printf '%s %s %s %s\n' "$1" "$2" "$go_version" "$(sha256sum "$3/go.sum" | cut -d' ' -f1)"
}

# build NAME VERSION MODULE_DIR PACKAGE [LDFLAGS]: build one binary unless its stamp matches.
build() {
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=${5:-}
  local stamp
  stamp=$(stamp_of "$name" "$version" "$dir")
  if [[ -x "$out/$name" && -f "$out/.stamp-$name" && "$(cat "$out/.stamp-$name")" == "$stamp" ]]; then
    return 0
  fi
  log "building $name $version (first build takes minutes; later runs reuse it)"
  local started=$SECONDS
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  printf '%s' "$stamp" >"$out/.stamp-$name"
  log "built $name in $((SECONDS - started))s"
}

k8s_ldflags=""
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done

build etcd "$ETCD_VERSION" "$tools/etcd" ./etcd
build kwok "$KWOK_VERSION" "$tools/kwok" sigs.k8s.io/kwok/cmd/kwok
build kube-apiserver "$K8S_VERSION" "$tools/kubernetes" ./kube-apiserver "$k8s_ldflags"
build kube-controller-manager "$K8S_VERSION" "$tools/kubernetes" ./kube-controller-manager "$k8s_ldflags"
build kube-scheduler "$K8S_VERSION" "$tools/kubernetes" ./kube-scheduler "$k8s_ldflags"
# istiod_ldflags VERSION COMMIT: stamp the Istio release, so `pilot-discovery version` prints it.
istiod_ldflags() {
  local p=istio.io/istio/pkg/version
  printf -- '-X %s.buildVersion=%s -X %s.buildGitRevision=%s -X %s.buildTag=%s -X %s.buildStatus=Clean' "$p" "$1" "$p" "$2" "$p" "$1" "$p"
}
# The release and commit each tool module requires (the pseudo-version ends in the commit).
istio_module_version() {
  (cd "$1" && go mod edit -json | tr -d ' \t\n' | grep -o '"Path":"istio.io/istio","Version":"[^"]*"' | head -1 | cut -d'"' -f8)
}
istio_commit() { local v; v=$(istio_module_version "$1"); echo "${v##*-}"; }
ISTIO_VERSION=1.30.2
ISTIO_PREVIOUS_VERSION=1.29.2
build pilot-discovery "$ISTIO_VERSION" "$tools/istio" istio.io/istio/pilot/cmd/pilot-discovery \
  "$(istiod_ldflags "$ISTIO_VERSION" "$(istio_commit "$tools/istio")")"
build "pilot-discovery-$ISTIO_PREVIOUS_VERSION" "$ISTIO_PREVIOUS_VERSION" "$tools/istio-1.29" istio.io/istio/pilot/cmd/pilot-discovery \
  "$(istiod_ldflags "$ISTIO_PREVIOUS_VERSION" "$(istio_commit "$tools/istio-1.29")")"

# Istio 1.29.2's own charts, for tests and the demo that install the real
# previous release (this build embeds only 1.30.2's): its manifests folder,
# copied out of the module cache.
prev_charts="$out/istio-$ISTIO_PREVIOUS_VERSION/manifests"
prev_stamp=$(stamp_of "istio-charts" "$ISTIO_PREVIOUS_VERSION" "$tools/istio-1.29")
if [[ ! -d "$prev_charts" || "$(cat "$out/.stamp-istio-charts-$ISTIO_PREVIOUS_VERSION" 2>/dev/null)" != "$prev_stamp" ]]; then
  src=$(cd "$tools/istio-1.29" && go list -f '{{.Module.Dir}}' istio.io/istio/manifests)/manifests
  rm -rf "$prev_charts" "$prev_charts.tmp"
  mkdir -p "$(dirname "$prev_charts")"
  cp -R "$src" "$prev_charts.tmp"
  chmod -R u+w "$prev_charts.tmp"
  mv "$prev_charts.tmp" "$prev_charts"
  printf '%s' "$prev_stamp" >"$out/.stamp-istio-charts-$ISTIO_PREVIOUS_VERSION"
fi

# kwok v0.8.0 has no built-in stages: assemble the "fast" node and pod stages
# that the kwok module ships, so nodes become Ready and scheduled pods Running.
# One change: a Job's pod labelled kwok.istio-module.io/keep-running stays
# Running instead of completing at once, so tests can have a running Job.
KEEP_RUNNING_LABEL=kwok.istio-module.io/keep-running
stages_stamp=$(stamp_of "kwok-stages keep-running" "$KWOK_VERSION" "$tools/kwok")
if [[ ! -f "$out/kwok-stages.yaml" || "$(cat "$out/.stamp-kwok-stages" 2>/dev/null)" != "$stages_stamp" ]]; then
  kwok_dir=$(cd "$tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  stage_dir="$kwok_dir/kustomize/stage"
  {
    for f in "$stage_dir"/node/fast/*.yaml "$stage_dir"/node/heartbeat-with-lease/*.yaml "$stage_dir"/pod/fast/*.yaml; do
      [[ "$(basename "$f")" == kustomization.yaml ]] && continue
      echo "---"
      if [[ "$(basename "$f")" == pod-complete.yaml ]]; then
        awk -v label="$KEEP_RUNNING_LABEL" '
          { print }
          /^    matchExpressions:$/ && !done {
            print "    - key: '\''.metadata.labels[\"" label "\"]'\''"
            print "      operator: '\''DoesNotExist'\''"
            done = 1
          }' "$f"
      else
        cat "$f"
      fi
    done
  } >"$out/kwok-stages.yaml.tmp"
  mv "$out/kwok-stages.yaml.tmp" "$out/kwok-stages.yaml"
  printf '%s' "$stages_stamp" >"$out/.stamp-kwok-stages"
fi

echo "$out"
