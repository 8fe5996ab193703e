#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what berth needs from Debian 12's packages, and only what is missing.
# golang-github-containers-common is there for /usr/share/containers/seccomp.json,
# the RuntimeDefault seccomp profile (CRI-O's and Podman's); it pulls in only
# golang-github-containers-image (config files) with --no-install-recommends.
#   scripts/deps.sh         build and run dependencies
#   scripts/deps.sh --test  also what the test suite and benchmarks need
set -euo pipefail

build_pkgs=(
	build-essential cmake pkg-config
	libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
	libjson-c-dev libcurl4-openssl-dev libarchive-dev libssl-dev
	libnl-3-dev libnl-route-3-dev libseccomp-dev libcap-dev
	runc containernetworking-plugins iptables iproute2
	golang-github-containers-common
)
test_pkgs=(
	libcmocka-dev
	python3 python3-grpcio python3-protobuf python3-pytest protobuf-compiler
	docker-registry skopeo umoci busybox-static apache2-utils jq
	conmon util-linux procps clang-format
	python3-cryptography zstd
	lintian dpkg-dev file man-db systemd shellcheck
)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
	pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps: all ${#pkgs[@]} Debian packages berth needs are installed"
	exit 0
fi

fail() {
	cat >&2 <<MSG
deps: $1 failed. berth still needs these Debian 12 packages:
  ${missing[*]}
If the mirror in /etc/apt/sources.list can't be reached (an offline machine, a proxy),
point apt at one that can, or install those packages from .deb files
(apt install ./pkg.deb), then run this again.
MSG
	exit 1
}
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root to install them with apt-get" >&2
	exit 1
fi
echo "deps: installing ${#missing[@]} missing Debian package(s) with apt-get: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq || fail "apt-get update"
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" ||
	fail "apt-get install"
