#!/usr/bin/env bash
# Every test: the Swift suites, the generated-code drift check, the C client's tests under
# valgrind, the C <-> Swift and Python interop tests against a live server, and the operator
# console's end-to-end tests in a real browser (alone, and over a simulated run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

echo "== build (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors

echo "== swift tests"
scripts/run-swift-tests.sh

echo "== generated protobuf code matches proto/"
scripts/generate-proto.sh --check

echo "== compiled city centroids match simulator/data/us-cities.csv"
scripts/generate-gazetteer.sh --check

echo "== C client tests (valgrind)"
make -C clients/c test

echo "== C <-> Swift interop against a live server"
WAYBILL_BIN="$(swift build --show-bin-path)/waybill" clients/c/interop-test.sh
echo "== Python grpcio stubs <-> Swift server over standard gRPC"
WAYBILL_BIN="$(swift build --show-bin-path)/waybill" clients/python/interop-test.sh
echo "== operator console in a real browser (chromium): screenshots in ci-artifacts/console"
WAYBILL_BIN="$(swift build --show-bin-path)/waybill" e2e/console-e2e.sh
echo "== the console over a simulated run (smoke scenario; the full day: e2e/console-after-sim.sh, docs/CONSOLE.md)"
WAYBILL_BIN="$(swift build --show-bin-path)/waybill" e2e/console-after-sim.sh simulator/scenarios/smoke.json
echo "all tests passed"
