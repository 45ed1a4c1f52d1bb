#!/usr/bin/env bash
# Side-by-side benchmark of hako, runc and crun: start-up time (hyperfine), exec, peak RSS,
# syscalls per lifecycle, state/list scaling, concurrent creates and a Podman smoke test,
# ending in one summary table with ratios and the issue #8 targets met or missed.
#
#   integration/bench.sh            (as root; run integration/setup.sh first)
#
# Environment (defaults take about 5-8 minutes on this project's 2-core VM):
#   HAKO=path        hako binary (default: <repo>/target/x86_64-unknown-linux-gnu/release/hako; skipped if missing)
#   RUNS=N           timed runs per command (default 50)
#   WARMUP=N         warm-up runs per command (default 5)
#   RSS_RUNS=N       samples per command for peak RSS (default 5)
#   SCALE_N=N        containers for the state/list scaling case (default 1000; 0 skips it)
#   SCALE_RUNTIMES   runtimes in the scaling case (default "hako crun": 1000 runc inits
#                    would hold ~10 GB)
#   CONC_N=N CONC_P=P  concurrent creates: N containers, P at a time (default 100, 10)
#   PODMAN=0         skip the Podman smoke test
#   LOAD_MAX=L LOAD_WAIT=S  before each timed section, wait up to S seconds (polling every
#                    30 s) for the 1-minute load average to fall to L (default 1.0, 0 s =
#                    do not wait); the load is recorded either way
#   STATE_DIR=dir    where the runtimes' --root dirs go (default /dev/shm: tmpfs, like /run)
#   RESULTS=dir      where the raw data + summary go (default <repo>/target/bench-results/<ts>)
#
# Cases (container process is /bin/true in a busybox bundle unless said otherwise):
#   lifecycle         create + start + poll `state` until stopped + delete
#   run               `run` (foreground, auto-delete; delete -f only if state is left behind)
#   lifecycle-limits  as lifecycle, with memory.limit=64MiB and pids.limit=100
#   run-limits        as run, with the same limits
#   exec              `exec ID /bin/true` into a running container (busybox `sleep`)
#   rss               peak RSS (GNU time's %M = ru_maxrss from wait4) of each runtime command:
#                     create, start, state, delete, run, exec. wait4 counts the measured
#                     process and the children it waited for: for `run` and `exec` that
#                     includes the container process it waits for (busybox true, ~1 MiB;
#                     for hako/crun the init is a clone of the runtime until it execs). The
#                     runtime process itself is what dominates in every case. python3's
#                     getrusage cannot be used: a child's ru_maxrss keeps the high-water
#                     mark of the python parent it was forked from (14 MiB for /bin/true).
#   syscalls          strace -f -c of one create, start, state (after it stopped) and delete,
#                     summed: every process of the runtime, the container init and /bin/true
#   scale             `state` of one container and `list`, with 1 and with SCALE_N created
#                     containers (busybox `sleep`, made with `create`, so never started)
#   concurrent        CONC_N creates, CONC_P at a time (xargs -P); containers/second; then
#                     all are deleted (not timed)
#   podman            `podman run --rm --memory 512k` of /bin/true with hako as the runtime
#                     (private storage and config as in integration/engines.sh); runc is
#                     tried too, for comparison only
#
# Fairness notes:
#   * crun 1.8 refuses this host's hybrid cgroup layout ("cgroups in hybrid mode not
#     supported") because /sys/fs/cgroup/unified/cgroup.controllers is non-empty. We
#     run crun inside a private mount namespace (held open by a `sleep` process) in
#     which an empty file is bind-mounted over that one file; the host's mounts are
#     never changed. Entering that namespace costs one `nsenter` exec per iteration,
#     so every runtime is launched through `nsenter --mount=...` (runc/hako into the
#     host's own mount namespace) and all pay the same overhead. RSS and syscall counts
#     are taken inside nsenter too (of the runtime's processes only).
#   * Each runtime has its own --root and its own bundles whose absolute cgroupsPath
#     lives under /hako-bench/<runtime>[-case]; everything is removed on exit.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
RSS_RUNS=${RSS_RUNS:-5}
SCALE_N=${SCALE_N:-1000}
SCALE_RUNTIMES=${SCALE_RUNTIMES:-hako crun}
CONC_N=${CONC_N:-100}
CONC_P=${CONC_P:-10}
PODMAN=${PODMAN:-1}
LOAD_MAX=${LOAD_MAX:-1.0}
LOAD_WAIT=${LOAD_WAIT:-0}
HAKO=${HAKO:-$repo/target/x86_64-unknown-linux-gnu/release/hako}
RESULTS=${RESULTS:-$repo/target/bench-results/$(date +%Y%m%d-%H%M%S)}
CG_ROOT=/hako-bench
TIME_BIN=/usr/bin/time

