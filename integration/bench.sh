#!/usr/bin/env bash
# Side-by-side start-up benchmark of hako, runc and crun with hyperfine.
#
#   integration/bench.sh            (as root; run integration/setup.sh first)
#
# Environment:
#   HAKO=path     hako binary (default: <repo>/target/release/hako; skipped if missing)
#   RUNS=N        timed runs per command (default 50)
#   WARMUP=N      warm-up runs per command (default 5)
#   RESULTS=dir   where hyperfine JSON + summary go (default <repo>/target/bench-results/<timestamp>)
#
# Cases (container process is /bin/true in a busybox bundle):
#   lifecycle         create + start + poll `state` until stopped + delete
#   run               `run` (foreground, auto-delete; delete -f only if state is left behind)
#   lifecycle-limits  as lifecycle, with memory.limit=64MiB and pids.limit=100
#
# Fairness notes:
#   * crun 1.8 refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not
#     supported") because /sys/fs/cgroup/unified/cgroup.controllers is non-empty. We
#     run crun inside a private mount namespace (held open by a `sleep` process) in
#     which an empty file is bind-mounted over that one file; the host's mounts are
#     never changed. Entering that namespace costs one `nsenter` exec per iteration,
#     so every runtime is launched through `nsenter --mount=...` (runc/hako into the
#     host's own mount namespace) and all pay the same overhead.
#   * Each runtime has its own --root and its own bundles whose absolute cgroupsPath
#     lives under /hako-bench/<runtime>[-limits]; everything is removed on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
HAKO=${HAKO:-$repo/target/release/hako}
RESULTS=${RESULTS:-$repo/target/bench-results/$(date +%Y%m%d-%H%M%S)}
CG_ROOT=/hako-bench

if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: must run as root (containers with cgroups)" >&2
    exit 1
fi
for tool in hyperfine python3 nsenter unshare; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool missing; run integration/setup.sh" >&2; exit 1; }
done

# ---- runtimes to compare (name -> binary); missing ones are skipped, not fatal ----
declare -A BIN=()
[ -x "$HAKO" ] && BIN[hako]=$(realpath "$HAKO") \
    || echo "bench.sh: SKIPPING hako: binary '$HAKO' not found (cargo build --release, or set HAKO=...)" >&2
for rt in runc crun; do
    if p=$(command -v "$rt"); then BIN[$rt]=$p; else echo "bench.sh: SKIPPING $rt: not installed (run integration/setup.sh)" >&2; fi
done

work=$(mktemp -d /tmp/hako-bench.XXXXXX)
holder_pid=

cleanup() {
    local rc=$?
    set +e
    # Remove any containers left by an aborted run (state dirs live in our --root).
    for rt in "${!BIN[@]}"; do
        local root=$work/root-$rt
        [ -d "$root" ] || continue
        for id in $(launch "$rt" "${BIN[$rt]}" --root "$root" list -q 2>/dev/null); do
            launch "$rt" "${BIN[$rt]}" --root "$root" delete -f "$id" >/dev/null 2>&1
        done
    done
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null && wait "$holder_pid" 2>/dev/null
    "$repo/integration/rm-cgroups.sh" "$CG_ROOT" || echo "bench.sh: WARNING: cgroups left under $CG_ROOT" >&2
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- crun's private mount namespace (only when the host is in hybrid mode) ----
host_mntns=/proc/$$/ns/mnt
crun_mntns=$host_mntns
ctrl=/sys/fs/cgroup/unified/cgroup.controllers
if [ -n "${BIN[crun]:-}" ] && [ -f "$ctrl" ] && [ -n "$(cat "$ctrl")" ]; then
    : > "$work/empty-controllers"
    # unshare -m gives the holder a copy of our mount table; make-rprivate first so
    # the bind mount below can never propagate back to the host.
    # shellcheck disable=SC2016  # $1..$3 are expanded by the inner sh
    unshare -m -- sh -c '
        mount --make-rprivate / &&
        mount --bind "$1" "$2" &&
        touch "$3" &&
        exec sleep infinity' sh "$work/empty-controllers" "$ctrl" "$work/ns-ready" &
    holder_pid=$!
    for _ in $(seq 100); do [ -e "$work/ns-ready" ] && break; sleep 0.05; done
    if [ ! -e "$work/ns-ready" ]; then
        echo "bench.sh: SKIPPING crun: could not set up its private mount namespace" >&2
        unset 'BIN[crun]'
    else
        crun_mntns=/proc/$holder_pid/ns/mnt
    fi
fi

# launch RT CMD...: run CMD in the mount namespace RT needs (see fairness notes).
launch() {
    local rt=$1; shift
    if [ "$rt" = crun ]; then nsenter --mount="$crun_mntns" -- "$@"; else nsenter --mount="$host_mntns" -- "$@"; fi
}
launch_prefix() {  # same, as a command-line prefix string for hyperfine
    if [ "$1" = crun ]; then echo "nsenter --mount=$crun_mntns --"; else echo "nsenter --mount=$host_mntns --"; fi
}

# ---- the per-iteration sequence, one small POSIX sh script shared by all runtimes ----
cat > "$work/seq.sh" <<'SH'
#!/bin/sh
# seq.sh MODE RUNTIME ROOT BUNDLE ID
set -eu
mode=$1 rt=$2 root=$3 bundle=$4 id=$5
case $mode in
lifecycle)
    "$rt" --root "$root" create -b "$bundle" "$id"
    "$rt" --root "$root" start "$id"
    # Wait for the container to exit the way an engine would: poll `state`.
    n=0
    until "$rt" --root "$root" state "$id" | grep -Eq '"status": *"stopped"'; do
        n=$((n + 1))
        [ "$n" -lt 5000 ] || { echo "seq.sh: $id never reached stopped" >&2; exit 1; }
        sleep 0.001
    done
    "$rt" --root "$root" delete "$id"
    ;;
