#!/usr/bin/env python3
"""Summarises a live run's slow log (scenario live.server.slow_log_milliseconds > 0, written to
stderr) with its report.json: prunes, writer batches and server-side calls over the threshold, and
what held the writer while each slow call waited. Used for docs/PERFORMANCE.md "Three days of pruning".

    waybill sim simulator/scenarios/three-days.json --report-dir r 2> run.log
    scripts/slow-log-summary.py run.log r/report.json

Attribution: a slow batch is a prune's when the server's "pruned N change-feed events" line (written
as that batch answers its jobs) comes at most 5 ms before the batch's own line. A slow call is
attributed to the slow batches that ended while it waited (from its start to 5 ms after its end):
"prune" if one of them is a prune's, "other batch" if only others, "no slow batch" if none (the
call was slow for another reason: CPU, the event loops). Prunes under the threshold are not seen as
batches (only their log line). The first SETUP_SECONDS (the initial stock load) are left out.
"""
import collections, json, re, sys

SETUP_SECONDS = 10.0
LINE = re.compile(r'^\[\s*([\d.]+) s\] (.*)$')
PRUNE = re.compile(r'info waybill-sim-server: pruned (\d+) change-feed events')
BATCH = re.compile(r'slow writer batch ([\d.]+) ms: run ([\d.]+) ms, commit ([\d.]+) ms, (\d+) jobs')
CALL = re.compile(r'slow call (\S+) (\S+) ([\d.]+) ms')


def read(log):
    prunes, batches, calls = [], [], []
    for raw in open(log, errors='replace'):
        m = LINE.match(raw.rstrip())
        if not m:
            continue
        t, text = float(m.group(1)), m.group(2)
        if (p := PRUNE.match(text)):
            prunes.append((t, int(p.group(1))))
        elif t < SETUP_SECONDS:
            continue
        elif (b := BATCH.match(text)):
            batches.append(dict(t=t, ms=float(b.group(1)), run=float(b.group(2)), commit=float(b.group(3)), jobs=int(b.group(4))))
        elif (c := CALL.match(text)):
            calls.append(dict(t=t, method=c.group(1).split('/')[-1], ms=float(c.group(3))))
    for b in batches:
        b['prune'] = next((n for pt, n in prunes if 0 <= b['t'] - pt <= 0.005), None)
    for c in calls:
        start = c['t'] - c['ms'] / 1000
        held = [b for b in batches if start - 0.005 <= b['t'] <= c['t'] + 0.005]
        c['cause'] = 'prune' if any(b['prune'] is not None for b in held) else ('other batch' if held else 'no slow batch')
    return prunes, batches, calls


def main(log, report_path):
    prunes, batches, calls = read(log)
    latency = json.load(open(report_path))['latency_ms']
    pruning = [b for b in batches if b['prune'] is not None]
    other = [b for b in batches if b['prune'] is None]
    print(f"prunes that deleted events: {len(prunes)}, events deleted: {sum(n for _, n in prunes):,}")
    print(f"slow prune batches: {len(pruning)}" + (f", max {max(b['ms'] for b in pruning):.0f} ms" if pruning else ""))
    for b in pruning:
        print(f"  {b['t']:8.1f} s  {b['prune']:6,} events  {b['ms']:6.1f} ms (run {b['run']:.1f}, commit {b['commit']:.1f}, {b['jobs']} jobs)")
    print(f"other slow batches: {len(other)}" + (f", max {max(b['ms'] for b in other):.0f} ms" if other else ""))
    if batches:
        print(f"longest batch {max(b['ms'] for b in batches):.0f} ms, longest commit {max(b['commit'] for b in batches):.0f} ms (over the threshold only)")
    causes = collections.Counter(c['cause'] for c in calls)
    print(f"slow server-side calls: {len(calls):,} — " + ", ".join(f"{k} {causes[k]:,}" for k in ('prune', 'other batch', 'no slow batch')))
    print("client-side latency, ms (report.json): method p99 / p99.9 / max")
    for method, figures in sorted(latency.items()):
        print(f"  {method:28} {figures['p99']:8.1f} {figures['p999']:8.1f} {figures['max']:8.1f}")


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit("usage: slow-log-summary.py RUN.log REPORT.json")
    main(sys.argv[1], sys.argv[2])
