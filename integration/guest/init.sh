#!/.hako/busybox sh
# shellcheck shell=sh
# PID 1 of the guest that integration/guest/run.sh boots (runs under busybox ash).
#
# Stage 1 (/init in the initramfs): move to a tmpfs root and chroot into it, because
#   nothing can pivot_root away from the initial rootfs (hako and runc do).
# Stage 2: mount the API filesystems (cgroup2 only), load the 9p modules, mount the
#   host's shares, run the command from /run/hako-guest/cmd.sh in cgroup
#   /hako-guest.scope, then print HAKO-GUEST-EXIT=<status> on the 2nd serial port
#   (ttyS1, a file on the host) and power off. Any failure here powers off without
#   a status line, which run.sh reports as exit 125.
#
# The command's stdout/stderr reach the host on virtio consoles hvc0/hvc1 (through
# pipes, so the command sees pipes as it would under CI, not a tty); kernel messages
# go to ttyS0 (host stderr).

bb=/.hako/busybox

if [ "${1:-}" != stage2 ]; then
    # Rebuild the skeleton on the tmpfs; /.hako (busybox, modules) is bind-mounted
    # rather than copied, which is measurably slower under emulation.
    $bb mount -t tmpfs -o mode=0755 tmpfs /newroot && cd /newroot &&
        $bb mkdir .hako usr dev proc sys &&
        $bb ln -s usr/bin bin && $bb ln -s usr/sbin sbin &&
        $bb ln -s usr/lib lib && $bb ln -s usr/lib64 lib64 &&
        $bb cp /init init &&
        $bb mount --bind /.hako .hako &&
        $bb mount --move . / &&
        exec $bb chroot . /init stage2
    echo "hako-guest init: stage 1 failed" >&2
    $bb poweroff -f
fi

# ---- stage 2 -----------------------------------------------------------------------
$bb mkdir -p /.hako/bin
$bb --install -s /.hako/bin
export PATH=/.hako/bin

# HAKO_VERBOSE=1 on the kernel command line (run.sh: GUEST_VERBOSE=1): timestamps.
stamp() {
    if [ "${HAKO_VERBOSE:-0}" = 1 ]; then
        read -r up _ </proc/uptime
        echo "hako-guest init: [$up] $*" >&2
    fi
}

die() {
    echo "hako-guest init: $*" >&2
    sync
    poweroff -f
    sleep 10   # poweroff -f does not return; just in case
    exit 1
}
must() { "$@" || die "failed: $*"; }

must mount -t proc -o nosuid,nodev,noexec proc /proc
stamp "stage 2"
must mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
must mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
must mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
must mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
must mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# The same mount options systemd uses on a pure cgroup v2 host.
must mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
must mount -t securityfs -o nosuid,nodev,noexec securityfs /sys/kernel/security
mount -t bpf -o nosuid,nodev,noexec,mode=0700 bpf /sys/fs/bpf 2>/dev/null
for d in /run /tmp /var /root; do
    mkdir -p $d
done
must mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
must mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
must mount -t tmpfs -o mode=0755 tmpfs /var
must mount -t tmpfs -o mode=0700 tmpfs /root
mkdir -p /var/tmp /var/cache /var/lib /var/log /home /mnt /opt /srv /media
chmod 1777 /var/tmp
ln -s /run /var/run
hostname hako-guest
ip link set lo up 2>/dev/null

