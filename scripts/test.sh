#!/usr/bin/env bash
# Runs every test of the workspace with all of its set-up. This is the README's test command
# and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# The MLflow tests need a real server: installed, started, and stopped on exit.
source ./scripts/mlflow/test-server.sh

cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
