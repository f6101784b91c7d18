#!/usr/bin/env bash
# The console over a simulated day: `waybill serve` with the console, a simulation run live against
# it (the scenario's actors with their own credentials), then console_walk.py walks the console in
# Debian's chromium as the administrator and times order search over every order the run captured
# (by email, phone, name, SKU, tracking number, status). Fails when a check of the run fails or a
# search answers in more than the budget (WAYBILL_SEARCH_BUDGET_MS, default 100 ms server-side).
#
#   e2e/console-after-sim.sh [SCENARIO]     default simulator/scenarios/omnichannel-day.json
#                                           (~55k orders; ~8 min with a release build)
# Environment: WAYBILL_BIN (default .build/release/waybill, else .build/debug/waybill),
#              WAYBILL_ARTIFACTS (screenshots in <it>/console-after-sim, default ./ci-artifacts).
# scripts/test.sh runs it on simulator/scenarios/smoke.json; docs/CONSOLE.md has the figures of the
# full day.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
scenario=${1:-$root/simulator/scenarios/omnichannel-day.json}
say() { printf '==> %s\n' "$*"; }
die() { printf 'console after sim: %s\n' "$*" >&2; exit 1; }
python=/usr/bin/python3
"$python" -c 'import selenium' 2>/dev/null || die "python3-selenium missing (scripts/install-deps.sh)"
bin=${WAYBILL_BIN:-}
if [ -z "$bin" ]; then
    if [ -x "$root/.build/release/waybill" ]; then bin=$root/.build/release/waybill; else bin=$root/.build/debug/waybill; fi
fi
[ -x "$bin" ] || die "no waybill binary at $bin (swift build)"
artifacts=${WAYBILL_ARTIFACTS:-$root/ci-artifacts}/console-after-sim
rm -rf "$artifacts" && mkdir -p "$artifacts"

TMP=$(mktemp -d)
server_pid=""
status=1
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ "$status" -eq 0 ]; then rm -rf "$TMP"; else echo "console after sim: server log and files kept in $TMP" >&2; fi
}
trap cleanup EXIT

"$bin" sim "$scenario" --write-credentials "$TMP/credentials.json" >/dev/null
"$python" - "$TMP/credentials.json" "$TMP/admin.token" <<'PY'
import json, os, sys
admins = [c for c in json.load(open(sys.argv[1])) if c["role"] == "admin"]
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, (admins[0]["token"] + "\n").encode())
PY

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port) console=$(free_port)
say "waybill serve on 127.0.0.1:$port, console on 127.0.0.1:$console ($bin)"
"$bin" serve --db "$TMP/waybill.sqlite" --listen "127.0.0.1:$port" --admin-listen off --grpc-listen off \
    --console-listen "127.0.0.1:$console" --credentials-file "$TMP/credentials.json" >"$TMP/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$console/sign-in" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || die "the server exited: $(tail -5 "$TMP/server.log")"
    sleep 0.2
done

say "simulating $(basename "$scenario") against it"
started=$(date +%s)
"$bin" sim "$scenario" --target "127.0.0.1:$port" --credentials "$TMP/credentials.json" \
    --report-dir "$TMP/report" --quiet >"$TMP/sim.log" 2>&1 || die "the simulation failed: $(tail -20 "$TMP/sim.log")"
say "simulated in $(( $(date +%s) - started )) s; $(grep -m1 -i 'orders' "$TMP/sim.log" || true)"

say "walking the console (screenshots in $artifacts)"
"$python" "$here/console_walk.py" "http://127.0.0.1:$console" "$TMP/admin.token" "$artifacts" "${WAYBILL_SEARCH_BUDGET_MS:-100}"
status=0
