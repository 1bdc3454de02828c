#!/usr/bin/env bash
# Installs the pinned MLflow into a local venv (default `.venv-mlflow/` at the repository root)
# if it is not there yet. Idempotent and quick when the venv already has the right version.
# Prints the venv's directory on stdout.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${MONITOR_MLFLOW_VENV:-$root/.venv-mlflow}"
version="${MONITOR_MLFLOW_VERSION:-3.17.2}"
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/mlflow" ]] && [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mlflow"))' 2>/dev/null)" == "$version" ]]; then
    echo "$venv"
    exit 0
fi

echo "installing mlflow==$version into $venv (about 70 s, 850 MB)" >&2
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "mlflow==$version" >&2
echo "$venv"
