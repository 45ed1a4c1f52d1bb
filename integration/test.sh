#!/usr/bin/env bash
# The project's full check, as documented in README: system deps, release build,
# formatting, lints, then the test suite (which runs real containers, so: root).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: must run as root (tests create namespaces, cgroups and mounts)" >&2
    exit 1
fi

"$repo/integration/setup.sh"

# rustup installs put cargo in ~/.cargo/bin, which non-login shells (CI, sudo)
# often lack on PATH.
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || { echo "test.sh: cargo not found (install rustup)" >&2; exit 1; }

set -x
# The fuzz crate has its own lock file (it is its own workspace): fail in seconds, not after
# the whole suite, when a dependency change was not carried into it.
(cd fuzz && cargo metadata --locked --format-version 1 >/dev/null)
# Build first: integration tests exec target/x86_64-unknown-linux-gnu/release/hako.
cargo build --release
cargo fmt --check
cargo clippy --all-targets --release -- -D warnings
# Containers are heavy-ish; 4 threads keeps a 2-core box busy without thrashing.
cargo test --release -- --test-threads=4
# containerd and Podman driving hako end to end (a private containerd, private Podman storage),
# then the same scenarios on runc: each one must pass on the reference runtime too.
integration/engines.sh
RUNTIME=runc integration/engines.sh

# The same suite in a guest kernel with pure cgroup v2 and AppArmor (qemu, software
# emulation): the host is hybrid v1 without an LSM, so the v2 and AppArmor tests (reported
# as ignored above) really run only here. The test binaries were built above.
GUEST_TIMEOUT=1500 GUEST_SHARES="${CARGO_HOME:-$HOME/.cargo} ${RUSTUP_HOME:-$HOME/.rustup}" \
    integration/guest/run.sh cargo test --release -- --test-threads=4
# libFuzzer on the config, state and seccomp parsers and hako-bundle's image handling
# (manifests, layers, users; stable Rust, no cargo-fuzz needed).
integration/fuzz.sh "${FUZZ_SECONDS:-30}"
