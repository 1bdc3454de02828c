#!/usr/bin/env bash
# Runs the MLflow benchmarks against one fresh local server: the Rust criterion bench, then
# MLflow's Python client on the same server. Prints the figures quoted in docs/mlflow.md.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/../.."
source ./scripts/mlflow/test-server.sh
cargo bench --features mlflow --bench mlflow_logging -- "$@"
"$MONITOR_MLFLOW_VENV/bin/python" scripts/mlflow/bench_python_client.py "$MONITOR_TEST_MLFLOW_URI" 300 2000
