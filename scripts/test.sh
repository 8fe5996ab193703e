#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the test dependencies, checks format and docs links, builds berth
# (release, the Debian package, ASan+UBSan, and TSan for the stress tests) and
# runs every test: cmocka unit tests through CTest, each fuzz target for a
# bounded time (scripts/fuzz.sh), then the integration tests (pytest, a real
# gRPC client against a real berthd; the package with lintian and dpkg --root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash scripts/deps.sh --test

echo "== environment"
uname -srm
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
	echo "cgroup: v2 (unified)"
elif [ -d /sys/fs/cgroup/unified ]; then
	echo "cgroup: v1 (hybrid, v2 at /sys/fs/cgroup/unified)"
else
	echo "cgroup: v1 (legacy)"
fi
runc --version | head -1
echo "cni plugins: $(ls /usr/lib/cni | tr '\n' ' ')"
dpkg-query -W -f='containernetworking-plugins ${Version}\n' containernetworking-plugins

echo "== format (clang-format $(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))"
git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror

echo "== docs (links and path mentions resolve)"
/usr/bin/python3 scripts/check-docs.py

jobs=$(nproc)
build() { # build DIR SANITIZE
	cmake -S . -B "$1" -DSANITIZE="$2" -DCMAKE_BUILD_TYPE=Debug -DBERTH_FAULTS=ON >/dev/null
	cmake --build "$1" -j"$jobs"
}

echo "== build (release, as scripts/run.sh builds it)"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DBERTH_TESTS=OFF >/dev/null
cmake --build build-release -j"$jobs"
echo "== Debian package (scripts/package.sh: CPack in build-deb)"
BERTH_DEB=$(bash scripts/package.sh | tail -1)
export BERTH_DEB
echo "$BERTH_DEB"
echo "== build (address)"
build build-asan address
echo "== build (thread)"
build build-tsan thread

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

echo "== unit tests (ASan+UBSan)"
(cd build-asan && ctest --output-on-failure -LE tsan)
echo "== unit tests (TSan)"
(cd build-tsan && ctest --output-on-failure -L tsan)

echo "== fuzz (libFuzzer, ASan+UBSan; ${BERTH_FUZZ_SECONDS:-20} s per target)"
bash scripts/fuzz.sh "${BERTH_FUZZ_SECONDS:-20}"

echo "== integration tests"
export BERTH_BUILD="$top/build-asan"
/usr/bin/python3 -m pytest -p no:cacheprovider -ra tests/integration "$@"
