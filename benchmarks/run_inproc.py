"""In-process overhead: CPU per call of driver's in-process unit around an empty
coroutine, beside a plain asyncio loop of `await f()`.

    python benchmarks/run_inproc.py                      # 1,000,000 calls a run, 3 interleaved rounds
    python benchmarks/run_inproc.py --loop uvloop        # every variant on uvloop (as driver's workers)
    python benchmarks/run_inproc.py --calls 2000 --rounds 1 --json   # seconds: checks the harness only

Variants, each calling `async def empty(): pass` --calls times in this process:

| variant | what runs |
| --- | --- |
| plain | one coroutine: `for _ in range(n): await empty()` (the floor: no task, no timing) |
| plain_tasks | --users coroutines, each awaiting a task of its own per call, n in all |
| driver | `run_load(empty, users=--users, requests=n, memory=False)` (driver.runner.inline) |

plain_tasks is what any concurrent caller pays (a task per call); driver adds the
scheduler, the unit, the outcome classified, and every call timed and recorded in
the HDR histogram.

CPU: time.process_time() around each run (user+sys of this process), divided by the
calls; driver's run includes its set-up (the block, the loop's start), amortised over
the calls. Rounds run the variants interleaved; the table quotes the median per
variant, and driver's ratio to each plain variant. The figures are written by the
lead from a quiet machine; this script only measures and prints.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's driver

from driver.runner.inline import run_load  # noqa: E402

VARIANTS = ("plain", "plain_tasks", "driver")


async def empty() -> None:
    pass


async def _plain(n: int) -> int:
    for _ in range(n):
        await empty()
    return n


async def _plain_tasks(n: int, users: int) -> int:
    done = 0

    async def user(share: int) -> None:
        nonlocal done
        loop = asyncio.get_running_loop()
        for _ in range(share):
            await loop.create_task(empty())
            done += 1

    await asyncio.gather(*(user(n // users + (1 if i < n % users else 0)) for i in range(users)))
    return done


def measure(variant: str, n: int, users: int) -> dict:
    """{"variant", "calls", "cpu_s", "cpu_us_per_call"} of one run."""
    t0 = time.process_time()
    if variant == "plain":
        calls = asyncio.run(_plain(n))
    elif variant == "plain_tasks":
        calls = asyncio.run(_plain_tasks(n, users))
    else:
        result = run_load(empty, users=users, requests=n, memory=False)
        if result.errors or result.success != n:
            raise RuntimeError(f"driver: {result.success} of {n} calls succeeded, {result.errors} errors")
        calls = result.success
    cpu = time.process_time() - t0
    return {"variant": variant, "calls": calls, "cpu_s": cpu, "cpu_us_per_call": cpu / calls * 1e6}


def bench(n: int, users: int, rounds: int) -> dict:
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            runs[variant].append(measure(variant, n, users))
    medians = {v: statistics.median(r["cpu_us_per_call"] for r in runs[v]) for v in VARIANTS}
    return {"calls": n, "users": users, "rounds": rounds, "loop": type(asyncio.new_event_loop()).__name__,
            "runs": runs, "median_cpu_us_per_call": medians,
            "ratio_driver_to_plain": medians["driver"] / medians["plain"],
            "ratio_driver_to_plain_tasks": medians["driver"] / medians["plain_tasks"]}


def table(out: dict) -> str:
    m = out["median_cpu_us_per_call"]
    lines = [f"{out['calls']:,} calls a run, {out['users']} users, {out['rounds']} rounds, {out['loop']}",
             "", "| variant | CPU µs per call (median) |", "| --- | --- |"]
    lines += [f"| {v} | {m[v]:.3f} |" for v in VARIANTS]
    lines += ["", f"driver / plain: {out['ratio_driver_to_plain']:.2f}x; "
                  f"driver / plain_tasks: {out['ratio_driver_to_plain_tasks']:.2f}x"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    if args.calls < args.users or args.users < 1 or args.rounds < 1:
        ap.error("--calls >= --users >= 1 and --rounds >= 1")
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    out = bench(args.calls, args.users, args.rounds)
    print(json.dumps(out) if args.json else table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
