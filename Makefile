# istio-module: build, generate, test and deploy.
# Run `make help` for the list of targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

VERSION    ?= $(shell cat VERSION)
IMG        ?= istio-module-operator:$(VERSION)
KUBECTL    ?= kubectl
KUSTOMIZE  ?= go run sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
CONTROLLER_GEN := go tool controller-gen
GINKGO     := go tool ginkgo
LDFLAGS    := -s -w -X github.com/istio-module/operator/pkg/sidecarmode.ModuleVersion=$(VERSION)
# Istio 1.30.2's go.mod is refused by the module proxy (and the checksum database
# has no record of it: go.sum holds its lines). hack/goproxy serves that file and the
# .info of the Istio tags; everything else falls through to the usual proxy.
export GOPROXY := file://$(CURDIR)/hack/goproxy,$(shell go env GOPROXY)
# Packages whose tests run in `make test`; GOFLAGS and TEST_ARGS can narrow or extend it.
TEST_PKGS  ?= ./...
TEST_ARGS  ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRD and RBAC manifests from the kubebuilder markers, and the CR's reference doc.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/crd-ref-docs config/crd/bases/operator.kyma-project.io_istios.yaml > docs/istio-custom-resource.md

.PHONY: docs
docs: ## Regenerate docs/istio-custom-resource.md from the generated CRD.
	go run ./hack/crd-ref-docs config/crd/bases/operator.kyma-project.io_istios.yaml > docs/istio-custom-resource.md

.PHONY: generate
generate: ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	@go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; }
	go vet ./...

.PHONY: test-cluster
test-cluster: ## Build the test cluster's binaries (kube-apiserver, etcd, controllers, kwok, istiod) into bin/k8s/ if missing.
	@hack/test-cluster.sh >/dev/null

.PHONY: test
test: test-cluster ## Run the unit and envtest suites against the real test cluster binaries.
	KUBEBUILDER_ASSETS="$$(hack/test-cluster.sh)" go test $(TEST_PKGS) -count=1 -timeout 40m $(TEST_ARGS)

# ARGS go to the program: `make run-local ARGS=--once` exits 0 once the demo
# converged (non-zero if not within --timeout, default 10m); without --once it
# runs until Ctrl-C and then stops every process it started. State: bin/local/.
.PHONY: run-local
run-local: test-cluster ## Run the operator on an embedded cluster with the real istiod and a demo (ARGS=--once to exit after convergence).
	KUBEBUILDER_ASSETS="$$(hack/test-cluster.sh)" go run -ldflags "$(LDFLAGS)" ./cmd/run-local $(ARGS)

##@ Build

.PHONY: build
build: ## Build the manager and the kubectl plugin into bin/.
	go build -ldflags "$(LDFLAGS)" -o bin/manager ./cmd
	go build -ldflags "$(LDFLAGS)" -o bin/kubectl-istio_proxies ./cmd/kubectl-istio_proxies

.PHONY: docker-build
docker-build: ## Build the manager's container image IMG (needs a container engine).
	docker build -t $(IMG) .

.PHONY: run
run: manifests generate ## Run the manager on this machine against the current kubeconfig.
	go run -ldflags "$(LDFLAGS)" ./cmd

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests ## Deploy the operator (IMG=...) to the cluster of the current kubeconfig.
	$(MAKE) build-installer IMG=$(IMG)
	$(KUBECTL) apply --server-side -f dist/install.yaml

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml: CRD, RBAC and the manager Deployment with IMG.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Checks

.PHONY: verify
verify: manifests generate ## Fail if generated files are stale, code is unformatted or does not vet, or go.mod is not tidy.
	@git diff --exit-code -- api config docs || { echo "generated files are out of date: run 'make manifests generate' and commit the result" >&2; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: run 'make fmt'" >&2; exit 1; }
	go vet ./...

##@ Benchmarks

# ARGS go to the program, e.g. `make chaos ARGS="--rates 0,0.2 --seed 3"`.
# Each rate starts a fresh test cluster and istiod; see docs/reliability.md.
.PHONY: chaos
chaos: test-cluster ## Measure the time to converge (install Istio, restart workloads) with 0%, 10% and 20% of API requests failing; prints a markdown table.
	KUBEBUILDER_ASSETS="$$(hack/test-cluster.sh)" go run ./chaos $(ARGS)

# ARGS go to the program, e.g. `make bench ARGS="--sizes 1000,10000 --reps 3"`.
# The default run (1k, 10k, 50k and 100k pods, and the manager's full pass at each) takes over half an hour on
# 2 quiet CPUs; the API server held 9 GiB at 50k pods, so 100k wants about twice that. See docs/performance.md.
.PHONY: bench
bench: test-cluster ## Measure the restarter's scan against a bare paged LIST, and the manager's full pass, at 1k to 100k pods; prints markdown tables.
	GOMEMLIMIT="$${GOMEMLIMIT:-14GiB}" KUBEBUILDER_ASSETS="$$(hack/test-cluster.sh)" go run ./bench $(ARGS)

# ARGS go to the program, e.g. `make bench-upgrade ARGS="--deployments 100"`.
# The default run (1000 Deployments of 2 pods, in cluster mode with the real
# istiod) takes about 13 minutes on 2 CPUs; see docs/performance.md.
.PHONY: bench-upgrade
bench-upgrade: test-cluster ## Measure a real Istio upgrade of 1000 Deployments from the CR change to the last fresh pod, against the pacing bound; prints a markdown table.
	KUBEBUILDER_ASSETS="$$(hack/test-cluster.sh)" go run ./bench/upgrade $(ARGS)
