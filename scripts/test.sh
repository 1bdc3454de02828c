#!/usr/bin/env bash
# Runs every test of the workspace with all of its set-up. This is the README's test command
# and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The MLflow tests need a real server: installed, started, and stopped on exit.
source ./scripts/mlflow/test-server.sh
# So do the Phoenix tests (OTLP/HTTP, OTLP/gRPC, REST and GraphQL read-back).
source ./scripts/phoenix/test-server.sh
# The Prometheus tests start their own server (scripts/prometheus/server.sh) or run this binary.
MONITOR_PROMETHEUS_BIN="$(./scripts/prometheus/install.sh)"
export MONITOR_PROMETHEUS_BIN

cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
