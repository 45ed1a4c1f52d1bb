#!/usr/bin/env bash
# End to end: containerd (ctr + the io.containerd.runc.v2 shim) and Podman (conmon) drive hako
# as their OCI runtime, and every scenario checks what a user of the engine sees.
#
#   integration/engines.sh                # hako (target/x86_64-unknown-linux-gnu/release/hako, or $HAKO)
#   RUNTIME=runc integration/engines.sh   # the same scenarios on runc, to show they test something
#
# Needs root, containerd, podman, conmon, python3 (ptys), gcc + libc6-dev (a static
# sd_notify helper for the busybox image) and busybox-static: integration/setup.sh installs them.
# Everything lives under one temp dir: containerd gets a private root, state and socket and is
# stopped by pid; Podman gets a private storage, run root, config and events log. No network:
# the busybox image is built from a rootfs tar (`podman import`) and handed to containerd with
# `podman save` + `ctr images import`. Containers are put in cgroups this script owns
# (/hako-e2e-<pid> for containerd's namespace, /hako-e2e-podman-<pid> as Podman's parent);
# the exit trap removes containers, daemons, mounts, cgroups and the temp dir.
# Prints one "ok"/"not ok" line per check, then "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNTIME=${RUNTIME:-hako}
case $RUNTIME in
    hako) RT_BIN=${HAKO:-$repo/target/x86_64-unknown-linux-gnu/release/hako} ;;
    runc) RT_BIN=$(command -v runc || true) ;;
    *) echo "engines.sh: RUNTIME must be hako or runc" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "engines.sh: must run as root" >&2
    exit 1
fi
if [ -z "$RT_BIN" ] || [ ! -x "$RT_BIN" ]; then
    echo "engines.sh: runtime binary for $RUNTIME not found ($RT_BIN)" >&2
    exit 1
fi
for tool in containerd ctr containerd-shim-runc-v2 podman conmon gcc python3 busybox; do
    command -v "$tool" >/dev/null || { echo "engines.sh: $tool missing (integration/setup.sh)" >&2; exit 1; }
done

T=$(mktemp -d /tmp/hako-e2e.XXXXXX)
NS=hako-e2e-$$
PODMAN_CG=/hako-e2e-podman-$$
IMG=localhost/hako-e2e-busybox:latest
CTRD_PID=
LISTENER_PID=
# Default locations the engines and runtimes create on first use; removed at the end if this
# run created them (and they hold nothing but empty dirs and hako's seccomp cache).
DEFAULT_DIRS=(/run/containerd /run/containers /run/hako /run/runc)
created_dirs=()
for d in "${DEFAULT_DIRS[@]}"; do [ -e "$d" ] || created_dirs+=("$d"); done
passed=0
failed=0
started=$(date +%s)

log() { printf '# %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf 'ok - [%s] %s\n' "$RUNTIME" "$1"; }
not_ok() {
    failed=$((failed + 1))
    printf 'not ok - [%s] %s\n' "$RUNTIME" "$1"
    shift
    for l in "$@"; do printf '    %s\n' "$l"; done
}
# check NAME EXPECTED ACTUAL: equality.
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "got:      $3"; fi
}
# check_lacks NAME NEEDLE HAYSTACK: no such substring.
check_lacks() {
    case $3 in
        *"$2"*) not_ok "$1" "expected not to contain: $2" "got: $(printf '%s' "$3" | head -c 2000)" ;;
        *) ok "$1" ;;
    esac
}
# check_has NAME NEEDLE HAYSTACK: substring.
check_has() {
    case $3 in
        *"$2"*) ok "$1" ;;
        *) not_ok "$1" "expected to contain: $2" "got: $(printf '%s' "$3" | head -c 2000)" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Cleanup: everything this run made, and only that.

cgroup_roots() {
    awk '$0 ~ / - cgroup2? / { print $5 }' /proc/self/mountinfo
}

