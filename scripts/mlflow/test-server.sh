# Sourced (not run) by scripts that need an MLflow server: installs MLflow 3.17.2 into
# .venv-mlflow (once), starts a lean server on a free loopback port, exports
# MONITOR_MLFLOW_VENV and MONITOR_TEST_MLFLOW_URI, and stops the server when the sourcing
# script exits, whatever happens. Expects to be sourced from the repository root.
source ./scripts/on-exit.sh
MONITOR_MLFLOW_VENV="$(./scripts/mlflow/install.sh)"
export MONITOR_MLFLOW_VENV
mlflow_state="$(mktemp -d "${TMPDIR:-/tmp}/monitor-mlflow.XXXXXX")"
on_exit './scripts/mlflow/server.sh stop "$mlflow_state" || true; rm -rf "$mlflow_state"'
MONITOR_TEST_MLFLOW_URI="$(./scripts/mlflow/server.sh start "$mlflow_state")"
export MONITOR_TEST_MLFLOW_URI
echo "mlflow test server: $MONITOR_TEST_MLFLOW_URI (venv $MONITOR_MLFLOW_VENV)" >&2
