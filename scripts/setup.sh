#!/usr/bin/env bash
# Idempotent set-up: installs the system packages ddp needs when missing, then builds release.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config dataset-fashion-mnist iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do [ -x "$d/swift" ] && export PATH="$d:$PATH"; done
fi
command -v swift >/dev/null || { echo "setup: swift toolchain not found (need Swift 6)" >&2; exit 1; }

swift build -c release 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' || true
test "${PIPESTATUS[0]}" -eq 0
echo "setup: built $(swift build -c release --show-bin-path)/ddp"