if [ "$(id -u)" -ne 0 ]; then
    echo "bench.sh: must run as root (containers with cgroups)" >&2
    exit 1
fi
for tool in hyperfine python3 nsenter unshare strace xargs; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool missing; run integration/setup.sh" >&2; exit 1; }
done
if ! "$TIME_BIN" -f %M true >/dev/null 2>&1; then
    echo "bench.sh: GNU time ($TIME_BIN) missing: RSS will not be measured (apt-get install time)" >&2
    TIME_BIN=
fi

# ---- runtimes to compare (name -> binary); missing ones are skipped, not fatal ----
declare -A BIN=()
[ -x "$HAKO" ] && BIN[hako]=$(realpath "$HAKO") \
    || echo "bench.sh: SKIPPING hako: binary '$HAKO' not found (cargo build --release, or set HAKO=...)" >&2
for rt in runc crun; do
    if p=$(command -v "$rt"); then BIN[$rt]=$p; else echo "bench.sh: SKIPPING $rt: not installed (run integration/setup.sh)" >&2; fi
done

work=$(mktemp -d /tmp/hako-bench.XXXXXX)
# State roots (--root) on tmpfs, as on hosts where /run is one (engines keep them there:
# /run/containerd/runc, /run/crun...). This VM's /run is on the ext4 root, mounted with
# `discard`: there every removed state directory costs all runtimes a synchronous discard and
# inode allocation scans, which is the disk, not the runtime. STATE_DIR=dir overrides.
state_root=$(mktemp -d "${STATE_DIR:-/dev/shm}/hako-bench-state.XXXXXX")
holder_pid=
pm_dir=

