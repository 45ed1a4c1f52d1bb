#!/usr/bin/env bash
# Install what integration/guest/run.sh needs, idempotently:
#   - qemu-system-x86 from <codename>-backports (bookworm's own qemu would downgrade
#     the backported qemu-utils already on the CI image, and is older anyway);
#   - Debian's stock kernel from backports, fetched with `apt-get download` and
#     unpacked with `dpkg -x` into the cache dir (never installed into /boot);
#   - apparmor (apparmor_parser), so profiles can be loaded inside the guest.
# When everything is present this script touches neither apt nor the network.
#
# Prints nothing on stdout except, last, the kernel directory (run.sh reads it).
# Cache: $HAKO_GUEST_CACHE, default /var/cache/hako-guest.
set -euo pipefail

cache=${HAKO_GUEST_CACHE:-/var/cache/hako-guest}

log() { echo "guest/setup.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (installs packages)"
    exit 1
fi

mkdir -p "$cache"
# Serialise concurrent run.sh invocations: apt and the cache must not race.
exec 9>"$cache/.setup.lock"
flock 9

export DEBIAN_FRONTEND=noninteractive

# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
bpo=$codename-backports
bpo_list=/etc/apt/sources.list.d/hako-$bpo.sources

# apt/dpkg are chatty; keep their output for when they fail.
quiet() {
    local log rc=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then cat "$log" >&2; fi
    rm -f "$log"
    return "$rc"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# ---- apt source for backports ----------------------------------------------------
# apt itself parses sources.list and deb822 .sources files; ask it (indextargets)
# rather than parsing them ourselves. Output lines: "<repo-uri> <release> <component>".
# (The $(...) in single quotes are apt's --format placeholders, not shell.)
# shellcheck disable=SC2016
apt_targets() {
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages'
}

ensure_bpo_source() {
    if apt_targets | awk -v r="$bpo" '$2 == r { found = 1 } END { exit !found }'; then
        return 0
    fi
    # Derive from the entry that carries the plain release: same mirror, same
    # components, suite <codename>-backports. The mirror is never hard-coded here.
    local uri comps
    uri=$(apt_targets | awk -v r="$codename" '$2 == r { print $1; exit }')
    if [ -z "$uri" ]; then
        log "no apt source for '$codename' found to derive $bpo from"
        exit 1
    fi
    comps=$(apt_targets | awk -v r="$codename" -v u="$uri" '$2 == r && $1 == u { print $3 }' |
        sort -u | tr '\n' ' ')
    comps=${comps% }
    log "adding $bpo ($uri, components: $comps) as $bpo_list"
    {
        echo "# Added by hako integration/guest/setup.sh, derived from the $codename entry."
        echo "Types: deb"
        echo "URIs: $uri"
        echo "Suites: $bpo"
        echo "Components: $comps"
        # Same keyring Debian's own entry uses; without it apt falls back to trusted.gpg.d.
        if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
            echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
        fi
    } >"$bpo_list.tmp"
    mv "$bpo_list.tmp" "$bpo_list"
}

# True once the backports package lists have been downloaded.
# shellcheck disable=SC2016
bpo_lists_present() {
    apt-get indextargets --format '$(RELEASE) $(FILENAME)' 'Created-By: Packages' |
        while read -r rel file; do
            [ "$rel" = "$bpo" ] && ls "$file"* >/dev/null 2>&1 && echo yes
        done | grep -q yes
}

updated=no
# `apt-get update` for the backports source only: fast, and leaves the other
# lists (and whatever state the machine's image had) alone.
bpo_update() {
    [ "$updated" = yes ] && return 0
    local src=$bpo_list
    # If backports was configured by someone else, update everything (rare).
    [ -f "$src" ] || src=
    log "apt-get update ($bpo)"
    if [ -n "$src" ]; then
        quiet apt-get update -o Dir::Etc::SourceList="$src" -o Dir::Etc::SourceParts=- \
            -o APT::Get::List-Cleanup=0
    else
        quiet apt-get update
    fi
    updated=yes
}

need_apt() {
    ensure_bpo_source
    bpo_lists_present || bpo_update
}

# ---- qemu (+ apparmor_parser) -------------------------------------------------------
if ! installed qemu-system-x86 || ! command -v qemu-system-x86_64 >/dev/null; then
    need_apt
    log "installing qemu-system-x86 from $bpo"
    # -t pulls qemu-system-common/-data from backports too, matching the backported
    # qemu-utils; no recommends (GUI bits, ovmf) — we boot -kernel with SeaBIOS.
    if ! quiet apt-get install -y --no-install-recommends -t "$bpo" qemu-system-x86; then
        bpo_update   # stale lists: the versions they name may be gone from the mirror
        quiet apt-get install -y --no-install-recommends -t "$bpo" qemu-system-x86
    fi
fi
if ! command -v apparmor_parser >/dev/null; then
    need_apt
    log "installing apparmor (apparmor_parser for the guest)"
    quiet apt-get install -y --no-install-recommends apparmor
fi

# ---- kernel ----------------------------------------------------------------------------
# $cache/kernel points at the unpacked package; reused as long as it is complete.
# GUEST_KERNEL_REFRESH=1 re-resolves the newest backports kernel.
kdir_ok() { [ -f "$1/vmlinuz" ] && [ -d "$1/modules" ]; }

if [ "${GUEST_KERNEL_REFRESH:-0}" != 1 ] && [ -L "$cache/kernel" ] && kdir_ok "$cache/kernel"; then
    readlink -f "$cache/kernel"
    exit 0
fi

need_apt
# linux-image-amd64 (metapackage) in backports depends on the current versioned
# image package, e.g. linux-image-6.12.48+deb12-amd64.
meta_ver=$(apt-cache madison linux-image-amd64 | awk -v r="$bpo" '$0 ~ r"/" { print $3; exit }')
if [ -z "$meta_ver" ]; then
    bpo_update
    meta_ver=$(apt-cache madison linux-image-amd64 | awk -v r="$bpo" '$0 ~ r"/" { print $3; exit }')
fi
[ -n "$meta_ver" ] || { log "linux-image-amd64 not found in $bpo"; exit 1; }
kpkg=$(apt-cache show "linux-image-amd64=$meta_ver" |
    sed -n 's/^Depends: *//p' | tr ',' '\n' | sed 's/^ *//; s/ .*//' |
    grep -m1 '^linux-image-[0-9]')
[ -n "$kpkg" ] || { log "cannot resolve the image package of linux-image-amd64=$meta_ver"; exit 1; }

kdir=$cache/$kpkg
if ! kdir_ok "$kdir"; then
    log "downloading $kpkg"
    tmp=$(mktemp -d "$cache/.dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    # apt-get download writes into the cwd, as root (the _apt sandbox user cannot
    # write into the root-only cache).
    dl=(apt-get download -o APT::Sandbox::User=root "$kpkg")
    if ! (cd "$tmp" && quiet "${dl[@]}"); then
        bpo_update
        (cd "$tmp" && quiet "${dl[@]}")
    fi
    dpkg -x "$tmp"/"$kpkg"_*.deb "$tmp/x"
    # Normalise the layout: vmlinuz + modules/<kernel release>/...
    mkdir -p "$tmp/k"
    mv "$tmp"/x/boot/vmlinuz-* "$tmp/k/vmlinuz"
    mv "$tmp"/x/boot/config-* "$tmp/k/config" 2>/dev/null || true
    if [ -d "$tmp/x/usr/lib/modules" ]; then
        mv "$tmp/x/usr/lib/modules" "$tmp/k/modules"
    else
        mv "$tmp/x/lib/modules" "$tmp/k/modules"
    fi
    rm -rf "$kdir"
    mv "$tmp/k" "$kdir"
    rm -rf "$tmp"
    trap - EXIT
fi
ln -sfn "$kpkg" "$cache/kernel.tmp"
mv -T "$cache/kernel.tmp" "$cache/kernel"
readlink -f "$cache/kernel"
