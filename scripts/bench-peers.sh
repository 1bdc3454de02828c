#!/usr/bin/env bash
# `#[monitored]` against its peers: runs `benches/peers.rs` and prints one table of per-call
# overheads (ns over the plain function, same run) and the ratios issue 10 asks for.
#
#   scripts/bench-peers.sh              # run the bench, then print the table
#   scripts/bench-peers.sh --table      # print the table of the last run only
#
# Extra arguments go to criterion, e.g. `scripts/bench-peers.sh -- --measurement-time 5`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" != "--table" ]]; then
    [[ "${1:-}" == "--" ]] && shift
    cargo bench --bench peers -- "$@"
fi

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
python3 - "$target/criterion" <<'EOF'
import json, os, sys

root = sys.argv[1]

def median(group, name):
    path = os.path.join(root, group, name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]

ns = lambda name: median("peers", name)
plain, plain_async = ns("plain"), ns("plain_async")
over = {
    name: ns(name) - plain
    for name in [
        "monitored_metrics_only", "monitored_full_capture", "guard_api", "module_monitor",
        "tracing_registry_skip_all", "tracing_ret_err_json", "metered",
        "fastrace_root_per_call", "fastrace_child_under_one_root",
        "fastrace_child_one_root_per_sample", "two_tsc_reads", "two_instant_reads",
    ]
}
over["monitored_async"] = ns("monitored_async") - plain_async

print(f"plain fn: {plain:.1f} ns (async, polled once: {plain_async:.1f} ns)\n")
print(f"{'case':<34} {'ns over plain':>14}")
for name, value in over.items():
    print(f"{name:<34} {value:>14.1f}")

def ratio(a, b):
    return over[a] / over[b] if over[b] > 0 else float("inf")

def threads(label, count):
    return median("peers_threads", f"{label}_{count}_thread")

scaling = 2 * threads("monitored_metrics_only", 1) / threads("monitored_metrics_only", 2)
plain_scaling = 2 * threads("plain", 1) / threads("plain", 2)
rows = [
    ("metrics-only / fastrace child span", ratio("monitored_metrics_only", "fastrace_child_under_one_root"), "<= 3"),
    ("  the same, one root per sample", ratio("monitored_metrics_only", "fastrace_child_one_root_per_sample"), "<= 3"),
    ("metrics-only / metered", ratio("monitored_metrics_only", "metered"), "<= 0.3"),
    ("  floor: two TSC reads / metered", ratio("two_tsc_reads", "metered"), ""),
    ("metrics-only / tracing registry", ratio("monitored_metrics_only", "tracing_registry_skip_all"), "<= 0.2"),
    ("  floor: two TSC reads / tracing registry", ratio("two_tsc_reads", "tracing_registry_skip_all"), ""),
    ("async / sync (metrics-only)", ratio("monitored_async", "monitored_metrics_only"), "<= 1.5"),
    ("full capture / tracing ret,err + JSON", ratio("monitored_full_capture", "tracing_ret_err_json"), "<= 0.1"),
    ("2 threads / 1 thread, throughput", scaling, ">= 1.8"),
    ("  (the plain fn, for the machine)", plain_scaling, ""),
]
latency = os.path.join(root, "peers", "writer_latency.json")
if os.path.exists(latency):
    with open(latency) as f:
        w = json.load(f)
    rows.append(("writer p99.9 beside a reader / alone", w["beside_reader"]["p999"] / w["alone"]["p999"], "<= 2"))
    rows.append((f"  (p99.9 {w['beside_reader']['p999']} ns / {w['alone']['p999']} ns)", None, ""))
print(f"\n{'ratio':<40} {'measured':>9}  target")
for label, value, target in rows:
    shown = "" if value is None else f"{value:.2f}"
    print(f"{label:<40} {shown:>9}  {target}")
EOF
