#!/usr/bin/env bash
# Side-by-side unpack benchmark: hako-bundle vs umoci on a multi-layer image built from
# files on this machine (not a timed test; run by hand).
#
#   integration/bench-bundle.sh        (as root; integration/setup.sh and cargo build --release first)
#
# Environment:
#   HAKO_BUNDLE=path  binary (default <repo>/target/x86_64-unknown-linux-gnu/release/hako-bundle)
#   LAYERS="dir ..."  host directories, one layer each (default: /usr/include /usr/lib/gcc
#                     /usr/libexec /usr/share/doc, a few hundred MB in all)
#   RUNS=N            timed runs per command (default 5, after 1 warm-up)
#   OUT_DIR=dir       where the unpacked trees go instead of the default: a fresh ext4 (with
#                     a journal, as mkfs.ext4 makes it) on a sparse loop file in the
#                     work dir under /var/tmp; e.g. OUT_DIR=/dev/shm takes the disk out
#   RESULTS=dir       where hyperfine JSON and summary.txt go
#                     (default <repo>/target/bench-results/bundle-<timestamp>)
#
# Timed commands (each run writes a new output directory; `sync` before each run, untimed):
#   hako-bundle       hako-bundle --ref t IMG OUT            (rootfs + config.json)
#   umoci unpack      umoci unpack --image IMG:t OUT         (rootfs + config.json + mtree)
#   umoci raw unpack  umoci raw unpack --image IMG:t OUT     (rootfs only: the fairest match)
# Peak RSS of one run of each comes from /usr/bin/time -f %M.
#
# Why a fresh file system, and no run deleting the previous one's output: this VM's own disk
# is an ext4 without a journal, and there the inode allocator skips inodes freed in the last
# 60 s, or 360 s while their inode table block is dirty (fs/ext4/ialloc.c, recently_deleted),
# reading each one's table block. After an `rm -rf` of a 15k-file tree every file creation
# walks them all: 2-5 s of system time per run, charged to whichever tool runs next, that no
# unpack into a fresh directory on a normal (journaled) ext4 pays. So each run writes a new
# directory, and the whole file system goes at the end (unmounted, one file removed).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HAKO_BUNDLE=${HAKO_BUNDLE:-$repo/target/x86_64-unknown-linux-gnu/release/hako-bundle}
LAYERS=${LAYERS:-/usr/include /usr/lib/gcc /usr/libexec /usr/share/doc}
RUNS=${RUNS:-5}
RESULTS=${RESULTS:-$repo/target/bench-results/bundle-$(date +%Y%m%d-%H%M%S)}

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-bundle.sh: must run as root (ownership and device nodes as in the image)" >&2
    exit 1
