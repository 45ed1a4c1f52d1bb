#!/usr/bin/env bash
# Build a runnable OCI bundle at DIR from Debian's static busybox.
#
#   integration/make-bundle.sh DIR [ARG...]
#
# DIR/rootfs  minimal busybox root filesystem
# DIR/config.json  runc 1.1.5's `runc spec` default, except:
#   - process.terminal = false   (so it runs from scripts/CI without a pty)
#   - process.args     = ARG... (default: print a hello line + some /proc status)
#   - linux.cgroupsPath = /hako-bundle/<basename DIR>, or $CGROUPS_PATH if set.
#     Always absolute: a relative/empty path would nest under the caller's own
#     cgroup, and this host's management cgroups must never be touched.
#
# The config is written without any runtime (no `hako spec`/`runc spec` call), so
# it works before hako is built and on machines without runc.
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR [ARG...]" >&2
    exit 2
fi
dir=$1
shift

busybox=/bin/busybox
if [ ! -x "$busybox" ]; then
    echo "make-bundle.sh: $busybox missing; run integration/setup.sh (busybox-static)" >&2
    exit 1
fi
# The bundle has no libc, so the binary must be static (busybox-static, not busybox).
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "make-bundle.sh: $busybox does not support --list" >&2
    exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)   # absolute, for the cgroup name and messages
name=$(basename "$dir")
cgroups_path=${CGROUPS_PATH:-/hako-bundle/$name}
case $cgroups_path in
    /*) ;;
    *) echo "make-bundle.sh: CGROUPS_PATH must be absolute: $cgroups_path" >&2; exit 2 ;;
esac

# Rebuild the rootfs from scratch so re-running is idempotent (stale applets go away).
rootfs=$dir/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,root}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"

cp "$busybox" "$rootfs/bin/busybox"
# One relative symlink per applet, so `sh`, `true`, `grep`... resolve via PATH=/bin.
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] && continue
    ln -sf busybox "$rootfs/bin/$applet"
done

cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
echo hako > "$rootfs/etc/hostname"

if [ $# -eq 0 ]; then
    set -- sh -c "echo hello from hako; cat /proc/self/status | grep -E '^(Name|Pid|CapEff)'"
fi

# runc 1.1.5 `runc spec` output, verbatim (ociVersion 1.0.2-dev).
read -r -d '' RUNC_DEFAULT_SPEC <<'JSON' || true
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {"uid": 0, "gid": 0},
		"args": ["sh"],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
			"ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
		},
		"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "runc",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
		 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
		{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		 "options": ["nosuid", "noexec", "nodev"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs",
		 "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	],
	"linux": {
		"resources": {"devices": [{"allow": false, "access": "rwm"}]},
		"namespaces": [
			{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
			{"type": "uts"}, {"type": "mount"}
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
			"/proc/sched_debug", "/sys/firmware", "/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}
JSON

# Apply our changes with python3's json module (no jq dependency); args arrive via argv
# so arbitrary quoting in ARG... survives untouched.
RUNC_DEFAULT_SPEC=$RUNC_DEFAULT_SPEC python3 - "$dir/config.json" "$cgroups_path" "$@" <<'PY'
import json, os, sys
out, cgroups_path, args = sys.argv[1], sys.argv[2], sys.argv[3:]
spec = json.loads(os.environ["RUNC_DEFAULT_SPEC"])
spec["process"]["terminal"] = False
spec["process"]["args"] = args
spec["linux"]["cgroupsPath"] = cgroups_path
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(spec, f, indent="\t")   # runc writes tab-indented JSON too
    f.write("\n")
os.replace(tmp, out)
PY

echo "make-bundle.sh: bundle ready at $dir (cgroupsPath $cgroups_path)"
