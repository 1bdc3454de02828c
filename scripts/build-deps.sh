#!/usr/bin/env bash
# Installs the system packages the build needs, if missing: `pkg-config` and OpenSSL's
# headers, which the `dspy` feature's dependencies (dspy-rs, through reqwest's native TLS)
# link against. Everything else builds from crates.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

missing=()
for package in pkg-config libssl-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
    exit 0
fi
echo "installing ${missing[*]} (needed to build the dspy feature)" >&2
export DEBIAN_FRONTEND=noninteractive
install() {
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
}
# Package lists may be missing or stale on a fresh machine: update once and retry.
install || { apt-get update -q </dev/null >&2 && install; }
