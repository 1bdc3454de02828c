#!/usr/bin/env bash
# Instructions per iteration of `benches/peers.rs` cases named after the function they call
# (`plain`, `plain_async`, `monitored_*`, `guard_api`), under callgrind: deterministic, so
# two builds compare on a noisy machine where criterion's times do not.
#
#   scripts/bench-instructions.sh plain monitored_metrics_only monitored_async
#
# Needs valgrind. Each case runs for a second of criterion's profile mode under callgrind.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."

cargo bench --bench peers --no-run
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bench="$(ls -t "$target"/release/deps/peers-* | grep -v '\.d$' | head -1)"
out="$(mktemp)"
trap 'rm -f "$out" "$out.log"' EXIT
for case in "$@"; do
    # What valgrind and the bench say goes to a file, shown when the run fails.
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bench" --bench --profile-time 1 "peers/$case\$" >/dev/null 2>"$out.log" ||
        { cat "$out.log" >&2; exit 1; }
    python3 - "$out" "$case" <<'PY'
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
print(f"{case:<34} {inclusive / max(calls, 1):>8.1f} instructions per iteration")
PY
done