cleanup() {
    local rc=$?
    set +e
    if [ -n "$pm_dir" ]; then
        pm rm --all --force --time 0 >/dev/null 2>&1
        awk -v p="$pm_dir" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | tac |
            while read -r mp; do umount "$mp" 2>/dev/null || umount -l "$mp"; done
    fi
    # Remove any containers left by an aborted run (state dirs live in our --root).
    local rt root
    for rt in "${!BIN[@]}"; do
        for root in "$state_root/root-$rt" "$state_root/root-scale-$rt" "$state_root/root-conc-$rt"; do
            [ -d "$root" ] || continue
            launch "$rt" "${BIN[$rt]}" --root "$root" list -q 2>/dev/null |
                xargs -r -P 4 -I{} nsenter --mount="$(mntns_of "$rt")" -- "${BIN[$rt]}" --root "$root" delete -f {} >/dev/null 2>&1
        done
    done
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null && wait "$holder_pid" 2>/dev/null
    "$repo/integration/rm-cgroups.sh" "$CG_ROOT" || echo "bench.sh: WARNING: cgroups left under $CG_ROOT" >&2
    rm -rf "$work" "$state_root"
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

mntns_of() { if [ "$1" = crun ]; then echo "$crun_mntns"; else echo "$host_mntns"; fi; }
# launch RT CMD...: run CMD in the mount namespace RT needs (see fairness notes).
launch() {
    local rt=$1; shift
    nsenter --mount="$(mntns_of "$rt")" -- "$@"
}
launch_prefix() {  # same, as a command-line prefix string for hyperfine
    echo "nsenter --mount=$(mntns_of "$1") --"
}
# rtc RT ARGS...: the runtime RT with its own --root, in its mount namespace.
rtc() {
    local rt=$1; shift
    launch "$rt" "${BIN[$rt]}" --root "$state_root/root-$rt" "$@"
}

load1() { cut -d' ' -f1 /proc/loadavg; }
# note_load SECTION: wait (LOAD_WAIT) for a quiet machine, then record the load.
note_load() {
    local waited=0
    while [ "$waited" -lt "$LOAD_WAIT" ] && python3 -c "import sys; sys.exit(0 if $(load1) > $LOAD_MAX else 1)"; do
        echo "bench.sh: load $(load1) > $LOAD_MAX before '$1'; waiting (${waited}s of ${LOAD_WAIT}s)" >&2
        sleep 30
        waited=$((waited + 30))
    done
    printf '%s\t%s\n' "$1" "$(load1)" >> "$RESULTS/load.tsv"
}

# wait_status RT ID STATUS: poll (untimed) until the container reaches STATUS.
wait_status() {
    local n=0
    local out
    while out=$(rtc "$1" state "$2" 2>/dev/null) || true
        ! grep -Eq "\"status\": *\"$3\"" <<<"$out"; do
        n=$((n + 1))
        [ "$n" -lt 2000 ] || { echo "bench.sh: $1 container $2 never reached $3" >&2; return 1; }
        sleep 0.005
    done
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
# set_config FILE KEY=JSON...: python3 edits of a config.json (no jq dependency).
set_config() {
    python3 - "$@" <<'PY'
import json, sys
p = sys.argv[1]
spec = json.load(open(p))
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    v = json.loads(v)
    if k == "limits":
        res = spec["linux"].setdefault("resources", {})
        res["memory"] = {"limit": 64 * 1024 * 1024}
        res["pids"] = {"limit": 100}
    elif k == "args":
        spec["process"]["args"] = v
    elif k == "root":
        spec["root"]["path"] = v
    elif k == "cgroupsPath":
        spec["linux"]["cgroupsPath"] = v
json.dump(spec, open(p, "w"), indent="\t")
PY
}
# clone_bundles SRC_BUNDLE DIR N CGPREFIX: N configs DIR/cI/config.json sharing SRC's rootfs,
# each with its own cgroupsPath CGPREFIX/cI.
clone_bundles() {
    python3 - "$@" <<'PY'
import json, os, sys
src, out, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
spec = json.load(open(os.path.join(src, "config.json")))
spec["root"]["path"] = os.path.join(os.path.abspath(src), spec["root"]["path"])
for i in range(n):
    d = os.path.join(out, f"c{i}")
    os.makedirs(d, exist_ok=True)
    spec["linux"]["cgroupsPath"] = f"{prefix}/c{i}"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(spec, f)
PY
}

for rt in "${!BIN[@]}"; do
    mkdir -p "$state_root/root-$rt"
    CGROUPS_PATH=$CG_ROOT/$rt "$repo/integration/make-bundle.sh" "$work/bundle-$rt" /bin/true >/dev/null
    for v in limits exec; do
        mkdir -p "$work/bundle-$rt-$v"
        cp "$work/bundle-$rt/config.json" "$work/bundle-$rt-$v/"
        # The rootfs is shared: an absolute root.path (runc refuses a symlinked rootfs).
        set_config "$work/bundle-$rt-$v/config.json" "cgroupsPath=\"$CG_ROOT/$rt-$v\"" \
            "root=\"$work/bundle-$rt/rootfs\""
    done
    set_config "$work/bundle-$rt-limits/config.json" "limits=1"
    set_config "$work/bundle-$rt-exec/config.json" 'args=["sleep", "1000000"]'
done

# ---- sanity pass: one untimed iteration per runtime/case; drop runtimes that fail ----
cases=(lifecycle run lifecycle-limits run-limits)
case_mode() { case $1 in run*) echo run ;; *) echo lifecycle ;; esac; }
case_bundle() { case $1 in *-limits) echo "$work/bundle-$2-limits" ;; *) echo "$work/bundle-$2" ;; esac; }

for rt in runc crun hako; do
    [ -n "${BIN[$rt]:-}" ] || continue
    for c in "${cases[@]}"; do
        if ! launch "$rt" "$work/seq.sh" "$(case_mode "$c")" "${BIN[$rt]}" "$state_root/root-$rt" \
                "$(case_bundle "$c" "$rt")" sanity >"$work/sanity.log" 2>&1; then
            echo "bench.sh: SKIPPING $rt: case '$c' failed its sanity run:" >&2
            sed 's/^/    /' "$work/sanity.log" >&2
            rtc "$rt" delete -f sanity >/dev/null 2>&1 || true
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
    echo "load at start: $(cat /proc/loadavg)"
    echo "runs: $RUNS warmup: $WARMUP rss_runs: $RSS_RUNS scale_n: $SCALE_N conc: $CONC_N/$CONC_P"
    for rt in "${order[@]}"; do echo "--- $rt (${BIN[$rt]})"; "${BIN[$rt]}" --version 2>&1 | head -3; done
} > "$RESULTS/environment.txt"
: > "$RESULTS/load.tsv"

