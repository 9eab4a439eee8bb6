#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine with the Swift toolchain unpacked at /opt/swift:
# installs the Debian packages ddp and the toolchain need when any is missing (nothing is
# touched when all are present), then builds ddp in release mode.
# Network: Debian's archive for apt; SwiftPM fetches swift-argument-parser through git.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
    # ddp itself: MPI, BLAS, zlib (gzip'd IDX files), libpng and TurboJPEG (image folders), the
    # default data set, pkg-config for SwiftPM's system-library targets, iproute2 for launch.sh's
    # host checks.
    libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev libpng-dev libturbojpeg0-dev pkg-config
    dataset-fashion-mnist iproute2
    # The Swift toolchain's own needs on Debian 12: linker and C runtime for linking, git for
    # SwiftPM, and the shared libraries swift-build/swift-test load.
    binutils gcc libc6-dev libgcc-12-dev libstdc++-12-dev git ca-certificates
    libcurl4 libxml2 libsqlite3-0 libncurses6 libicu72 libuuid1
)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        SUDO=(sudo)
    fi
    # env, not a prefix assignment: sudo would drop the variable.
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 "${missing[@]}"
fi

for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    if ! command -v swift >/dev/null && [ -x "$d/swift" ]; then export PATH="$d:$PATH"; fi
done
command -v swift >/dev/null || { echo "setup: Swift toolchain not found (looked on PATH and in /opt/swift/usr/bin; need Swift 6)" >&2; exit 1; }

# Progress lines ("[12/98] Compiling ...") are noise; on failure show everything else.
log=$(mktemp /tmp/ddp-setup-build.XXXXXX)
echo "setup: swift build -c release"
if ! swift build -c release >"$log" 2>&1; then
    grep -Ev '^\[[0-9]+/[0-9]+\] ' "$log" >&2 || true
    echo "setup: release build failed (full log: $log)" >&2
    exit 1
fi
grep -E 'warning:|Build complete' "$log" || true
rm -f "$log"
echo "setup: built $(swift build -c release --show-bin-path)/ddp"
