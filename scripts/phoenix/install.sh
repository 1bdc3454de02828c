#!/usr/bin/env bash
# Installs the pinned Arize Phoenix into a local venv (default `.venv-phoenix/` at the repository
# root) if it is not there yet, with opentelemetry-proto for scripts/phoenix/check.py. Idempotent
# and quick when the venv already has the right version. Prints the venv's directory on stdout.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${MONITOR_PHOENIX_VENV:-$root/.venv-phoenix}"
version="${MONITOR_PHOENIX_VERSION:-20.26.1}"
python="${PYTHON:-python3}"

if [[ -x "$venv/bin/phoenix" ]] && [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("arize-phoenix"))' 2>/dev/null)" == "$version" ]]; then
    echo "$venv"
    exit 0
fi

echo "installing arize-phoenix==$version into $venv (about 2.5 min, 850 MB)" >&2
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "arize-phoenix==$version" opentelemetry-proto >&2
echo "$venv"
