#!/usr/bin/env python3
"""Compares one load-regression run with the baseline (see ci/README.md).

Every figure is a ratio measured within the run, so a slower or faster machine moves numerator
and denominator together:
  throughput_ratio  = durable capture orders/s  ÷  raw SQLite ceiling orders/s (same rows, same disk)
  p99_commits       = open-loop p99 capture latency    ÷  median durable-commit latency of the disk
  p999_commits      = open-loop p99.9 capture latency  ÷  median durable-commit latency of the disk
A run fails when throughput_ratio falls below baseline × (1 − band), when a latency ratio rises
above baseline × (1 + band), or when any simulator check fails.
"""
import json
import sys


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def figures(capture_path):
    with open(capture_path) as f:
        capture = json.load(f)
    ceiling = median(capture["ceilingOrdersPerSecond"])
    commit = max(median(capture["commitMilliseconds"]), 0.05)
    latency = capture["openLoop"]
    return {
        "throughput_ratio": median(capture["captureOrdersPerSecond"]) / ceiling,
        "p99_commits": latency["p99"] / commit,
        "p999_commits": latency["p999"] / commit,
        "capture_orders_per_second": median(capture["captureOrdersPerSecond"]),
        "ceiling_orders_per_second": ceiling,
        "commit_ms": commit,
        "p99_ms": latency["p99"],
        "p999_ms": latency["p999"],
    }


def checks(report_path):
    try:
        with open(report_path) as f:
            report = json.load(f)
    except (OSError, ValueError) as error:
        return [("simulator report", False, f"no report: {error}")]
    return [(c["name"], c["passed"], c.get("detail", "")) for c in report.get("checks", [])] or [
        ("simulator report", False, "the report lists no checks")]


def main(argv):
    update = argv[1:2] == ["--update"]
    baseline_path, capture_path, report_path = argv[2:5] if update else argv[1:4]
    measured = figures(capture_path)
    results = checks(report_path)
    failed_checks = [r for r in results if not r[1]]
    if update:
        if failed_checks:
            print("not updating the baseline: simulator checks failed:", failed_checks)
            return 1
        try:
            with open(baseline_path) as f:
                baseline = json.load(f)
        except OSError:
            baseline = {}
        # One run: a first baseline. Calibrate with --runs 10 and put the medians in (ci/README.md).
        baseline["figures"] = {k: round(v, 4) for k, v in measured.items()}
        baseline.setdefault("bands", {"throughput_ratio": 0.25, "p99_commits": 1.0, "p999_commits": 2.0})
        with open(baseline_path, "w") as f:
            json.dump(baseline, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"baseline written to {baseline_path}: {baseline['figures']}")
        return 0
    with open(baseline_path) as f:
        baseline = json.load(f)
    base, bands = baseline["figures"], baseline["bands"]
    verdicts = []
    low = base["throughput_ratio"] * (1 - bands["throughput_ratio"])
    verdicts.append(("throughput_ratio", measured["throughput_ratio"] >= low,
                     f"{measured['throughput_ratio']:.3f} (baseline {base['throughput_ratio']:.3f}, fails below {low:.3f})"))
    for name in ("p99_commits", "p999_commits"):
        high = base[name] * (1 + bands[name])
        verdicts.append((name, measured[name] <= high, f"{measured[name]:.2f} (baseline {base[name]:.2f}, fails above {high:.2f})"))
    print(f"capture {measured['capture_orders_per_second']:.0f}/s vs ceiling {measured['ceiling_orders_per_second']:.0f}/s; "
          f"p99 {measured['p99_ms']:.2f} ms, p99.9 {measured['p999_ms']:.2f} ms; durable commit {measured['commit_ms']:.2f} ms")
    ok = True
    for name, passed, detail in verdicts:
        print(f"  {'ok  ' if passed else 'FAIL'} {name}: {detail}")
        ok &= passed
    for name, passed, detail in results:
        if not passed:
            print(f"  FAIL check {name}: {detail}")
    ok &= not failed_checks
    print(f"  {len(results) - len(failed_checks)}/{len(results)} simulator checks passed")
    print("load regression: " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
