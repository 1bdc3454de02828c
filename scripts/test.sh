#!/usr/bin/env bash
# Runs every test of the workspace with all of its set-up. This is the README's test command
# and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# --- MLflow set-up (venv with a pinned MLflow, a server on loopback) goes here. ---

cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc
