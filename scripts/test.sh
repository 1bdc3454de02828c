#!/usr/bin/env bash
# Runs every test of the workspace with all of its set-up. This is the README's test command
# and what CI runs (.ci/run).
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."

# System packages the build links against (OpenSSL for the `dspy` feature), if missing.
./scripts/build-deps.sh
# The MLflow tests need a real server: installed, started, and stopped on exit.
source ./scripts/mlflow/test-server.sh
# So do the Phoenix tests (OTLP/HTTP in, REST and GraphQL read-back).
source ./scripts/phoenix/test-server.sh
# The cross-service tests (tests/services_interop.rs) run Python services instrumented only
# with OpenTelemetry's own SDK and instrumentations, installed at pinned versions.
MONITOR_OTEL_PYTHON_VENV="$(./scripts/otel-python/install.sh)"; export MONITOR_OTEL_PYTHON_VENV
# The Prometheus tests (tests/prometheus.rs) start their own from Debian's package.
MONITOR_PROMETHEUS_BIN="$(./scripts/prometheus/install.sh)"; export MONITOR_PROMETHEUS_BIN

cargo test --workspace --all-features --all-targets --no-fail-fast
cargo test --workspace --all-features --doc

# The record path's lock-free structures (the ring, the export queue's slot count),
# model-checked with loom (its own target dir: the cfg changes every crate's build).
RUSTFLAGS="--cfg monitor_loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p monitor-runtime --lib --release loom_tests

# Compiled out (`default-features = false`): every example, test and bench builds without a
# warning, and monitored code behaves as the plain code.
cargo clippy --no-default-features --features mlflow,tokio,prometheus,otlp,opentelemetry,tracing-spans,tracing-layer,dspy --all-targets -- -D warnings
cargo test --no-default-features --features mlflow,tokio --test monitored_disabled

# Publishable: packages, docs as docs.rs builds them, the declared MSRV.
./scripts/release-check.sh
