#!/usr/bin/env bash
# Run CMD as root inside a small qemu guest with a pure cgroup v2 hierarchy and AppArmor:
#
#   integration/guest/run.sh CMD [ARG...]
#
# The guest runs Debian's stock backports kernel under TCG (no KVM here), with the
# host's /usr and /etc read-only over 9p (host binaries just work), and this repo
# read-write at the same absolute path (target/x86_64-unknown-linux-gnu/release/hako and the test binaries run
# unchanged). CMD's stdout/stderr stream to ours; we exit with CMD's status, or
#   124  GUEST_TIMEOUT (seconds, default 600) expired,
#   125  the guest died without reporting a status (kernel panic, init failure, qemu error).
#
# Environment:
#   GUEST_TIMEOUT  seconds before the guest is killed (default 600)
#   GUEST_MEM      guest memory (default 2G)       GUEST_CPUS  vCPUs (default 2)
#   GUEST_SHARES   more host dirs to mount at the same path, space-separated,
#                  each PATH (read-only) or PATH:rw, e.g. "/root/.cargo /root/.rustup"
#   GUEST_ENV      names of host variables to pass (PATH and a few others always are)
#   GUEST_MODULES  extra kernel modules to load (e.g. "veth bridge")
#   GUEST_VERBOSE  1: kernel messages and timestamps from the guest's init
#   GUEST_APPEND   extra kernel command line;  GUEST_QEMU_OPTS  extra qemu options
#   GUEST_MACHINE / GUEST_CPU  qemu -M / -cpu (default pc / max)
#   GUEST_BIOS     firmware (default qboot.rom if installed; empty: qemu's SeaBIOS)
#   HAKO_GUEST_CACHE  kernel/initramfs cache (default /var/cache/hako-guest)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ $# -lt 1 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "guest/run.sh: must run as root (installs packages; the 9p shares map owners 1:1)" >&2
    exit 2
fi

timeout_s=${GUEST_TIMEOUT:-600}
mem=${GUEST_MEM:-2G}
cpus=${GUEST_CPUS:-2}
verbose=${GUEST_VERBOSE:-0}
cache=${HAKO_GUEST_CACHE:-/var/cache/hako-guest}
export HAKO_GUEST_CACHE=$cache

# Packages + kernel (a no-op without apt once everything is there); last line = kernel dir.
kdir=$("$here/setup.sh" | tail -n 1)
kver=$(ls "$kdir/modules")

# ---- initramfs, cached by the hash of everything that goes into it -------------------
# 9p for the shares, overlay for /etc, virtio_blk for the scratch disk; virtio-pci and
# virtio-console are built in.
modules=(9p 9pnet_virtio overlay virtio_blk)
read -r -a extra_modules <<<"${GUEST_MODULES:-}"
modules+=("${extra_modules[@]}")
busybox=/bin/busybox
key=$({
    cat "$here/mkinitramfs.py" "$here/init.sh"
    stat -L -c '%s %Y' "$busybox"
    echo "$kdir ${modules[*]}"
} | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$key.cpio
if [ ! -f "$initrd" ]; then
    python3 "$here/mkinitramfs.py" "$initrd" "$here/init.sh" "$busybox" "$kdir/modules/$kver" "${modules[@]}"
    # Images of older init.sh versions (a few MB each), unless possibly still in use.
    find "$cache" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "${initrd##*/}" -mmin +60 -delete
fi

# ---- the run directory: command script, share list, status --------------------------
run=$(mktemp -d /tmp/hako-guest.XXXXXX)
truncate -s 16M "$run/scratch.img"
pid=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
    rm -rf "$run"
}
trap cleanup EXIT
# Non-interactive bash ignores Ctrl-C for `timeout`'s own process group; forward it.
trap 'exit 130' INT
trap 'exit 143' TERM

# Shares: the repo read-write plus GUEST_SHARES, each at its host path.
qemu_shares=()
: >"$run/shares"
n=0
add_share() { # PATH ro|rw
    local tag=s$n ro=
    n=$((n + 1))
    [ "$2" = ro ] && ro=,readonly=on
    # multidevs=remap: unique inode numbers even if the tree spans several host filesystems.
    # (qemu option values escape a comma by doubling it)
    qemu_shares+=(-fsdev "local,id=$tag,path=${1//,/,,},security_model=passthrough,multidevs=remap$ro"
        -device "virtio-9p-pci,fsdev=$tag,mount_tag=$tag")
    printf '%s %s %s\n' "$tag" "$2" "$1" >>"$run/shares"
}
add_share "$repo" rw
read -r -a extra_shares <<<"${GUEST_SHARES:-}"
for s in "${extra_shares[@]}"; do
    case $s in
        *:rw) add_share "$(cd "${s%:rw}" && pwd)" rw ;;
        *:ro) add_share "$(cd "${s%:ro}" && pwd)" ro ;;
        *) add_share "$(cd "$s" && pwd)" ro ;;
    esac
done

