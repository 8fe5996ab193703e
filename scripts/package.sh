#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package with CPack: a release build for /usr in build-deb,
# then `cpack -G DEB`. Prints the path of the .deb last.
#   scripts/package.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
dir=${1:-build-deb}

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBERTH_TESTS=OFF -DBERTH_PACKAGE=ON \
	-DCMAKE_INSTALL_PREFIX=/usr >/dev/null
cmake --build "$dir" -j"$(nproc)"
rm -f "$dir"/berth_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/berth_*.deb)
echo "$top/$deb"
