#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fuzz throughput: runs every libFuzzer target (scripts/fuzz.sh) for SECONDS
# each (default 300) and prints execs/s per target and the total executions
# before the stop. A crash stops the run and fails it (docs/robustness.md).
# Usage: bench/fuzz_bench.sh [SECONDS] [TARGET...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
shift || true
exec bash "$top/scripts/fuzz.sh" "$secs" "$@"
