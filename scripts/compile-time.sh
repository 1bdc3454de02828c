#!/usr/bin/env bash
# Compile time of a crate with 200 instrumented functions: `#[monitor::monitored]` against
# `#[tracing::instrument]` (DESIGN.md: no slower), and `#[tracing::instrument(ret, err)]`,
# which records about as much as `#[monitored]` does. Dependencies are built first; only the
# generated crate itself is timed, as the median of several clean rebuilds of it.
#
# Usage: scripts/compile-time.sh [runs]   (default 5)
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

generate() { # name attribute dependency-line
    local dir="$work/$1"
    mkdir -p "$dir/src"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2021"

[dependencies]
$3
serde = { version = "1", features = ["derive"] }

[workspace]
TOML
    {
        echo "#![allow(dead_code)]"
        echo "#[derive(Debug, serde::Serialize)] pub struct Query { pub text: String, pub k: usize }"
        for i in $(seq 1 200); do
            echo "$2"
            echo "pub fn step_$i(query: &Query, temperature: f64) -> Result<String, std::io::Error> {"
            echo "    if query.k == $i { return Err(std::io::Error::other(\"too many\")); }"
            echo "    Ok(format!(\"{}-{}-{}\", query.text, temperature, $i))"
            echo "}"
        done
    } > "$dir/src/lib.rs"
}

# The facade's package is `module-monitor`; its library is `monitor`.
generate with_monitor '#[monitor::monitored]' "monitor = { package = \"module-monitor\", path = \"$root\" }"
generate with_tracing '#[tracing::instrument]' 'tracing = "0.1"'
generate with_tracing_ret_err '#[tracing::instrument(ret, err)]' 'tracing = "0.1"'

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for crate in with_monitor with_tracing with_tracing_ret_err; do
    # The first build (dependencies) is not timed, but its errors are shown: a broken
    # generated crate must stop the script with the reason, not end it silently.
    (cd "$work/$crate" && cargo build -q)
    times=()
    for _ in $(seq "$runs"); do
        touch "$work/$crate/src/lib.rs"
        start=$(date +%s.%N)
        (cd "$work/$crate" && cargo build -q)
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s: median %.2f s over %s rebuilds\n' "$crate" "$(printf '%s\n' "${times[@]}" | median)" "$runs"
done