# ---- exec: one long-running container per runtime ----
exec_ok=()
for rt in "${order[@]}"; do
    if rtc "$rt" create -b "$work/bundle-$rt-exec" bx >"$work/exec.log" 2>&1 &&
            rtc "$rt" start bx >>"$work/exec.log" 2>&1 &&
            rtc "$rt" exec bx /bin/true >>"$work/exec.log" 2>&1; then
        exec_ok+=("$rt")
    else
        echo "bench.sh: $rt: exec case skipped, its sanity run failed:" >&2
        sed 's/^/    /' "$work/exec.log" >&2
        rtc "$rt" delete -f bx >/dev/null 2>&1 || true
    fi
done

# ---- timed cases: one hyperfine invocation per case, all runtimes side by side ----
for c in "${cases[@]}" exec; do
    echo
    echo "=== case: $c ==="
    args=()
    if [ "$c" = exec ]; then
        [ "${#exec_ok[@]}" -gt 0 ] || continue
        for rt in "${exec_ok[@]}"; do
            args+=(-n "$rt" "$(launch_prefix "$rt") ${BIN[$rt]} --root $state_root/root-$rt exec bx /bin/true")
        done
    else
        for rt in "${order[@]}"; do
            args+=(-n "$rt" "$(launch_prefix "$rt") $work/seq.sh $(case_mode "$c") ${BIN[$rt]} $state_root/root-$rt $(case_bundle "$c" "$rt") b-$c")
        done
    fi
    note_load "$c"
    hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$RESULTS/$c.json" "${args[@]}"
done

# ---- peak RSS per runtime command (GNU time %M, KiB) ----
if [ -n "$TIME_BIN" ]; then
    echo
    echo "=== rss: $RSS_RUNS samples per command ==="
    : > "$RESULTS/rss.tsv"
    rss() {  # rss RT CMD ARGS...: one sample, appended to rss.tsv
        local rt=$1 cmd=$2; shift 2
        launch "$rt" "$TIME_BIN" -f %M -o "$work/rss.out" "${BIN[$rt]}" --root "$state_root/root-$rt" "$cmd" "$@" >/dev/null 2>&1 || true
        printf '%s\t%s\t%s\n' "$rt" "$cmd" "$(tail -1 "$work/rss.out")" >> "$RESULTS/rss.tsv"
    }
    for rt in "${order[@]}"; do
        for _ in $(seq "$RSS_RUNS"); do
            rss "$rt" create -b "$work/bundle-$rt" rs
            rss "$rt" start rs
            wait_status "$rt" rs stopped
            rss "$rt" state rs
            rss "$rt" delete rs
            rss "$rt" run -b "$work/bundle-$rt" rs
            if [[ " ${exec_ok[*]} " == *" $rt "* ]]; then rss "$rt" exec bx /bin/true; fi
        done
    done
fi

# ---- syscalls per lifecycle: strace -f -c of create, start, state, delete ----
echo
echo "=== syscalls per lifecycle (strace -f -c) ==="
: > "$RESULTS/syscalls.tsv"
for rt in "${order[@]}"; do
    st() {  # st NAME ARGS...: strace one runtime command
        local name=$1; shift
        launch "$rt" strace -f -c -o "$RESULTS/strace-$rt-$name.txt" "${BIN[$rt]}" --root "$state_root/root-$rt" "$@"
    }
    # create's init lives on (traced) until start lets it exec /bin/true and it exits.
    st create create -b "$work/bundle-$rt" sc >/dev/null &
    strace_create=$!
    wait_status "$rt" sc created
    st start start sc >/dev/null
    wait "$strace_create"
    st state state sc >/dev/null
    st delete delete sc >/dev/null
    for n in create start state delete; do
        calls=$(awk '$NF == "total" { print $4 }' "$RESULTS/strace-$rt-$n.txt")
        printf '%s\t%s\t%s\n' "$rt" "$n" "$calls" >> "$RESULTS/syscalls.tsv"
    done
done
awk -F'\t' '{ s[$1] += $3 } END { for (r in s) printf "  %s: %d syscalls\n", r, s[r] }' "$RESULTS/syscalls.tsv"

