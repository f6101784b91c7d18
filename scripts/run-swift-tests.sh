#!/usr/bin/env bash
# Runs the Swift test suites under a watchdog: a run that exceeds WAYBILL_TEST_TIMEOUT_SECONDS
# (default 1500) is stopped and the tests that started but never finished are listed, so a hang
# costs minutes and names its culprit instead of silently eating CI's whole budget.
set -uo pipefail
cd "$(dirname "$0")/.."
timeout_seconds="${WAYBILL_TEST_TIMEOUT_SECONDS:-1500}"
log="$(mktemp -t waybill-swift-tests.XXXXXX)"
# At most this many tests run at once (swift-testing otherwise starts them all): the suites start
# servers, processes and TLS handshakes, and hundreds at once on 2 cores starved each other into
# timeouts in fresh-clone CI runs; 8 at once takes about as long and is calm.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${WAYBILL_TEST_PARALLELISM:-8}"
timeout --kill-after=30 "$timeout_seconds" swift test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "== the Swift tests did not finish within ${timeout_seconds}s; started but never finished:"
  python3 - "$log" <<'PY'
import re, sys
open_tests = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    started = re.search(r'Test "(.*)" started\.', line)
    if started:
        open_tests[started.group(1)] = open_tests.get(started.group(1), 0) + 1
        continue
    ended = re.search(r'Test "(.*)" (passed|failed|skipped)', line)
    if ended and open_tests.get(ended.group(1)):
        open_tests[ended.group(1)] -= 1
for name, count in open_tests.items():
    if count > 0:
        print("  -", name)
PY
fi
rm -f "$log"
exit "$status"
