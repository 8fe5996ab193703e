#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (clang, ASan+UBSan; build-fuzz/) and runs each
# for a bounded time: first every kept regression input of
# tests/fuzz/regress/<target>/ (a crash fixed once stays fixed), then fuzzing
# from the seed corpus tests/fuzz/corpus/<target>/ (read only; new inputs go to
# a scratch dir). Prints execs/s per target and the total; exits non-zero on
# the first crash, leak or timeout, leaving the input as
# build-fuzz/crash-<target>-*.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 20)] [TARGET...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=${1:-20}
shift || true
build=${BERTH_FUZZ_BUILD:-$top/build-fuzz}

CC=clang cmake -S . -B "$build" -DBERTH_FUZZ=ON -DBERTH_TESTS=OFF -DCMAKE_BUILD_TYPE=Debug \
	>/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for c in tests/fuzz/fuzz_*.c; do
		t=${c#tests/fuzz/fuzz_}
		targets+=("${t%.c}")
	done
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
scratch=$(mktemp -d /tmp/berth-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
total=0
printf '%-12s %10s %8s %10s\n' target execs secs execs/s
for t in "${targets[@]}"; do
	bin="$build/tests/fuzz/fuzz_$t"
	log="$scratch/$t.log"
	if [ -d "tests/fuzz/regress/$t" ] && [ -n "$(ls -A "tests/fuzz/regress/$t")" ]; then
		if ! "$bin" -runs=1 "tests/fuzz/regress/$t"/* >"$log" 2>&1; then
			tail -50 "$log"
			echo "fuzz_$t: a kept regression input fails again" >&2
			exit 1
		fi
	fi
	mkdir -p "$scratch/$t"
	if ! BERTH_FUZZ_RW="$scratch:$build" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$build/crash-$t-" \
		"$scratch/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
		tail -60 "$log"
		echo "fuzz_$t: failed (input in $build/crash-$t-*)" >&2
		exit 1
	fi
	n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	s=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
	[ -n "$s" ] && [ "$s" -gt 0 ] || s=$secs
	printf '%-12s %10d %8d %10d\n' "$t" "$n" "$s" $((n / s))
	total=$((total + n))
done
echo "total executions: $total, 0 crashes"