# ---- state/list scaling: 1 vs SCALE_N created containers ----
if [ "$SCALE_N" -gt 0 ]; then
    for rt in $SCALE_RUNTIMES; do
        [ -n "${BIN[$rt]:-}" ] || continue
        echo
        echo "=== scale: $rt, state and list with 1 and $SCALE_N containers ==="
        root=$state_root/root-scale-$rt
        mkdir -p "$root"
        clone_bundles "$work/bundle-$rt-exec" "$work/scale-$rt" "$SCALE_N" "$CG_ROOT/scale-$rt"
        sc_cmd() { echo "$(launch_prefix "$rt") ${BIN[$rt]} --root $root $*"; }
        launch "$rt" "${BIN[$rt]}" --root "$root" create -b "$work/scale-$rt/c0" c0
        note_load "scale-$rt-1"
        hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$RESULTS/scale-$rt-1.json" \
            -n state "$(sc_cmd state c0)" -n list "$(sc_cmd list)"
        t0=$(date +%s.%N)
        seq 1 $((SCALE_N - 1)) | xargs -P 4 -I{} nsenter --mount="$(mntns_of "$rt")" -- \
            "${BIN[$rt]}" --root "$root" create -b "$work/scale-$rt/c{}" c{} || true
        t1=$(date +%s.%N)
        made=$(launch "$rt" "${BIN[$rt]}" --root "$root" list -q | wc -l)
        echo "  $made containers ($(python3 -c "print(f'{$t1 - $t0:.1f}')") s to create $((SCALE_N - 1)), 4 at a time)"
        note_load "scale-$rt-$SCALE_N"
        hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$RESULTS/scale-$rt-N.json" \
            -n state "$(sc_cmd state c0)" -n list "$(sc_cmd list)"
        printf '%s\t%s\n' "$rt" "$made" >> "$RESULTS/scale.tsv"
        launch "$rt" "${BIN[$rt]}" --root "$root" list -q |
            xargs -r -P 4 -I{} nsenter --mount="$(mntns_of "$rt")" -- "${BIN[$rt]}" --root "$root" delete -f {} || true
        rm -rf "$work/scale-$rt"
    done
fi

# ---- concurrent creates: CONC_N containers, CONC_P at a time ----
echo
echo "=== concurrent: $CONC_N creates, $CONC_P at a time ==="
: > "$RESULTS/concurrent.tsv"
for rt in "${order[@]}"; do
    root=$state_root/root-conc-$rt
    mkdir -p "$root"
    clone_bundles "$work/bundle-$rt-exec" "$work/conc-$rt" "$CONC_N" "$CG_ROOT/conc-$rt"
    note_load "concurrent-$rt"
    t0=$(date +%s.%N)
    seq 0 $((CONC_N - 1)) | xargs -P "$CONC_P" -I{} nsenter --mount="$(mntns_of "$rt")" -- \
        "${BIN[$rt]}" --root "$root" create -b "$work/conc-$rt/c{}" c{} 2>"$work/conc-$rt.err" || true
    t1=$(date +%s.%N)
    ok=0
    for i in $(seq 0 $((CONC_N - 1))); do
        # Not `state | grep -q`: grep may exit before the runtime's last write (EPIPE).
        out=$(launch "$rt" "${BIN[$rt]}" --root "$root" state "c$i" 2>/dev/null) || true
        grep -Eq '"status": *"created"' <<<"$out" && ok=$((ok + 1))
    done
    secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
    printf '%s\t%s\t%s\t%s\n' "$rt" "$CONC_N" "$ok" "$secs" >> "$RESULTS/concurrent.tsv"
    echo "  $rt: $ok/$CONC_N created in $secs s"
    [ -s "$work/conc-$rt.err" ] && head -3 "$work/conc-$rt.err" | sed 's/^/    /'
    launch "$rt" "${BIN[$rt]}" --root "$root" list -q |
        xargs -r -P 4 -I{} nsenter --mount="$(mntns_of "$rt")" -- "${BIN[$rt]}" --root "$root" delete -f {} || true
    rm -rf "$work/conc-$rt"
done

# ---- Podman: run --memory 512k with hako (and runc, for comparison) ----
: > "$RESULTS/podman.tsv"
if [ "$PODMAN" = 0 ]; then
    echo "bench.sh: podman smoke test skipped (PODMAN=0)" >&2
    printf 'hako\tskipped\tPODMAN=0\n' >> "$RESULTS/podman.tsv"