remove_cgroup_tree() { # $1 = absolute cgroup path we own
    local m d
    for m in $(cgroup_roots); do
        d=$m$1
        [ -d "$d" ] || continue
        # Deepest first; a cgroup with tasks cannot go, so kill what is left in it first.
        find "$d" -depth -type d | while read -r sub; do
            if [ -f "$sub/cgroup.procs" ]; then
                while read -r p; do kill -9 "$p" 2>/dev/null; done <"$sub/cgroup.procs"
            fi
            rmdir "$sub" 2>/dev/null || { sleep 0.2; rmdir "$sub" 2>/dev/null; }
        done
    done
}

umount_under() { # every mount below $1, deepest (latest) first
    local mp
    awk -v p="$1" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | tac | while read -r mp; do
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null
    done
}

cleanup() {
    set +e
    trap - EXIT INT TERM
    if [ -n "${PODMAN_READY:-}" ]; then
        pm rm --all --force --time 0 >/dev/null 2>&1
    fi
    if [ -n "$CTRD_PID" ]; then
        local c
        for c in $(c containers ls -q 2>/dev/null); do
            c tasks kill -s SIGKILL "$c" >/dev/null 2>&1
            c tasks delete -f "$c" >/dev/null 2>&1
            c containers delete "$c" >/dev/null 2>&1
        done
        kill "$CTRD_PID" 2>/dev/null
        wait "$CTRD_PID" 2>/dev/null
    fi
    if [ -n "$LISTENER_PID" ]; then
        kill "$LISTENER_PID" 2>/dev/null
        wait "$LISTENER_PID" 2>/dev/null
    fi
    # Shims (and conmons) of this run outlive their daemons only if something went wrong.
    local p
    for p in $(pgrep -f "$T" 2>/dev/null); do
        [ "$p" != $$ ] && kill -9 "$p" 2>/dev/null
    done
    umount_under "$T"
    for d in "${created_dirs[@]}"; do
        [ -d "$d" ] || continue
        [ "$d" = /run/hako ] && rm -rf /run/hako/@cache
        find "$d" -depth -type d -empty -delete 2>/dev/null
    done
    remove_cgroup_tree "/$NS"
    remove_cgroup_tree "$PODMAN_CG"
    rm -rf "$T"
    # Prove it: nothing of this run may remain (a leak fails the suite).
    local left=""
    grep -q "$T" /proc/self/mountinfo && left+=" mounts under $T;"
    for m in $(cgroup_roots); do
        [ -d "$m/$NS" ] && left+=" cgroup $m/$NS;"
        [ -d "$m$PODMAN_CG" ] && left+=" cgroup $m$PODMAN_CG;"
    done
    pgrep -f "$T" >/dev/null && left+=" processes of $T;"
    [ -e "$T" ] && left+=" $T;"
    if [ -n "$left" ]; then
        echo "engines.sh: left behind:$left" >&2
        exit 1
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# The image: busybox-static + a static sd_notify helper, as a rootfs tar.

log "runtime $RUNTIME: $RT_BIN ($("$RT_BIN" --version | head -1))"
rootfs=$T/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root,run,var}
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for a in $("$rootfs/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"
done
gcc -static -O2 -o "$rootfs/bin/sd-notify" "$repo/tests/helpers/sd_notify.c" || exit 1
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
tar -C "$rootfs" -cf "$T/rootfs.tar" .

# ---------------------------------------------------------------------------------------------
# Podman, private: storage, run root, tmp dir, events log, config; hako registered by name.

mkdir -p "$T/podman"/{tmp,net}
cat >"$T/podman/containers.conf" <<EOF
[containers]
# The host's hard RLIMIT_NOFILE is low and nothing here has CAP_SYS_RESOURCE: never ask more.
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/podman/events.log"
tmp_dir = "$T/podman/tmp"
runtime = "$RUNTIME"
runtime_supports_json = ["hako", "runc"]

[engine.runtimes]
$RUNTIME = ["$RT_BIN"]

[network]
network_config_dir = "$T/podman/net"
EOF
export CONTAINERS_CONF=$T/podman/containers.conf
pm() {
    podman --root "$T/podman/storage" --runroot "$T/podman/run" --storage-driver overlay "$@"
}
PODMAN_READY=1
# Every container in our own cgroup parent, on a private network-less setup.
PRUN=(--network none --cgroup-parent "$PODMAN_CG")

log "building the busybox image"
pm import --quiet "$T/rootfs.tar" "$IMG" >/dev/null || { not_ok "podman import"; exit 1; }
pm save --quiet --format docker-archive -o "$T/busybox.tar" "$IMG" || { not_ok "podman save"; exit 1; }

# ---------------------------------------------------------------------------------------------
# containerd, private: root, state, sockets; the runtime under its own --root.

mkdir -p "$T/containerd"
cat >"$T/containerd/config.toml" <<EOF
version = 2
root = "$T/containerd/root"
state = "$T/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$T/containerd/containerd.sock"
[ttrpc]
  address = "$T/containerd/containerd.sock.ttrpc"
[debug]
  address = "$T/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/containerd/opt"
EOF
containerd --config "$T/containerd/config.toml" >"$T/containerd/log" 2>&1 &
CTRD_PID=$!
c() { # c ARGS...: ctr against our daemon and namespace
    ctr --address "$T/containerd/containerd.sock" --namespace "$NS" "$@"
}
for _ in $(seq 100); do
    c version >/dev/null 2>&1 && break
    sleep 0.1
done
c version >/dev/null 2>&1 || { not_ok "containerd starts" "$(tail -5 "$T/containerd/log")"; exit 1; }
c images import --no-unpack=false "$T/busybox.tar" >/dev/null 2>&1 \
    || c images import "$T/busybox.tar" >/dev/null || { not_ok "ctr images import"; exit 1; }
RRUN=(--runc-binary "$RT_BIN" --runc-root "$T/rt-root")

# In a real pty, the way a user at a terminal would have it. (script(1) from util-linux does the
# same, but with no stdin (CI) it forwards EOF to the pty and races the output: flaky.) The pty
# stays open until the command exits; everything it printed is read to the end.
in_pty() { # in_pty COMMAND-STRING: prints what the terminal showed, CRs stripped
    python3 - "$1" <<'PY' | tr -d '\r'
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", sys.argv[1]])
out = b""
while select.select([fd], [], [], 60)[0]:
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: the last holder of the pty's other end is gone
        break
    if not data:
        break
    out += data
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
PY
}

# =============================================================================================
log "containerd"

out=$(c run --rm "${RRUN[@]}" "$IMG" e2e-rm sh -c 'echo hello from ctr; exit 3' 2>&1)
code=$?
check_eq "ctr run --rm: output" "hello from ctr" "$out"
check_eq "ctr run --rm: exit code" 3 "$code"

c run -d "${RRUN[@]}" "$IMG" e2e-d sh -c 'trap "exit 7" TERM; while :; do sleep 0.1; done' >/dev/null 2>&1
out=$(c tasks exec --exec-id x1 e2e-d sh -c 'echo exec in ctr; exit 4' 2>&1)
code=$?
check_eq "ctr task exec: output" "exec in ctr" "$out"
check_eq "ctr task exec: exit code" 4 "$code"
out=$(c tasks exec --exec-id x3 --user 65534 --cwd /tmp e2e-d sh -c 'echo "$(id -u) $(pwd)"' 2>&1)
check_eq "ctr task exec --user --cwd" "65534 /tmp" "$out"
out=$(in_pty "ctr --address $T/containerd/containerd.sock --namespace $NS tasks exec -t --exec-id x2 e2e-d sh -c 'tty; echo exec tty ok'")
check_has "ctr task exec -t: a pty" "/dev/pts/" "$out"
check_has "ctr task exec -t: output" "exec tty ok" "$out"
out=$(c tasks exec --exec-id x4 e2e-d /no/such/binary 2>&1)
check_has "ctr task exec of a missing binary: the runtime's error reaches the user" \
    '/no/such/binary' "$out"
check_lacks "ctr task exec of a missing binary: the text came from log.json" \
    "unable to retrieve OCI runtime error" "$out"

c tasks pause e2e-d >/dev/null 2>&1
check_eq "ctr task pause: PAUSED" PAUSED "$(c tasks ls | awk '$1 == "e2e-d" { print $3 }')"
c tasks resume e2e-d >/dev/null 2>&1
check_eq "ctr task resume: RUNNING" RUNNING "$(c tasks ls | awk '$1 == "e2e-d" { print $3 }')"
pid=$(c tasks ls | awk '$1 == "e2e-d" { print $2 }')
check_has "ctr task ps: lists the init" "$pid" "$(c tasks ps e2e-d 2>&1)"

c tasks kill e2e-d >/dev/null 2>&1
for _ in $(seq 50); do
    [ "$(c tasks ls | awk '$1 == "e2e-d" { print $3 }')" = STOPPED ] && break
    sleep 0.1
done
check_eq "ctr task kill (SIGTERM): STOPPED" STOPPED "$(c tasks ls | awk '$1 == "e2e-d" { print $3 }')"
c tasks delete e2e-d >/dev/null 2>&1
c containers delete e2e-d >/dev/null 2>&1
check_eq "ctr task delete + container delete: gone" "" "$(c containers ls -q | grep -x e2e-d)"

out=$(in_pty "ctr --address $T/containerd/containerd.sock --namespace $NS run -t --rm ${RRUN[*]} $IMG e2e-tty sh -c 'tty; stty size; echo tty ok'")
check_has "ctr run -t: a pty" "/dev/pts/0" "$out"
check_has "ctr run -t: output" "tty ok" "$out"

c run -d "${RRUN[@]}" --memory-limit 67108864 "$IMG" e2e-mem sleep 300 >/dev/null 2>&1
check_eq "ctr run --memory-limit: the container's memory cgroup" 67108864 \
    "$(cat "/sys/fs/cgroup/memory/$NS/e2e-mem/memory.limit_in_bytes" 2>&1)"
c tasks kill -s SIGKILL e2e-mem >/dev/null 2>&1
c tasks delete -f e2e-mem >/dev/null 2>&1
c containers delete e2e-mem >/dev/null 2>&1

out=$(c run --rm "${RRUN[@]}" --env GREETING=hi --cwd /tmp "$IMG" e2e-env \
    sh -c 'echo "$(pwd) $GREETING"' 2>&1)
check_eq "ctr run --env --cwd" "/tmp hi" "$out"

c run -d "${RRUN[@]}" "$IMG" e2e-all sh -c 'sleep 300 & sleep 300 & wait' >/dev/null 2>&1
sleep 0.3
c tasks kill --all -s SIGKILL e2e-all >/dev/null 2>&1
for _ in $(seq 50); do
    [ "$(c tasks ls | awk '$1 == "e2e-all" { print $3 }')" = STOPPED ] && break
    sleep 0.1
done
check_eq "ctr task kill --all: STOPPED" STOPPED "$(c tasks ls | awk '$1 == "e2e-all" { print $3 }')"
c tasks delete e2e-all >/dev/null 2>&1
c containers delete e2e-all >/dev/null 2>&1

out=$(c run --rm "${RRUN[@]}" "$IMG" e2e-fail /no/such/binary 2>&1)
code=$?
check_eq "ctr run of a missing binary: fails" 1 "$code"
check_has "ctr run of a missing binary: the runtime's error reaches the user" '/no/such/binary' "$out"
check_has "ctr run of a missing binary: says why, in runc's words" \
    'exec: "/no/such/binary": stat /no/such/binary: no such file or directory' "$out"
# The shim reads that text from log.json; without it the user would only see this.
check_lacks "ctr run of a missing binary: the text came from log.json" \
    "unable to retrieve OCI runtime error" "$out"
c containers delete e2e-fail >/dev/null 2>&1

# =============================================================================================
log "podman"

out=$(pm run --rm "${PRUN[@]}" "$IMG" sh -c 'echo hello from podman; exit 5' 2>&1)
code=$?
check_eq "podman run --rm: output" "hello from podman" "$out"
check_eq "podman run --rm: exit code" 5 "$code"

# Podman maps the runtime's error text to the shell's codes: 127 not found, 126 not executable.
out=$(pm run --rm "${PRUN[@]}" "$IMG" /no/such/binary 2>&1)
code=$?
check_eq "podman run of a missing binary: exit code 127" 127 "$code"
check_has "podman run of a missing binary: the runtime's error" "/no/such/binary" "$out"
out=$(pm run --rm "${PRUN[@]}" "$IMG" /etc/passwd 2>&1)
code=$?
check_eq "podman run of a non-executable file: exit code 126" 126 "$code"
check_has "podman run of a non-executable file: permission denied" "permission denied" "$out"
# Podman then runs `delete --force` on a container that never was: that must be quiet.
check_lacks "podman run of a non-executable file: no cleanup noise" "does not exist" "$out"
out=$(pm run --rm "${PRUN[@]}" --user 65534:65534 --workdir /tmp --env GREETING=hi \
    --pids-limit 42 "$IMG" sh -c 'echo "$(id -u):$(id -g) $(pwd) $GREETING $(cat /sys/fs/cgroup/pids/pids.max)"' 2>&1)
check_eq "podman run --user --workdir --env --pids-limit" "65534:65534 /tmp hi 42" "$out"

# --read-only and --tmpfs: tmpfs mounts with runc's tmpcopyup extension.
out=$(pm run --rm "${PRUN[@]}" --read-only --tmpfs /scratch:size=1m "$IMG" \
    sh -c 'touch /x 2>/dev/null || echo ro; touch /tmp/t /scratch/s && echo tmpfs ok' 2>&1)
check_eq "podman run --read-only --tmpfs: read-only root, writable tmpfs" "ro
tmpfs ok" "$out"

pm_cmd="podman --root $T/podman/storage --runroot $T/podman/run --storage-driver overlay"
out=$(in_pty "$pm_cmd run -it --rm ${PRUN[*]} $IMG sh -c 'tty; echo it ok'")
check_has "podman run -it: a pty" "/dev/pts/0" "$out"
check_has "podman run -it: output" "it ok" "$out"

out=$(pm run --rm "${PRUN[@]}" --memory 64m "$IMG" cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1)
check_eq "podman run --memory 64m: limit in the container's cgroup" 67108864 "$out"

cid=$(pm run -d "${PRUN[@]}" "$IMG" sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' 2>&1)
check_eq "podman run -d: running" running "$(pm inspect -f '{{.State.Status}}' "$cid" 2>&1)"
out=$(pm exec "$cid" sh -c 'echo exec in podman; exit 6' 2>&1)
code=$?
check_eq "podman exec: output" "exec in podman" "$out"
check_eq "podman exec: exit code" 6 "$code"
out=$(pm exec --user 65534 --workdir /tmp --env GREETING=hi "$cid" sh -c 'echo "$(id -u) $(pwd) $GREETING"' 2>&1)
check_eq "podman exec --user --workdir --env" "65534 /tmp hi" "$out"
out=$(pm exec "$cid" /no/such/binary 2>&1)
code=$?
check_eq "podman exec of a missing binary: exit code 127" 127 "$code"
check_has "podman exec of a missing binary: the runtime's error" "/no/such/binary" "$out"
out=$(in_pty "$pm_cmd exec -it $cid sh -c 'tty; echo exec it ok'")
check_has "podman exec -it: a pty" "/dev/pts/" "$out"
check_has "podman exec -it: output" "exec it ok" "$out"
check_has "podman top: the container's processes" "sleep" "$(pm top "$cid" 2>&1)"

pm pause "$cid" >/dev/null 2>&1
check_eq "podman pause: paused" paused "$(pm inspect -f '{{.State.Status}}' "$cid" 2>&1)"
pm unpause "$cid" >/dev/null 2>&1
check_eq "podman unpause: running" running "$(pm inspect -f '{{.State.Status}}' "$cid" 2>&1)"

pm update --memory 96m "$cid" >/dev/null 2>&1
check_eq "podman update --memory 96m: visible in the container" 100663296 \
    "$(pm exec "$cid" cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1)"

pm stop -t 5 "$cid" >/dev/null 2>&1
check_eq "podman stop: exited" exited "$(pm inspect -f '{{.State.Status}}' "$cid" 2>&1)"
check_eq "podman stop: the TERM trap's exit code" 0 "$(pm inspect -f '{{.State.ExitCode}}' "$cid" 2>&1)"
pm rm "$cid" >/dev/null 2>&1

# A pid 1 that ignores SIGTERM: stop escalates to SIGKILL after the timeout.
cid=$(pm run -d "${PRUN[@]}" "$IMG" sleep 300 2>&1)
pm stop -t 1 "$cid" >/dev/null 2>&1
check_eq "podman stop of a TERM-ignoring pid 1: killed" 137 "$(pm inspect -f '{{.State.ExitCode}}' "$cid" 2>&1)"
pm rm "$cid" >/dev/null 2>&1

cid=$(pm run -d "${PRUN[@]}" "$IMG" sleep 300 2>&1)
pm kill "$cid" >/dev/null 2>&1
pm wait "$cid" >/dev/null 2>&1
check_eq "podman kill: exited" exited "$(pm inspect -f '{{.State.Status}}' "$cid" 2>&1)"
check_eq "podman kill: SIGKILL's exit code" 137 "$(pm inspect -f '{{.State.ExitCode}}' "$cid" 2>&1)"
pm rm "$cid" >/dev/null 2>&1

# --sdnotify=container: READY (and MAINPID) from the container reach the host's NOTIFY_SOCKET.
python3 - "$T/notify.sock" "$T/notify.log" <<'EOF' &
import array, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16))
        for level, kind, data in anc:  # sd_notify_barrier's pipe: closing it is the answer
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                for fd in array.array("i", data[: len(data) - len(data) % 4]):
                    socket.close(fd)
        log.write(msg.decode(errors="replace").strip() + "\n")