# The command: bash (the host's, via /usr) with an explicit environment, in our cwd if
# that is visible inside the guest, else /.
cwd=/
while read -r _ _ path; do
    case $PWD/ in "$path"/*) cwd=$PWD ;; esac
done <"$run/shares"
env_names=(PATH RUST_BACKTRACE RUST_LOG CI CARGO_HOME RUSTUP_HOME CARGO_TERM_COLOR)
read -r -a extra_env <<<"${GUEST_ENV:-}"
env_names+=("${extra_env[@]}")
{
    echo "export HOME=/root LANG=C.UTF-8 TERM=dumb"
    for v in "${env_names[@]}"; do
        if [ -n "${!v+x}" ]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
    done
    printf 'cd -- %q || exit 125\n' "$cwd"
    printf 'exec'
    printf ' %q' "$@"
    echo
} >"$run/cmd.sh"
# stdout and stderr both going to one file or pipe (2>&1, as in CI logs): have the guest
# merge them too, so their order survives (two consoles would interleave arbitrarily).
if [ /dev/stdout -ef /dev/stderr ]; then
    : >"$run/merge"
fi

# ---- boot ----------------------------------------------------------------------------
append="console=ttyS0 panic=-1 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
append+=" apparmor=1 security=apparmor"
# Spectre & co. mitigations only slow down an emulated CPU; skip PS/2 probing.
append+=" mitigations=off i8042.noaux i8042.nokbd i8042.nopnp"
append+=" ${GUEST_APPEND:-}"
if [ "$verbose" = 1 ]; then
    append+=" HAKO_VERBOSE=1"
else
    append+=" quiet loglevel=1"
fi

# qboot (in qemu-system-data) boots -kernel ~0.5-1 s faster than SeaBIOS under TCG.
# GUEST_BIOS= (empty) falls back to qemu's default firmware.
bios=()
if [ -n "${GUEST_BIOS-/usr/share/qemu/qboot.rom}" ] && [ -f "${GUEST_BIOS-/usr/share/qemu/qboot.rom}" ]; then
    bios=(-bios "${GUEST_BIOS-/usr/share/qemu/qboot.rom}")
fi

# Host side of the guest's ports: our stdout/stderr are passed as fds 3/4 (-add-fd
# refuses 0-2) so qemu neither truncates a log file nor needs a path for a pipe;
# ttyS1 (status) is a file.
qemu=(qemu-system-x86_64 -nodefaults -no-user-config -no-reboot
    -M "${GUEST_MACHINE:-pc}" -cpu "${GUEST_CPU:-max}" -smp "$cpus" -m "$mem"
    -display none -monitor none "${bios[@]}"
    -kernel "$kdir/vmlinuz" -initrd "$initrd" -append "$append"
    -add-fd "fd=3,set=1" -add-fd "fd=4,set=2"
    -chardev "file,id=kcon,path=/dev/fdset/2,append=on" -serial chardev:kcon
    -chardev "file,id=status,path=$run/status" -serial chardev:status
    -device virtio-serial-pci
    -chardev "file,id=out,path=/dev/fdset/1,append=on" -device "virtconsole,chardev=out"
    -chardev "file,id=err,path=/dev/fdset/2,append=on" -device "virtconsole,chardev=err"
    -fsdev "local,id=hakorun,path=${run//,/,,},security_model=passthrough"
    -device "virtio-9p-pci,fsdev=hakorun,mount_tag=hakorun"
    -fsdev "local,id=usr,path=/usr,security_model=passthrough,readonly=on"
    -device "virtio-9p-pci,fsdev=usr,mount_tag=usr"
    -fsdev "local,id=etc,path=/etc,security_model=passthrough,readonly=on"
    -device "virtio-9p-pci,fsdev=etc,mount_tag=etc"
    "${qemu_shares[@]}"
    # An empty scratch disk (vda in the guest): a real block device for blockIO/io.max tests.
    -drive "file=$run/scratch.img,if=none,format=raw,id=scratch" -device "virtio-blk-pci,drive=scratch")
read -r -a extra_qemu <<<"${GUEST_QEMU_OPTS:-}"
qemu+=("${extra_qemu[@]}")

# Background + wait, so the INT/TERM traps run (and cleanup kills the guest) at once.
timeout --kill-after=10 "$timeout_s" "${qemu[@]}" </dev/null 3>&1 4>&2 &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=
# timeout exits 124, or 137 if qemu ignored the TERM and needed the KILL.
if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$SECONDS" -ge "$timeout_s" ]; }; then
    echo "guest/run.sh: timed out after ${timeout_s}s (GUEST_TIMEOUT)" >&2
    exit 124
fi
touch "$run/status"
status=$(tr -d '\r' <"$run/status" | sed -n 's/^HAKO-GUEST-EXIT=\([0-9][0-9]*\)$/\1/p' | tail -n 1)
if [ -z "$status" ]; then
    echo "guest/run.sh: the guest reported no exit status (qemu exit $rc); rerun with GUEST_VERBOSE=1" >&2
    exit 125
fi
exit "$status"
