#!/usr/bin/env bash
# Runs every test of the workspace with all of its set-up. This is the README's test command
# and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- MLflow set-up (venv with a pinned MLflow, a server on loopback) goes here. ---
# Installs MLflow 3.17.2 into .venv-mlflow (once), starts a lean server on a free loopback
# port for the MLflow tests, and stops it on exit, whatever happens.
MONITOR_MLFLOW_VENV="$(./scripts/mlflow/install.sh)"
export MONITOR_MLFLOW_VENV
mlflow_state="$(mktemp -d "${TMPDIR:-/tmp}/monitor-mlflow-test.XXXXXX")"
trap './scripts/mlflow/server.sh stop "$mlflow_state" || true; rm -rf "$mlflow_state"' EXIT
MONITOR_TEST_MLFLOW_URI="$(./scripts/mlflow/server.sh start "$mlflow_state")"
export MONITOR_TEST_MLFLOW_URI
echo "mlflow test server: $MONITOR_TEST_MLFLOW_URI (venv $MONITOR_MLFLOW_VENV)"

cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
