#!/usr/bin/env bash
# One-time (and idempotent) setup on Debian 12: install the packages, configure build/ once, build.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build -j2