elif ! command -v podman >/dev/null || ! command -v conmon >/dev/null; then
    echo "bench.sh: podman smoke test skipped: podman or conmon is not installed" >&2
    printf 'hako\tskipped\tpodman not installed\n' >> "$RESULTS/podman.tsv"
elif [ -z "${BIN[hako]:-}" ]; then
    printf 'hako\tskipped\tno hako binary\n' >> "$RESULTS/podman.tsv"
else
    echo
    echo "=== podman run --memory 512k ==="
    # The same private setup as integration/engines.sh: storage, run root, tmp dir, events
    # log and containers.conf of our own; no network; containers in our own cgroup parent.
    pm_dir=$work/podman
    mkdir -p "$pm_dir"/{tmp,net,rootfs/bin,rootfs/etc,rootfs/proc,rootfs/sys,rootfs/dev,rootfs/tmp}
    cp -a "$work/bundle-hako/rootfs/bin/." "$pm_dir/rootfs/bin/"
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$pm_dir/rootfs/etc/passwd"
    tar -C "$pm_dir/rootfs" -cf "$pm_dir/rootfs.tar" .
    cat > "$pm_dir/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$pm_dir/events.log"
tmp_dir = "$pm_dir/tmp"
runtime = "hako"
runtime_supports_json = ["hako", "runc"]

[engine.runtimes]
hako = ["${BIN[hako]}"]
runc = ["${BIN[runc]:-/usr/sbin/runc}"]

[network]
network_config_dir = "$pm_dir/net"
EOF
    pm() {
        CONTAINERS_CONF=$pm_dir/containers.conf podman --root "$pm_dir/storage" \
            --runroot "$pm_dir/run" --storage-driver overlay "$@"
    }
    pm import --quiet "$pm_dir/rootfs.tar" localhost/hako-bench:latest >/dev/null
    for rt in hako runc; do
        [ -n "${BIN[$rt]:-}" ] || continue
        set +e
        out=$(pm run --runtime "$rt" --rm --network none --cgroup-parent "$CG_ROOT/podman-$rt" \
            --memory 512k localhost/hako-bench:latest \
            cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>&1)
        code=$?
        set -e
        if [ "$code" -eq 0 ] || grep -qx 524288 <<<"$out"; then
            printf '%s\tok\tlimit seen in the container: 524288\n' "$rt" >> "$RESULTS/podman.tsv"
        else
            printf '%s\tfailed\texit %s: %s\n' "$rt" "$code" "$(tr '\n' ' ' <<<"$out" | cut -c1-200)" >> "$RESULTS/podman.tsv"
        fi
        echo "  $rt: $(tail -1 "$RESULTS/podman.tsv" | cut -f2-)"
    done
fi
printf 'end\t%s\n' "$(load1)" >> "$RESULTS/load.tsv"

# ---- summary table ----
python3 - "$RESULTS" "$SCALE_N" "$CONC_P" <<'PY' | tee "$RESULTS/summary.txt"
import json, os, statistics, sys
results, scale_n, conc_p = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rts = ["hako", "runc", "crun"]

def load_json(name):
    p = os.path.join(results, name)
    if not os.path.exists(p):
        return {}
    return {r["command"]: r for r in json.load(open(p))["results"]}

def q(times, f):
    s = sorted(times)
    return s[min(len(s) - 1, int(f * len(s)))]

def tsv(name):
    p = os.path.join(results, name)
    return [l.rstrip("\n").split("\t") for l in open(p)] if os.path.exists(p) else []

rows = []  # (metric, {rt: text}, hako/crun, hako/runc, target, verdict)
def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b
def rfmt(r):
    return "-" if r is None else f"{r:.2f}x"

for case in ["lifecycle", "run", "lifecycle-limits", "run-limits", "exec"]:
    data = load_json(case + ".json")
    if not data:
        continue
    med = {rt: data[rt]["median"] * 1000 for rt in rts if rt in data}
    cell = {rt: f"{med[rt]:.1f} [{q(data[rt]['times'], .25)*1000:.1f}-{q(data[rt]['times'], .75)*1000:.1f}]"
            for rt in med}
    rc = ratio(med.get("hako"), med.get("crun"))
    verdict = "-" if rc is None else ("met" if rc <= 0.8 else f"MISSED ({rc/0.8:.2f}x the target)")
    rows.append((f"{case} ms (median [p25-p75])", cell, rc, ratio(med.get("hako"), med.get("runc")),
                 "<= 0.80x crun", verdict))

