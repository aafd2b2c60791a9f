# Builds the operator's manager as a static binary on a distroless, non-root base.
FROM golang:1.26 AS builder
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /workspace
COPY go.mod go.sum ./
# Istio 1.30.2's go.mod is refused by the Go module proxy: hack/goproxy serves it.
COPY hack/goproxy/ hack/goproxy/
ENV GOPROXY=file:///workspace/hack/goproxy,https://proxy.golang.org,direct
RUN go mod download
COPY VERSION VERSION
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY pkg/ pkg/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
    -ldflags "-s -w -X github.com/istio-module/operator/pkg/sidecarmode.ModuleVersion=$(cat VERSION)" \
    -o manager ./cmd

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532
ENTRYPOINT ["/manager"]
