#!/usr/bin/env bash
# A Prometheus on loopback that scrapes the given targets every second, for tests.
#   server.sh start <state-dir> <host:port>...   writes <state-dir>/prometheus.yml (job `monitor`,
#                      path $MONITOR_PROMETHEUS_METRICS_PATH or /metrics), starts Prometheus on a
#                      free 127.0.0.1 port with its TSDB in <state-dir>/data, waits for /-/ready,
#                      prints its base URL. Targets need not be up yet: they are scraped once up.
#   server.sh reload <state-dir> <host:port>...  replaces the targets of a running one (SIGHUP)
#   server.sh stop <state-dir>                   stops it (its whole process group)
# Targets must be on loopback (127.0.0.1, localhost or [::1]). MONITOR_PROMETHEUS_PORT picks the
# port; MONITOR_PROMETHEUS_BIN the binary (default: scripts/prometheus/install.sh's).
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
here="$(cd "$(dirname "$0")" && pwd)"
usage="usage: server.sh start|reload <state-dir> <host:port>... | stop <state-dir>"
cmd="${1:?$usage}"
state="${2:?$usage}"
shift 2
mkdir -p "$state"
state="$(cd "$state" && pwd)"

write_config() {
    local targets="" t
    for t in "$@"; do
        if [[ ! "$t" =~ ^(127\.0\.0\.1|localhost|\[::1\]):[0-9]+$ ]]; then
            echo "target $t is not a loopback host:port" >&2
            exit 2
        fi
        targets+="${targets:+, }'$t'"
    done
    cat >"$state/prometheus.yml.new" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: monitor
    metrics_path: '${MONITOR_PROMETHEUS_METRICS_PATH:-/metrics}'
    static_configs:
      - targets: [$targets]
YML
    mv "$state/prometheus.yml.new" "$state/prometheus.yml"
}

case "$cmd" in
start)
    [[ $# -gt 0 ]] || { echo "$usage" >&2; exit 2; }
    bin="${MONITOR_PROMETHEUS_BIN:-$("$here/install.sh")}"
    write_config "$@"
    # A free port can be taken between choosing and binding it (tests run in parallel): retry.
    for _ in 1 2 3; do
        port="${MONITOR_PROMETHEUS_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
        setsid "$bin" --config.file="$state/prometheus.yml" --storage.tsdb.path="$state/data" \
            --web.listen-address="127.0.0.1:$port" --log.level=warn \
            >"$state/server.log" 2>&1 </dev/null &
        echo $! >"$state/pid"
        echo "$port" >"$state/port"
        for _ in $(seq 1 120); do
            if python3 - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/-/ready", timeout=1).read()
PY
                echo "http://127.0.0.1:$port"
                exit 0
            fi
            kill -0 "$(cat "$state/pid")" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            echo "prometheus did not become ready within 30 s; see $state/server.log" >&2
            "$0" stop "$state" || true
            exit 1
        fi
        grep -q "address already in use" "$state/server.log" && [[ -z "${MONITOR_PROMETHEUS_PORT:-}" ]] || break
    done
    echo "prometheus exited; see $state/server.log:" >&2
    tail -20 "$state/server.log" >&2
    exit 1
    ;;
reload)
    [[ $# -gt 0 ]] || { echo "$usage" >&2; exit 2; }
    write_config "$@"
    kill -HUP "$(cat "$state/pid")"
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
    echo "$usage" >&2
    exit 2
    ;;
esac