fi
for tool in hyperfine umoci python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench-bundle.sh: $tool missing; run integration/setup.sh (time: apt-get install time)" >&2; exit 1; }
done
[ -x "$HAKO_BUNDLE" ] || { echo "bench-bundle.sh: $HAKO_BUNDLE missing (cargo build --release)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/hako-bench-bundle.XXXXXX)
mnt=
cleanup() {
    if [ -n "$mnt" ]; then umount "$mnt" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${OUT_DIR:-}" ]; then
    out=$(mktemp -d "$OUT_DIR/hako-bench-out.XXXXXX")
    trap 'cleanup; rm -rf "$out"' EXIT
else
    command -v mkfs.ext4 >/dev/null || { echo "bench-bundle.sh: mkfs.ext4 missing (apt-get install e2fsprogs)" >&2; exit 1; }
    # Sparse; about 0.5 GiB per unpack is written, 1 GiB per unpack leaves room for bigger LAYERS.
    truncate -s "$((3 * (RUNS + 2)))G" "$work/ext4.img"
    mkfs.ext4 -q -F "$work/ext4.img"
    mkdir "$work/mnt"
    mount -o loop "$work/ext4.img" "$work/mnt"
    mnt=$work/mnt
    out=$mnt
fi
mkdir -p "$RESULTS"
img=$work/img

echo "bench-bundle.sh: building the image from: $LAYERS"
umoci init --layout "$img"
umoci new --image "$img:t"
for d in $LAYERS; do
    [ -d "$d" ] || { echo "bench-bundle.sh: $d is not a directory" >&2; exit 1; }
    umoci insert --image "$img:t" "$d" "$d" >/dev/null
done
umoci config --image "$img:t" --config.cmd /bin/true >/dev/null
layers=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"].split(":")[1]; print(len(json.load(open(sys.argv[1]+"/blobs/sha256/"+m))["layers"]))' "$img")
compressed=$(du -sb "$img/blobs" | cut -f1)
uncompressed=$(du -sb --apparent-size $LAYERS | awk '{s+=$1} END {print s}')
files=$(find $LAYERS | wc -l)
echo "bench-bundle.sh: $layers layers, $files entries, $((uncompressed >> 20)) MiB of files, $((compressed >> 20)) MiB of gzip blobs"

# One untimed check run each, with peak RSS.
rss() { # name, command...
    local name=$1; shift
    /usr/bin/time -f %M -o "$work/rss-$name" "$@" >/dev/null
    echo "$(cat "$work/rss-$name")"
}
rss_hb=$(rss hako-bundle "$HAKO_BUNDLE" --ref t "$img" "$out/hb")
rss_umoci=$(rss umoci umoci unpack --image "$img:t" "$out/umoci")
rss_raw=$(rss raw umoci raw unpack --image "$img:t" "$out/raw")
# Same tree? (names, types, modes, owners, sizes, link targets; content spot-checked by size)
python3 - "$out/hb/rootfs" "$out/umoci/rootfs" <<'PY'
import os, stat, sys
def walk(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n); st = os.lstat(p)
            extra = os.readlink(p) if stat.S_ISLNK(st.st_mode) else (st.st_size if stat.S_ISREG(st.st_mode) else "")
            out[os.path.relpath(p, root)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode) if not stat.S_ISLNK(st.st_mode) else 0, st.st_uid, st.st_gid, extra)
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
print(f"bench-bundle.sh: trees {'match' if not diff else 'DIFFER'} ({len(a)} entries)")
for k in sorted(diff)[:10]: print("  ", k, a.get(k), b.get(k))
sys.exit(1 if diff else 0)
PY

# A fresh output directory name per run (mktemp -u costs the same ~1 ms in every command).
fresh="\$(mktemp -u -p $out t.XXXXXX)"
hyperfine --warmup 1 --runs "$RUNS" --export-json "$RESULTS/hyperfine.json" --prepare sync \
    -n hako-bundle "$HAKO_BUNDLE --ref t $img $fresh" \
    -n "umoci unpack" "umoci unpack --image $img:t $fresh" \
    -n "umoci raw unpack" "umoci raw unpack --image $img:t $fresh"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "output on: $(df --output=fstype "$out" | tail -1) ($out${mnt:+, a fresh loop-mounted ext4 with a journal})"
    echo "host: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "umoci: $(umoci --version); hako-bundle: $("$HAKO_BUNDLE" --version)"
    echo "image: $layers gzip layers from $LAYERS; $files entries, $((uncompressed >> 20)) MiB of files, $((compressed >> 20)) MiB compressed"
    python3 - "$RESULTS/hyperfine.json" "$rss_hb" "$rss_umoci" "$rss_raw" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
rss = dict(zip(["hako-bundle", "umoci unpack", "umoci raw unpack"], sys.argv[2:5]))
hb = r["hako-bundle"]["median"]
hbcpu = r["hako-bundle"]["user"] + r["hako-bundle"]["system"]
print(f"{'command':18} {'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>6} {'peak RSS MiB':>13} {'time ratio':>11} {'CPU ratio':>10}")
for name, x in r.items():
    cpu = x["user"] + x["system"]
    print(f"{name:18} {x['median']:9.2f} {x['min']:7.2f} {x['max']:7.2f} {cpu:6.2f} {int(rss[name]) / 1024:13.1f} {x['median'] / hb:10.2f}x {cpu / hbcpu:9.2f}x")
PY
} | tee "$RESULTS/summary.txt"
echo "bench-bundle.sh: results in $RESULTS"
