#!/usr/bin/env bash
# An Arize Phoenix server on loopback, for tests.
#   server.sh start <state-dir>   starts one (sqlite in <state-dir>, HTTP and OTLP/gRPC on free
#                                 127.0.0.1 ports, no telemetry), waits until both answer, prints
#                                 the HTTP base URL; the gRPC port goes to <state-dir>/grpc_port
#   server.sh stop <state-dir>    stops it (its whole process group)
# MONITOR_PHOENIX_PORT / MONITOR_PHOENIX_GRPC_PORT pick the ports (to restart one where it was).
# The venv comes from MONITOR_PHOENIX_VENV or scripts/phoenix/install.sh.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?usage: server.sh start|stop <state-dir>}"
state="${2:?usage: server.sh start|stop <state-dir>}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"

case "$cmd" in
start)
    venv="${MONITOR_PHOENIX_VENV:-$("$here/install.sh")}"
    free_port='import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    port="${MONITOR_PHOENIX_PORT:-$("$venv/bin/python" -c "$free_port")}"
    grpc_port="${MONITOR_PHOENIX_GRPC_PORT:-$("$venv/bin/python" -c "$free_port")}"
    mkdir -p "$state/work"
    # Nothing phones home (no telemetry pixels, web fonts, sandbox downloads), and features a
    # test does not use (assistant, MCP, code sandboxes, Prometheus on :9090) stay off.
    PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" PHOENIX_GRPC_PORT="$grpc_port" \
    PHOENIX_WORKING_DIR="$state/work" PHOENIX_SQL_DATABASE_URL= PHOENIX_ENABLE_AUTH=false \
    PHOENIX_TELEMETRY_ENABLED=false PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
    PHOENIX_DISABLE_AGENT_ASSISTANT=true PHOENIX_AGENTS_DISABLE_BASH=true \
    PHOENIX_ENABLE_MCP_SERVER=false PHOENIX_ALLOWED_SANDBOX_PROVIDERS=NONE \
    PHOENIX_ENABLE_PROMETHEUS=false PHOENIX_LOG_MIGRATIONS=false \
        setsid "$venv/bin/python" "$here/serve_loopback.py" \
        >"$state/server.log" 2>&1 </dev/null &
    echo $! >"$state/pid"
    echo "$port" >"$state/port"
    echo "$grpc_port" >"$state/grpc_port"
    for _ in $(seq 1 240); do
        if "$venv/bin/python" - "$port" "$grpc_port" <<'PY' 2>/dev/null; then
import socket, sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1).read()
socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=1).close()
PY
            echo "http://127.0.0.1:$port"
            exit 0
        fi
        if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            echo "phoenix exited; see $state/server.log:" >&2
            tail -20 "$state/server.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "phoenix did not answer /readyz within 120 s; see $state/server.log" >&2
    "$0" stop "$state" || true
    exit 1
    ;;
stop)
    if [[ -f "$state/pid" ]]; then
        pid="$(cat "$state/pid")"
        kill -TERM -- "-$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
        rm -f "$state/pid"
    fi
    ;;
*)
    echo "usage: server.sh start|stop <state-dir>" >&2
    exit 2
    ;;
esac
