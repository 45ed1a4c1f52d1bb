#!/usr/bin/env bash
# Remove leftover (empty) cgroups named PATH in every mounted cgroup hierarchy.
#
#   integration/rm-cgroups.sh /hako-bundle [/hako-bench ...]   (only /hako-* accepted)
#
# Runtimes delete a container's leaf cgroup but leave the parents they created
# (runc and crun both leave e.g. /hako-bundle behind in each v1 hierarchy plus
# the name=systemd and unified ones). rmdir only succeeds on cgroups with no
# processes and no children, so this can never disturb a live cgroup; we walk
# children first (find -depth) and ignore busy ones with a warning.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 /CGROUP/PATH..." >&2
    exit 2
fi

# Every cgroup/cgroup2 mount point (v1 controllers, named hierarchies, unified).
mapfile -t mounts < <(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | sort -u)

rc=0
for rel in "$@"; do
    # Only plain absolute sub-paths like /hako-bench or /hako-bench/x: every
    # component must start with [A-Za-z0-9_], which rules out "", ".", ".." and
    # therefore any hierarchy root ("/", "//", "/./") or escape ("/a/../b").
    if ! [[ $rel =~ ^(/[A-Za-z0-9_][A-Za-z0-9_.:-]*)+/?$ ]]; then
        echo "rm-cgroups.sh: refusing cgroup path '$rel'" >&2
        exit 2
    fi
    rel=${rel%/}
    # Defence in depth: only ever touch this project's own trees (/hako-*), never
    # the host's management cgroups.
    case $rel in
        /hako-*) ;;
        *) echo "rm-cgroups.sh: refusing '$rel': only /hako-* cgroups are managed here" >&2; exit 2 ;;
    esac
    for mp in "${mounts[@]}"; do
        d=$mp$rel
        [ -d "$d" ] || continue
        while IFS= read -r -d '' sub; do
            rmdir "$sub" 2>/dev/null || { echo "rm-cgroups.sh: busy, left in place: $sub" >&2; rc=1; }
        done < <(find "$d" -depth -type d -print0)
    done
done
exit $rc
