#!/usr/bin/env bash
# Fuzz hako's parsers with libFuzzer for SECONDS each (default 30):
#   config          config.json parsing + validation
#   state           state.json parsing, container ids
#   seccomp         linux.seccomp translation with libseccomp + the compiled-program cache
#                   format
#   image_manifest  hako-bundle's image metadata: oci-layout, index.json, manifests, image
#                   config, docker manifest.json; --ref/--platform selection; digest strings;
#                   image config -> config.json
#   image_layer     a layer blob (tar, tar+gzip, tar+zstd) applied into a fresh rootfs under
#                   /dev/shm (or $HAKO_FUZZ_TMP): nothing may appear outside the rootfs
#   image_users     an image's Config.User against its /etc/passwd and /etc/group
#
#   integration/fuzz.sh [SECONDS] [TARGET...]
#
# The targets use the cargo-fuzz layout (fuzz/), but are built here on stable Rust with the
# sanitizer-coverage flags cargo-fuzz would pass, so CI needs neither nightly nor cargo-fuzz.
# Corpora start from fuzz/seeds/<target>; every file in fuzz/regressions/<target> (inputs that
# once crashed) is run first. A crash leaves its input in target/fuzz/artifacts/<target>/ and
# fails the script: copy it to fuzz/regressions/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config state seccomp image_manifest image_layer image_users)

export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR=$PWD/target/fuzz
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
triple=$(rustc -vV | sed -n 's/^host: //p')
(cd fuzz && cargo build --release --bins --locked --target "$triple")

work=$CARGO_TARGET_DIR/work
for t in "${targets[@]}"; do
    bin=$CARGO_TARGET_DIR/$triple/release/$t
    corpus=$work/corpus/$t
    artifacts=$CARGO_TARGET_DIR/artifacts/$t
    mkdir -p "$corpus" "$artifacts" "$work"
    cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
    confine=()
    if [ "$t" = image_layer ] && [ "$(id -u)" -eq 0 ]; then
        # As root, a layer entry escaping the rootfs would write to the host: run the target
        # in a private mount namespace where / is read-only but for the fuzz work dir (its
        # scratch rootfs is in /dev/shm, its own mount); the target fails on EROFS.
        confine=(unshare --mount --propagation private -- bash -c \
            'mount --bind "$1" "$1" && mount -o remount,bind,ro / && shift && exec "$@"' \
            confine "$CARGO_TARGET_DIR")
    fi
    if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
        echo "== $t: regression inputs"
        "${confine[@]}" "$bin" fuzz/regressions/"$t"/*
    fi
    echo "== $t: ${secs}s"
    status=0
    "${confine[@]}" "$bin" "$corpus" -max_total_time="$secs" -max_len=65536 -timeout=10 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$work/$t.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Test unit written)' \
        "$work/$t.log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$work/$t.log" >&2
        echo "fuzz target $t failed (status $status); inputs in $artifacts" >&2
        exit 1
    fi
done
echo "fuzzing passed"
