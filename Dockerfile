# A static-enough release build on Debian, run as nobody from distroless.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin metrics-adapter

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/metrics-adapter /adapter
USER 65534
ENTRYPOINT ["/adapter"]
