# Sourced (not run) by scripts that need an Arize Phoenix server: installs Phoenix 20.26.1 into
# .venv-phoenix (once), starts it on free loopback ports, exports MONITOR_PHOENIX_VENV,
# MONITOR_TEST_PHOENIX_URL (UI, REST, GraphQL and OTLP/HTTP at /v1/traces) and
# MONITOR_TEST_PHOENIX_GRPC (OTLP/gRPC), and stops the server when the sourcing script exits,
# whatever happens. Expects to be sourced from the repository root.
source ./scripts/on-exit.sh
MONITOR_PHOENIX_VENV="$(./scripts/phoenix/install.sh)"
export MONITOR_PHOENIX_VENV
phoenix_state="$(mktemp -d "${TMPDIR:-/tmp}/monitor-phoenix.XXXXXX")"
on_exit './scripts/phoenix/server.sh stop "$phoenix_state" || true; rm -rf "$phoenix_state"'
MONITOR_TEST_PHOENIX_URL="$(./scripts/phoenix/server.sh start "$phoenix_state")"
MONITOR_TEST_PHOENIX_GRPC="http://127.0.0.1:$(cat "$phoenix_state/grpc_port")"
export MONITOR_TEST_PHOENIX_URL MONITOR_TEST_PHOENIX_GRPC
echo "phoenix test server: $MONITOR_TEST_PHOENIX_URL, OTLP/gRPC $MONITOR_TEST_PHOENIX_GRPC" >&2
