# syntax=docker/dockerfile:1
#
# The metrics-adapter image: the binary at /adapter and ENTRYPOINT ["/adapter"], as
# prometheus-adapter's image has them, so the prometheus-community chart (which sets no
# command) and this repository's chart run it with their args unchanged.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/metrics-adapter:0.1.0 .
#
# The build stage runs on the builder's own platform and cross-compiles for TARGETARCH (amd64
# or arm64), so no emulation is needed. The binary links dynamically against glibc (libc, libm,
# the loader) and libgcc_s, nothing else: TLS is rustls with ring and the allocator is
# mimalloc, both compiled in. distroless/cc-debian12 provides exactly those libraries, from the
# same Debian release (bookworm) the build stage compiles against, so the glibc versions match.
# The runtime image has no shell and no package manager, runs as a non-root user, and the
# adapter writes only to --cert-dir (/tmp/cert in the charts, an emptyDir), so a read-only root
# filesystem works.

# The toolchain of rust-toolchain.toml (a test keeps the two equal).
ARG RUST_VERSION=1.95.0

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-bookworm AS build
ARG RUST_VERSION
ARG TARGETARCH
# The image's toolchain, whatever rustup's default is; the components of rust-toolchain.toml
# (rustfmt, clippy) are not needed to build.
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=x86_64-linux-gnu-gcc \
    CC_x86_64_unknown_linux_gnu=x86_64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
# The Rust target and, when it differs from the builder's, a C cross compiler for ring and
# mimalloc and the linker.
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-gnu; cross="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      arm64) target=aarch64-unknown-linux-gnu; cross="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH': build for amd64 or arm64" >&2; exit 1 ;; \
    esac; \
    echo "$target" > /rust-target; \
    if [ "$(dpkg --print-architecture)" != "$TARGETARCH" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends $cross; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    rustup target add "$target"
WORKDIR /src

# The dependencies, in a layer of their own: rebuilt only when Cargo.toml, Cargo.lock or the
# toolchain change, not on every source edit. Cargo.toml's benchmarks must exist to be parsed.
COPY Cargo.toml Cargo.lock rust-toolchain.toml ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && : > src/lib.rs \
    && echo 'fn main() {}' > benches/core.rs \
    && cp benches/core.rs benches/load.rs \
    && cargo build --release --locked --target "$(cat /rust-target)" --bin metrics-adapter \
    && rm -rf src benches

# The adapter itself. COPY keeps the files' times, which may be older than the placeholder
# build above: touch them so cargo rebuilds the crate.
COPY src src
COPY benches benches
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --target "$(cat /rust-target)" --bin metrics-adapter \
    && cp "target/$(cat /rust-target)/release/metrics-adapter" /adapter

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=""
LABEL org.opencontainers.image.title="metrics-adapter" \
      org.opencontainers.image.description="Kubernetes custom, external and resource metrics API server backed by Prometheus; a drop-in successor to prometheus-adapter" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /adapter /adapter
# distroless' `nonroot` user; the charts run any non-root uid (the binary is world-readable
# and executable, and nothing in the image is written to).
USER 65532:65532
EXPOSE 6443
ENTRYPOINT ["/adapter"]
