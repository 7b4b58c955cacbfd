# Multi-stage build of the billrun worker: a small Debian image running as a non-root user.
# Build: docker build -t billrun .   Run: docker run -e DATABASE_URL=postgres://... billrun migrate
# once per release, then docker run -e DATABASE_URL=postgres://... -p 8080:8080 billrun (the worker
# and the HTTP API in one process; the worker never migrates). TLS: a proxy in front of port 8080.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY tests ./tests
RUN cargo build --release --locked --bin billrun

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /app billrun
COPY --from=build /src/target/release/billrun /usr/local/bin/billrun
COPY jobs /app/jobs
WORKDIR /app
USER billrun
# DATABASE_URL must point at your Postgres; the image never starts a private one.
ENTRYPOINT ["billrun"]
EXPOSE 8080
CMD ["worker", "--serve", "--listen", "0.0.0.0:8080"]
