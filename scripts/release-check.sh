#!/usr/bin/env bash
# What a crates.io release needs, checked: the three packages build from their packaged
# sources in publish order, the docs build as docs.rs builds them (feature labels included,
# no warning), and the declared MSRV compiles everything. Run by scripts/test.sh.
set -euo pipefail
trap 'echo "$0: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."

msrv="$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)"

echo "== cargo package --workspace (monitor-macros, monitor-runtime, module-monitor)" >&2
# Cargo verifies each package against the ones packaged before it, unpacked from a local
# registry under ~/.cargo/registry/src/-<hash>/; an unpacking left by an earlier run is
# reused as it is, stale. Only those overlay registries (named with a leading `-`) are
# cleared, never crates.io's.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/{monitor-macros,monitor-runtime,module-monitor}-*
package_log="$(mktemp)"
if ! cargo package --workspace --allow-dirty --quiet 2>"$package_log"; then
    cat "$package_log" >&2
    rm -f "$package_log"
    exit 1
fi
grep -v "^warning: ignoring \(test\|bench\)" "$package_log" >&2 || true
rm -f "$package_log"

echo "== docs as docs.rs builds them (nightly features via RUSTC_BOOTSTRAP, --cfg docsrs)" >&2
RUSTC_BOOTSTRAP=1 RUSTDOCFLAGS="--cfg docsrs -D warnings" \
    cargo doc --workspace --all-features --no-deps --quiet
grep -q "Available on <strong>crate feature <code>mlflow</code>" \
    target/doc/monitor/mlflow/struct.MlflowLogger.html \
    || { echo "rustdoc did not label the mlflow feature" >&2; exit 1; }
# The guide's pages are in the docs, a feature's page labelled with it.
grep -q "Available on <strong>crate feature <code>otlp</code>" \
    target/doc/monitor/guide/otlp/index.html \
    || { echo "rustdoc did not label the otlp guide page" >&2; exit 1; }

echo "== MSRV $msrv" >&2
toolchain="$msrv.0"
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "the MSRV toolchain $toolchain is not installed (rustup toolchain install $toolchain)" >&2
    exit 1
fi
if [[ "$(rustc --version)" == "$(rustup run "$toolchain" rustc --version)" ]]; then
    echo "the default toolchain is $toolchain: the test build is the MSRV check" >&2
else
    cargo "+$toolchain" check --workspace --all-features --all-targets --quiet
fi
