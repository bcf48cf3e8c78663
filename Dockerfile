# syntax=docker/dockerfile:1
# One image for both subcommands of ftp-operator: `manager` (the default command) and `ftpd` (the FTP server pods
# the operator creates run this same image, as /ftp-operator-ftpd ftpd: the engine-only build of the same command),
# plus the `kubectl ftp` plugin at /kubectl-ftp.
#
#   docker build --build-arg VERSION=v0.1.0 -t localhost/ftp-operator:v0.1.0 .
#
# Where no container engine exists, `make image` packs the same layout from bin/ftp-operator (hack/imagepack).
# The binary is static (CGO_ENABLED=0) and runs as the distroless nonroot user 65532. The image carries no setuid
# file and no file capability: the pods drop ALL capabilities (the FTP pods add back only NET_BIND_SERVICE) and the
# engine listens on unprivileged container ports anyway (2121, 9990; the Service maps 21 and 990 onto them).

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ftp-operator ./cmd/ftp-operator && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -tags ftpdonly -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ftp-operator-ftpd ./cmd/ftp-operator && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/kubectl-ftp ./cmd/kubectl-ftp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ftp-operator /ftp-operator
# The same command built with -tags ftpdonly: only its ftpd subcommand, without the operator's packages
# (controller-runtime, client-go), which tripled the engine's resident memory. The FTP pods run this file
# (render.EngineCommand); docs/benchmarks.md has the numbers.
COPY --from=build /out/ftp-operator-ftpd /ftp-operator-ftpd
# The kubectl plugin, for copying out of the image (docs/kubectl-ftp.md); nothing in the image runs it.
COPY --from=build /out/kubectl-ftp /kubectl-ftp
USER 65532:65532
ENTRYPOINT ["/ftp-operator"]
CMD ["manager"]
