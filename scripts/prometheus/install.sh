#!/usr/bin/env bash
# Installs Debian's `prometheus` package if no `prometheus` is on PATH, without letting its
# postinst start the packaged service (it would listen on *:9090). Prints the binary's path.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

if bin="$(command -v prometheus)"; then
    echo "$bin"
    exit 0
fi

echo "installing Debian's prometheus package (about 20 s, 150 MB)" >&2
export DEBIAN_FRONTEND=noninteractive
# A policy-rc.d that exits 101 forbids invoke-rc.d / deb-systemd-invoke from starting services;
# put ours in place for the install and restore whatever was there.
policy=/usr/sbin/policy-rc.d
backup=""
if [[ -e "$policy" ]]; then
    backup="$(mktemp)"
    cp -p "$policy" "$backup"
fi
restore() {
    if [[ -n "$backup" ]]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

install() {
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus </dev/null >&2
}
# Package lists may be missing or stale on a fresh machine: update once and retry.
install || { apt-get update -q </dev/null >&2 && install; }

# The package's service must not be left running on a public address.
if ss -ltnH '( sport = :9090 or sport = :9100 )' | grep -q .; then
    echo "something listens on :9090 or :9100 after installing prometheus:" >&2
    ss -ltnpH '( sport = :9090 or sport = :9100 )' >&2
    exit 1
fi
command -v prometheus
