"""Nanoseconds per recorded sample: compiled driver._recorder vs the pure-Python reference.

Three ways, each repeated (default 5) and reported as the median:

  bulk      rec.record_array(0, H_LATENCY, values) over N log-uniform values
            (the reference's record_array is vectorised numpy, not a Python loop)
  record    `for v in values: record(0, H_LATENCY, v)`, one Python call per sample
  response  `for v in values: response(0, 200, 512, v, -1)`, one Python call per sample

plus the bare `for v in values: pass` loop, the floor any per-call figure includes.
Values are log-uniform over 1 ns .. 2 h, so a few clamp. Usage:

    python benchmarks/bench_record.py [--n 10000000] [--calls 1000000] [--write FILE]
"""
from __future__ import annotations

import argparse
import math
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driver import recorder as reference  # noqa: E402
from driver.layout import H_LATENCY, BlockLayout  # noqa: E402

try:
    from driver import _recorder as compiled
except ImportError as exc:  # still benchmark the reference
    compiled = None
    print(f"driver._recorder not built ({exc}); benchmarking the reference only", file=sys.stderr)


def log_uniform(n: int, seed: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(0.0, math.log(7.2e12), n)).astype(np.int64)


def new_recorder(module):
    layout = BlockLayout(1)
    block = np.empty(layout.length, dtype=np.int64)
    layout.initialise(block)
    return module.Recorder(block, 1)


def timed(fn, n: int, repeats: int, module) -> float:
    """Median ns per sample of fn(recorder) over `repeats` fresh recorders."""
    runs = []
    for _ in range(repeats):
        rec = new_recorder(module)
        start = time.perf_counter_ns()
        fn(rec)
        runs.append((time.perf_counter_ns() - start) / n)
    return statistics.median(runs)


def bulk(values):
    def run(rec):
        rec.record_array(0, H_LATENCY, values)
    return run


def per_record(values):
    def run(rec):
        record = rec.record
        for v in values:
            record(0, H_LATENCY, v)
    return run


def per_response(values):
    def run(rec):
        response = rec.response
        for v in values:
            response(0, 200, 512, v, -1)
    return run


def loop_only(values):
    def run(rec):
        for v in values:
            pass
    return run


def measure(n: int, calls: int, ref_calls: int, repeats: int) -> list[tuple[str, float | None, float]]:
    values = log_uniform(n)
    call_values = values[:calls].tolist()
    ref_values = values[:ref_calls].tolist()
    rows = []
    for name, make, c_vals, r_vals, c_n, r_n in [
        (f"bulk: record_array, {n:,} values", bulk, values, values, n, n),
        (f"per call: record() ({calls:,} / {ref_calls:,} calls)", per_record, call_values, ref_values, calls, ref_calls),
        (f"per call: response() ({calls:,} / {ref_calls:,} calls)", per_response, call_values, ref_values, calls, ref_calls),
    ]:
        c = timed(make(c_vals), c_n, repeats, compiled) if compiled else None
        r = timed(make(r_vals), r_n, repeats, reference)
        rows.append((name, c, r))
    floor = timed(loop_only(call_values), calls, repeats, reference)
    return rows, floor


def table(rows, floor: float) -> str:
    lines = [
        "| way | compiled ns/sample | reference ns/sample | reference / compiled |",
        "|---|---:|---:|---:|",
    ]
    for name, c, r in rows:
        if c:
            lines.append(f"| {name} | {c:.1f} | {r:.1f} | {r / c:.0f}x |")
        else:
            lines.append(f"| {name} | not built | {r:.1f} | - |")
    lines.append("")
    lines.append(f"The per-call rows include the bare Python `for` loop: {floor:.1f} ns per value.")
    lines.append("The reference bulk row is vectorised numpy, not a Python loop.")
    bulk, per_call = rows[0][1], rows[1][1]
    if bulk and per_call:
        lines.append("")
        lines.append(f"Goal, ≤ {GOAL_NS:g} ns per sample compiled: **{'met' if bulk <= GOAL_NS else 'not met'}** "
                     f"for the recording itself ({bulk:.1f} ns per sample in bulk); **"
                     f"{'met' if per_call <= GOAL_NS else 'not met'}** for one call from Python per sample "
                     f"({per_call:.1f} ns), which is mostly CPython's call overhead: an empty method of a Cython "
                     f"class costs about as much. The client makes one such call per response (`response()`), "
                     f"which records the counters and both histograms at once.")
    return "\n".join(lines)


GOAL_NS = 25.0


def environment(argv: list[str]) -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import Cython

        cython_version = Cython.__version__
    except ImportError:
        cython_version = "not installed"
    return "\n".join([
        f"- CPU: {cpu} ({platform.machine()})",
        f"- Python {platform.python_version()}, Cython {cython_version}, numpy {np.__version__}",
        f"- command: `{shlex.join(['python', *argv])}`",
        "- median of the repeats; log-uniform values over 1 ns .. 2 h",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="values for the bulk run")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls per per-call run (compiled)")
    parser.add_argument("--ref-calls", type=int, default=200_000, help="calls per per-call run (reference)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", metavar="FILE",
                        help="also write the table into FILE's <!-- record --> section (e.g. benchmarks/RESULTS.md)")
    args = parser.parse_args(argv)
    rows, floor = measure(args.n, args.calls, args.ref_calls, args.repeats)
    report = f"## Recording cost per sample (`bench_record.py`)\n\n{table(rows, floor)}\n\n{environment(sys.argv)}\n"
    print(report)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from common import update_section

        update_section(Path(args.write), "record", report)


if __name__ == "__main__":
    main()