rss = {}
for rt, cmd, kib in tsv("rss.tsv"):
    if kib.isdigit():
        rss.setdefault(rt, {}).setdefault(cmd, []).append(int(kib))
if rss:
    peak = {}
    for rt, cmds in rss.items():
        cmd, v = max(((c, statistics.median(v)) for c, v in cmds.items()), key=lambda x: x[1])
        peak[rt] = (v / 1024, cmd)
    cell = {rt: f"{v:.2f} ({cmd})" for rt, (v, cmd) in peak.items()}
    h = peak.get("hako", (None,))[0]
    rows.append(("peak RSS MiB (worst command)", cell, ratio(h, peak.get("crun", (None,))[0]),
                 ratio(h, peak.get("runc", (None,))[0]), "<= 2.00 MiB",
                 "-" if h is None else ("met" if h <= 2.0 else f"MISSED by {h - 2.0:.2f} MiB")))

sc = {}
for rt, _, calls in tsv("syscalls.tsv"):
    if calls.isdigit():
        sc[rt] = sc.get(rt, 0) + int(calls)
if sc:
    h = sc.get("hako")
    rows.append(("syscalls per lifecycle (strace -f -c)", {rt: str(v) for rt, v in sc.items()},
                 ratio(h, sc.get("crun")), ratio(h, sc.get("runc")), "<= 1000",
                 "-" if h is None else ("met" if h <= 1000 else f"MISSED by {h - 1000}")))

made = {rt: n for rt, n in tsv("scale.tsv")}
if made:
    one = {rt: load_json(f"scale-{rt}-1.json") for rt in made}
    many = {rt: load_json(f"scale-{rt}-N.json") for rt in made}
    for what in ["state", "list"]:
        for label, d in [("1", one), (str(scale_n), many)]:
            cell = {rt: f"{d[rt][what]['median']*1000:.2f}" for rt in d if what in d[rt]}
            rows.append((f"{what} ms, {label} container(s)", cell, None, None, "report", "-"))
        g = {rt: many[rt][what]["median"] / one[rt][what]["median"] for rt in made
             if what in one[rt] and what in many[rt]}
        h = g.get("hako")
        rows.append((f"{what} cost {scale_n} vs 1 ({'/'.join(made[rt] for rt in made)} made)",
                     {rt: f"{v:.2f}x" for rt, v in g.items()}, None, None,
                     "<= 1.20x" if what == "state" else "report",
                     "-" if h is None or what == "list" else ("met" if h <= 1.2 else f"MISSED ({h:.2f}x)")))

conc = tsv("concurrent.tsv")
if conc:
    rate = {rt: int(ok) / float(s) for rt, n, ok, s in conc}
    cell = {rt: f"{int(ok)}/{n} ok, {int(ok)/float(s):.1f}/s" for rt, n, ok, s in conc}
    allok = all(ok == n for rt, n, ok, s in conc if rt == "hako")
    h = rate.get("hako")
    rows.append((f"concurrent creates ({conc_p} at a time)", cell, ratio(h, rate.get("crun")),
                 ratio(h, rate.get("runc")), "all succeed; rate vs crun",
                 "-" if h is None else ("met" if allok else "MISSED (failures)")))

pm = {rt: (st, det) for rt, st, det in tsv("podman.tsv")}
if pm:
    st = pm.get("hako", ("-", ""))[0]
    rows.append(("podman run --memory 512k", {rt: v[0] for rt, v in pm.items()}, None, None,
                 "works with hako", {"ok": "met", "skipped": "skipped"}.get(st, "MISSED")))

head = ["metric", "hako", "runc", "crun", "hako/crun", "hako/runc", "target", "verdict"]
table = [[m] + [c.get(rt, "-") for rt in rts] + [rfmt(a), rfmt(b), t, v] for m, c, a, b, t, v in rows]
w = [max(len(str(x)) for x in col) for col in zip(head, *table)]
line = lambda cells: "  ".join(str(x).ljust(w[i]) if i in (0, 6, 7) else str(x).rjust(w[i]) for i, x in enumerate(cells))
loads = tsv("load.tsv")
print()
print("load average (1 min) per section: " + ", ".join(f"{s}={l}" for s, l in loads))
print(line(head))
print(line(["-" * n for n in w]))
for r in table:
    print(line(r))
PY
echo
echo "bench.sh: results in $RESULTS"