stamp "modules"
# 9p + overlay modules (virtio-pci is built in), deps first: mkinitramfs.py numbered them.
for m in /.hako/modules/*.ko; do
    [ -e "$m" ] || continue
    must insmod "$m"
done

stamp "9p mounts"
# msize: bigger 9p messages are much faster than the 8 KiB default under emulation.
p9=trans=virtio,version=9p2000.L,msize=512000
must mkdir -p /run/hako-guest
must mount -t 9p -o "$p9,cache=none" hakorun /run/hako-guest
# The host's /usr never changes under us during a run: cache it fully.
must mount -t 9p -o "$p9,cache=loose,ro" usr /usr
# Host /etc read-only underneath, guest writes land in a tmpfs (overlay).
mkdir -p /.hako/etc.lower /.hako/etc.rw /etc
must mount -t 9p -o "$p9,cache=loose,ro" etc /.hako/etc.lower
must mount -t tmpfs tmpfs /.hako/etc.rw
mkdir -p /.hako/etc.rw/upper /.hako/etc.rw/work
must mount -t overlay -o lowerdir=/.hako/etc.lower,upperdir=/.hako/etc.rw/upper,workdir=/.hako/etc.rw/work overlay /etc
# Further shares (the repo, GUEST_SHARES): "tag ro|rw /abs/path" per line, same path as on the host.
while read -r tag mode path; do
    [ -n "$tag" ] || continue
    must mkdir -p "$path"
    # rw: cache=mmap, coherent with the host and supports shared mmap. ro (toolchains):
    # cache=loose, much faster for big binaries and libraries read again and again.
    cache=mmap
    [ "$mode" = ro ] && cache=loose
    must mount -t 9p -o "$p9,cache=$cache,$mode" "$tag" "$path"
done </run/hako-guest/shares

stamp "cgroups"
# cgroup v2 as on a systemd host: every controller enabled at the root, PID 1 in
# /init.scope, the command in its own leaf.
cg=/sys/fs/cgroup
read -r ctrls <$cg/cgroup.controllers
for c in $ctrls; do
    echo "+$c" >$cg/cgroup.subtree_control || die "cannot enable cgroup controller $c"
done
mkdir -p $cg/init.scope $cg/hako-guest.scope
echo $$ >$cg/init.scope/cgroup.procs

# Output: through fifos so the command gets pipes (like CI), not a tty.
out=/dev/hvc0 err=/dev/hvc1
[ -c $out ] || out=/dev/console
[ -c $err ] || err=/dev/console
for t in $out $err; do
    stty -F "$t" -opost 2>/dev/null   # no \n -> \r\n
done
mkfifo /run/hg.out /run/hg.err
cat /run/hg.out >$out &
c1=$!
c2=
errpipe=/run/hg.err
if [ -e /run/hako-guest/merge ]; then
    # The host's stdout and stderr are one file (2>&1): one pipe keeps their order.
    errpipe=/run/hg.out
else
    cat /run/hg.err >$err &
    c2=$!
fi

stamp "running the command"
(
    echo 0 >$cg/hako-guest.scope/cgroup.procs
    # A clean environment; cmd.sh (written by run.sh) exports what the command gets.
    exec env -i /usr/bin/bash --noprofile --norc /run/hako-guest/cmd.sh
) </dev/null >/run/hg.out 2>$errpipe
rc=$?
stamp "command exited with status $rc"

# The command is done: everything it left behind (daemons, containers) goes, so the
# output pipes see EOF.
for p in /proc/[0-9]*; do
    p=${p#/proc/}
    case $p in 1 | "$c1" | "$c2") ;; *) kill -9 "$p" 2>/dev/null ;; esac
done
i=0
while [ $i -lt 50 ] && { kill -0 $c1 2>/dev/null || kill -0 "${c2:-$c1}" 2>/dev/null; }; do
    sleep 0.1
    i=$((i + 1))
done
kill -9 $c1 $c2 2>/dev/null   # (only if something kept a pipe open)
# stty sets the mode with TCSADRAIN: returns once the tty has sent everything.
stty -F $out -opost 2>/dev/null
stty -F $err -opost 2>/dev/null
echo "HAKO-GUEST-EXIT=$rc" >/dev/ttyS1
stty -F /dev/ttyS1 -opost 2>/dev/null
sync
stamp "power off"
echo 0 >/proc/sys/kernel/printk   # not even the "reboot: Power down" line
poweroff -f
