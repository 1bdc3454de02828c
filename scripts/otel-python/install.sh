#!/usr/bin/env bash
# Installs the pinned OpenTelemetry Python SDK, its OTLP/HTTP exporter and the official
# `requests` and Flask instrumentations (with Flask and requests) into a local venv (default
# `.venv-otel/` at the repository root) if they are not there yet. The cross-service tests
# (tests/services_interop.rs) run Python services instrumented only with these, as services
# no one here wrote. Idempotent and quick when the venv has the right versions. Prints the
# venv's directory on stdout.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${MONITOR_OTEL_PYTHON_VENV:-$root/.venv-otel}"
sdk="1.45.2"
contrib="0.66b2"
python="${PYTHON:-python3}"

installed() {
    "$venv/bin/python" -c "
import importlib.metadata as m
assert m.version('opentelemetry-sdk') == '$sdk'
assert m.version('opentelemetry-instrumentation-flask') == '$contrib'
assert m.version('opentelemetry-instrumentation-requests') == '$contrib'
" 2>/dev/null
}

if [[ -x "$venv/bin/python" ]] && installed; then
    echo "$venv"
    exit 0
fi

echo "installing opentelemetry-sdk==$sdk with the requests and Flask instrumentations into $venv (about 30 s)" >&2
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "opentelemetry-sdk==$sdk" \
    "opentelemetry-exporter-otlp-proto-http==$sdk" \
    "opentelemetry-instrumentation-requests==$contrib" \
    "opentelemetry-instrumentation-flask==$contrib" \
    "flask==3.1.3" \
    "requests==2.34.2" >&2
echo "$venv"