EOF
LISTENER_PID=$!
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
# Podman 4.3 does not hand NOTIFY_SOCKET to the runtime: it mounts conmon's socket at
# /run/notify, conmon forwards READY=1 and Podman reports conmon as MAINPID. The runtime's part
# is the mount and the env; hako's own relay (runc's) is tested in tests/systemd.rs.
cid=$(NOTIFY_SOCKET=$T/notify.sock pm run -d --sdnotify=container "${PRUN[@]}" "$IMG" \
    sh -c 'sleep 0.5; sd-notify READY=1; exec sleep 300' 2>&1)
for _ in $(seq 100); do grep -q READY=1 "$T/notify.log" 2>/dev/null && break; sleep 0.1; done
notes=$(cat "$T/notify.log" 2>/dev/null)
check_has "podman run --sdnotify=container: the container's READY=1 reaches the host" "READY=1" "$notes"
cpid=$(pm inspect -f '{{.State.ConmonPid}}' "$cid" 2>&1)
check_has "podman run --sdnotify=container: MAINPID (conmon)" "MAINPID=$cpid" "$notes"
pm rm -f -t 0 "$cid" >/dev/null 2>&1

# =============================================================================================
elapsed=$(($(date +%s) - started))
log "$RUNTIME: ${elapsed}s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