run)
    "$rt" --root "$root" run -b "$bundle" "$id"
    # run deletes the container itself unless --keep; clean up only if it did not.
    if [ -e "$root/$id" ]; then "$rt" --root "$root" delete -f "$id"; fi
    ;;
*) echo "seq.sh: bad mode $mode" >&2; exit 2 ;;
esac
SH
chmod +x "$work/seq.sh"

# ---- bundles: one rootfs+config per runtime and case, so cgroups never collide ----
for rt in "${!BIN[@]}"; do
    mkdir -p "$work/root-$rt"
    CGROUPS_PATH=$CG_ROOT/$rt "$repo/integration/make-bundle.sh" "$work/bundle-$rt" /bin/true >/dev/null
    CGROUPS_PATH=$CG_ROOT/$rt-limits "$repo/integration/make-bundle.sh" "$work/bundle-$rt-limits" /bin/true >/dev/null
    python3 - "$work/bundle-$rt-limits/config.json" <<'PY'
import json, sys
p = sys.argv[1]
spec = json.load(open(p))
res = spec["linux"].setdefault("resources", {})
res["memory"] = {"limit": 64 * 1024 * 1024}
res["pids"] = {"limit": 100}
json.dump(spec, open(p, "w"), indent="\t")
PY
done

# ---- sanity pass: one untimed iteration per runtime/case; drop runtimes that fail ----
cases=(lifecycle run lifecycle-limits)
case_mode() { case $1 in run) echo run ;; *) echo lifecycle ;; esac; }
case_bundle() { case $1 in lifecycle-limits) echo "$work/bundle-$2-limits" ;; *) echo "$work/bundle-$2" ;; esac; }

for rt in runc crun hako; do
    [ -n "${BIN[$rt]:-}" ] || continue
    for c in "${cases[@]}"; do
        if ! launch "$rt" "$work/seq.sh" "$(case_mode "$c")" "${BIN[$rt]}" "$work/root-$rt" \
                "$(case_bundle "$c" "$rt")" sanity >"$work/sanity.log" 2>&1; then
            echo "bench.sh: SKIPPING $rt: case '$c' failed its sanity run:" >&2
            sed 's/^/    /' "$work/sanity.log" >&2
            launch "$rt" "${BIN[$rt]}" --root "$work/root-$rt" delete -f sanity >/dev/null 2>&1 || true
            unset "BIN[$rt]"
            break
        fi
    done
done
order=()
for rt in hako runc crun; do [ -n "${BIN[$rt]:-}" ] && order+=("$rt"); done
if [ "${#order[@]}" -eq 0 ]; then
    echo "bench.sh: no runtime left to benchmark" >&2
    exit 1
fi

mkdir -p "$RESULTS"
{
    echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "cpus: $(nproc)"
    echo "runs: $RUNS warmup: $WARMUP"
    for rt in "${order[@]}"; do echo "--- $rt (${BIN[$rt]})"; "${BIN[$rt]}" --version 2>&1 | head -3; done
} > "$RESULTS/environment.txt"

# ---- one hyperfine invocation per case, all runtimes side by side ----
for c in "${cases[@]}"; do
    echo
    echo "=== case: $c ==="
    args=()
    for rt in "${order[@]}"; do
        id=b-$c
        args+=(-n "$rt" "$(launch_prefix "$rt") $work/seq.sh $(case_mode "$c") ${BIN[$rt]} $work/root-$rt $(case_bundle "$c" "$rt") $id")
    done
    hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$RESULTS/$c.json" "${args[@]}"
done

# ---- summary table from the exported JSON (medians) ----
python3 - "$RESULTS" "${cases[@]}" <<'PY' | tee "$RESULTS/summary.txt"
import json, os, sys
results, cases = sys.argv[1], sys.argv[2:]
rts = ["hako", "runc", "crun"]
def fmt(v): return "-" if v is None else f"{v:.2f}"
def ratio(a, b): return "-" if a is None or b is None else f"{a / b:.2f}x"
rows = []
for c in cases:
    data = json.load(open(os.path.join(results, c + ".json")))
    med = {r["command"]: r["median"] * 1000 for r in data["results"]}
    rows.append([c] + [fmt(med.get(r)) for r in rts]
                + [ratio(med.get("hako"), med.get("crun")), ratio(med.get("hako"), med.get("runc"))])
head = ["case (median ms)", "hako", "runc", "crun", "hako/crun", "hako/runc"]
w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
line = lambda cells: "  ".join(str(x).ljust(w[0]) if i == 0 else str(x).rjust(w[i]) for i, x in enumerate(cells))
print()
print(line(head))
print(line(["-" * n for n in w]))
for r in rows:
    print(line(r))
PY
echo
echo "bench.sh: results in $RESULTS"
