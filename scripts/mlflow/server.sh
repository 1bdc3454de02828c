#!/usr/bin/env bash
# A lean MLflow tracking server on loopback, for tests and benches.
#   server.sh start <state-dir>   starts one (sqlite backend, proxied artifacts, 1 worker, no
#                                 job runners) on a free port, waits for /health, prints its URI
#   server.sh stop <state-dir>    stops it (its whole process group)
# MONITOR_MLFLOW_PORT picks the port (to restart a server where it was).
# The venv comes from MONITOR_MLFLOW_VENV or scripts/mlflow/install.sh.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
here="$(cd "$(dirname "$0")" && pwd)"
cmd="${1:?usage: server.sh start|stop <state-dir>}"
state="${2:?usage: server.sh start|stop <state-dir>}"
mkdir -p "$state"
state="$(cd "$state" && pwd)"

case "$cmd" in
start)
    venv="${MONITOR_MLFLOW_VENV:-$("$here/install.sh")}"
    port="${MONITOR_MLFLOW_PORT:-}"
    [[ -n "$port" ]] || port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    mkdir -p "$state/artifacts"
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$venv/bin/mlflow" server \
        --host 127.0.0.1 --port "$port" --workers 1 \
        --backend-store-uri "sqlite:///$state/mlflow.db" \
        --default-artifact-root mlflow-artifacts:/ --artifacts-destination "$state/artifacts" \
        >"$state/server.log" 2>&1 < /dev/null &
    echo $! >"$state/pid"
    echo "$port" >"$state/port"
    for _ in $(seq 1 180); do
        if "$venv/bin/python" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1).read()
PY
            echo "http://127.0.0.1:$port"
            exit 0
        fi
        if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            echo "mlflow server exited; see $state/server.log:" >&2
            tail -20 "$state/server.log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "mlflow server did not answer /health within 90 s; see $state/server.log" >&2
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
