# The nodehealth operator image: `docker build -t ghcr.io/nodehealth/nodehealth:0.1.0 .`
# Dependencies are built in their own layer (cargo-chef), so a source change rebuilds only the crate.
# The final image is distroless (glibc, CA certificates, no shell) and runs as 65532:65532.

FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /src

# The dependency recipe: Cargo.toml/Cargo.lock and the crate's layout, without its code.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# Dependencies first (cached while recipe.json is unchanged), then the operator.
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin nodehealth
COPY . .
# The commit for nodehealth_build_info (`docker build --build-arg NODEHEALTH_COMMIT=$(git rev-parse --short=12 HEAD)`).
ARG NODEHEALTH_COMMIT
RUN cargo build --release --locked --bin nodehealth

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /src/target/release/nodehealth /nodehealth
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/nodehealth"]
CMD ["run"]
