#!/usr/bin/env bash
# Instructions per iteration of `benches/peers.rs` cases named after the function they call
# (`plain`, `plain_async`, `monitored_*`, `guard_api`), under callgrind: deterministic, so
# two builds compare on a noisy machine where criterion's times do not. Each case is also
# shown over its plain call (`plain`, or `plain_async` for an async case), which is run too
# when not asked for: the instrumentation's own cost.
#
#   scripts/bench-instructions.sh monitored_metrics_only monitored_full_capture monitored_async
#
# Needs valgrind. Each case runs for a second of criterion's profile mode under callgrind.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."

[[ $# -gt 0 ]] || { echo "usage: $0 CASE... (cases of benches/peers.rs)" >&2; exit 2; }

# The plain calls first, once each, then the cases asked for.
cases=()
for case in "$@"; do
    if [[ "$case" == *async* ]]; then base=plain_async; else base=plain; fi
    [[ " ${cases[*]-} " == *" $base "* ]] || cases+=("$base")
done
for case in "$@"; do
    [[ " ${cases[*]} " == *" $case "* ]] || cases+=("$case")
done

cargo bench --bench peers --no-run
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bench="$(ls -t "$target"/release/deps/peers-* | grep -v '\.d$' | head -1)"
out="$(mktemp)"
counts="$(mktemp)"
trap 'rm -f "$out" "$out.log" "$counts"' EXIT
for case in "${cases[@]}"; do
    # What valgrind and the bench say goes to a file, shown when the run fails.
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bench" --bench --profile-time 1 "peers/$case\$" >/dev/null 2>"$out.log" ||
        { cat "$out.log" >&2; exit 1; }
    python3 - "$out" "$case" >>"$counts" <<'PY'
import re, sys

path, case = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
names, calls, inclusive = {}, 0, 0
for i, line in enumerate(lines):
    named = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if named and named.group(2):
        names[named.group(1)] = named.group(2)
    if line.startswith("cfn=") and i + 2 < len(lines) and lines[i + 1].startswith("calls="):
        name = names.get(re.match(r"cfn=\((\d+)\)", line).group(1), "")
        count = int(lines[i + 1].split("=")[1].split()[0])
        cost = int(lines[i + 2].split()[1])
        if name == f"peers::{case}":
            calls += count
        if "Bencher<M>::iter" in name:
            inclusive += cost
print(f"{case} {inclusive / max(calls, 1):.1f}")
PY
done

python3 - "$counts" <<'PY'
import sys

per_iteration = dict(line.split() for line in open(sys.argv[1]) if line.strip())
per_iteration = {case: float(count) for case, count in per_iteration.items()}
print(f"{'case':<34} {'per iteration':>13} {'over plain':>11}")
for case, count in per_iteration.items():
    base = "plain_async" if "async" in case else "plain"
    over = "" if case == base else f"{count - per_iteration[base]:>11.1f}"
    print(f"{case:<34} {count:>13.1f} {over:>11}")
PY
