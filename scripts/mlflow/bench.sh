#!/usr/bin/env bash
# Runs the MLflow benchmarks against one fresh local server: the Rust criterion bench, then
# MLflow's Python client on the same server. Prints the figures quoted in docs/mlflow.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MONITOR_MLFLOW_VENV="$(./scripts/mlflow/install.sh)"
export MONITOR_MLFLOW_VENV
state="$(mktemp -d "${TMPDIR:-/tmp}/monitor-mlflow-bench.XXXXXX")"
trap './scripts/mlflow/server.sh stop "$state" || true; rm -rf "$state"' EXIT
MONITOR_TEST_MLFLOW_URI="$(./scripts/mlflow/server.sh start "$state")"
export MONITOR_TEST_MLFLOW_URI
cargo bench --features mlflow --bench mlflow_logging -- "$@"
"$MONITOR_MLFLOW_VENV/bin/python" scripts/mlflow/bench_python_client.py "$MONITOR_TEST_MLFLOW_URI" 300 2000
