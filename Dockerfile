# check=error=true

# kore_exporter's container image: a static binary, the CA certificates and
# nothing else, run as a numeric non-root user.
#
#   docker build --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t kore_exporter .
#   docker run -p 10027:10027 kore_exporter --demo
#
# CI builds this image offline without Docker (deploy/image_test.go): it reads
# this file, runs the build stage's `go build` with the same arguments and
# environment, and writes the final stage's files and configuration as an OCI
# image. deploy/dockerfile_test.go lints it with BuildKit's checks.

# The Go release of go.mod's `go` line (major.minor).
ARG GO_VERSION=1.26
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=unknown

# Build on the builder's own platform and cross-compile for the target one
# (docker buildx build --platform linux/amd64,linux/arm64 .).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG VERSION
ARG REVISION
ARG BRANCH
ARG BUILD_USER
ARG BUILD_DATE
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH}
RUN go build -trimpath -ldflags "-s -w \
      -X github.com/prometheus/common/version.Version=${VERSION} \
      -X github.com/prometheus/common/version.Revision=${REVISION} \
      -X github.com/prometheus/common/version.Branch=${BRANCH} \
      -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
      -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE}" \
    -o /out/kore_exporter .

FROM scratch
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.title="kore_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the Kore.ai XO Platform's task containment reports" \
      org.opencontainers.image.source="https://github.com/kore-exporter/kore_exporter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# HTTPS to Kore.ai needs the CA certificates; scratch has none.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/kore_exporter /bin/kore_exporter
# nobody:nogroup, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65534:65534
EXPOSE 10027
ENTRYPOINT ["/bin/kore_exporter"]
CMD ["--config.file=/etc/kore_exporter/config.yml"]
