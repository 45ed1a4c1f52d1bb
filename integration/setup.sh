#!/usr/bin/env bash
# Install everything the integration tests and benchmarks need on Debian bookworm.
# Idempotent: if every package is already installed we skip apt entirely (apt-get
# update alone costs several seconds and needs the network).
set -euo pipefail

# containerd, podman (+ conmon): integration/engines.sh; gcc + libc6-dev: a static
# sd_notify helper for busybox test images (tests/helpers/sd_notify.c); skopeo + umoci:
# hako-bundle's tests; apparmor: apparmor_parser for the profile tests; time: GNU time for
# bench.sh's peak RSS.
PKGS=(busybox-static runc crun libseccomp-dev pkg-config hyperfine strace python3 apparmor
      skopeo umoci containerd podman conmon gcc libc6-dev time)

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root (installs packages)" >&2
    exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
    # dpkg-query prints "install ok installed" only for fully configured packages;
    # half-installed/removed-with-config states count as missing.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup.sh: all packages present (${PKGS[*]})"
    exit 0
fi

echo "setup.sh: installing ${missing[*]}"
# Non-interactive: CI and fresh VMs have no tty for debconf prompts.
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
