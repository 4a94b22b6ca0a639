"""Microseconds per request that a YAML scenario's steps cost in-process, without I/O.

The CPU a YAML task spends besides the connection: rendering the body (generated
Telegram / WhatsApp updates, templates), the path and the headers, and running the
step's code around `self.http.request` (checks included). The session is replaced by
one whose `request` returns a canned 200 at once, so the figure leaves out the
request's encoding, the connection, the event loop and the task pick (those are the
engine's; run_scenario.py measures the whole). Users are the scenario's first 64.

Rows: each task's body alone; the weighted mix of bodies (one pick per request, drawn
beforehand, as the scenario's weights); the weighted mix of whole task calls, the
coroutine of each awaited to its end; the bare loop both mixes include. Medians of
--repeats runs of --n requests.

    python benchmarks/bench_steps.py                              # benchmarks/scenario.yaml
    python benchmarks/bench_steps.py --config examples/telegram_bot.yaml --n 20000
    python benchmarks/bench_steps.py --driver-root benchmarks/out/driver-build-COMMIT   # another build
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def _import_driver(root: str | None):
    sys.path.insert(0, str(Path(root).resolve() if root else BENCH_DIR.parent))
    from driver.config import load_config
    from driver.payloads.users import UserPool
    from driver.scenario import yamltasks
    from driver.scenario.session import Response

    return load_config, UserPool, yamltasks, Response


class _Engine:
    """What the steps read of their engine: the scenario spec and the worker's place."""

    def __init__(self, spec):
        self.spec, self.index, self.n_workers = spec, 0, 1


def _session_class(response_cls):
    class Session:
        """A session whose requests all answer 200 at once (no I/O)."""

        def __init__(self, engine):
            self.engine = engine

        async def request(self, method, path, *, json=None, body=None, headers=None, name=None, expect=None):
            return response_cls(self, 0, name, 200, (), b"", None, 1000)

        def record_checks(self, slot, n_checks, failures):
            pass

    return Session


def _median_us(run, n: int, repeats: int) -> float:
    """Median CPU µs per item of run(n): this process's CPU time, so that time spent
    waiting for a core (other processes on a busy machine) does not count."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time_ns()
        run(n)
        times.append((time.process_time_ns() - t0) / n / 1000)
    return statistics.median(times)


def measure(config: str, n: int, repeats: int, driver_root: str | None) -> list[tuple[str, float]]:
    load_config, UserPool, yamltasks, Response = _import_driver(driver_root)
    os.environ.setdefault("DRIVER_BENCH_URL", "http://127.0.0.1:9")
    plan = load_config(config)
    cls = yamltasks.build_user_class(plan.scenario)
    engine = _Engine(plan.scenario)
    session = _session_class(Response)(engine)
    pool = UserPool(plan.user_pool, 0, 1, 64)
    users = [cls(session, pool.user(i), random.Random(i)) for i in range(64)]
    tasks = cls.tasks()
    names = [name for name, _ in tasks]
    # the _Step behind each task method (a closure over it)
    steps = [next(c.cell_contents for c in getattr(cls, name).__closure__
                  if isinstance(c.cell_contents, yamltasks._Step)) for name in names]
    cum = list(itertools.accumulate(w for _, w in tasks))
    picks = random.Random(1).choices(range(len(names)), cum_weights=cum, k=n)
    rows = []

    def loop(k: int) -> None:
        for i in range(k):
            picks[i], users[i & 63]

    rows.append(("bare loop (included in the rows below)", _median_us(loop, n, repeats)))
    for name, step in zip(names, steps):
        def one(k: int, step=step) -> None:
            body = step._body
            for i in range(k):
                body(users[i & 63], engine)
        rows.append((f"body of `{step.name}`", _median_us(one, n, repeats)))

    def mix(k: int) -> None:
        for i in range(k):
            steps[picks[i]]._body(users[i & 63], engine)
    rows.append(("body, weighted mix of the tasks", _median_us(mix, n, repeats)))

    methods = [[getattr(u, name) for name in names] for u in users]

    async def tasks_mix(k: int) -> None:
        for i in range(k):
            await methods[i & 63][picks[i]]()

    loop_ = asyncio.new_event_loop()
    try:
        rows.append(("whole task (body, path, headers, step code, check), weighted mix",
                     _median_us(lambda k: loop_.run_until_complete(tasks_mix(k)), n, repeats)))
    finally:
        loop_.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(BENCH_DIR / "scenario.yaml"), help="a YAML scenario (tasks, not flows)")
    ap.add_argument("--n", type=int, default=50_000, help="requests per run (default 50,000)")
    ap.add_argument("--repeats", type=int, default=5, help="runs; the median is kept (default 5)")
    ap.add_argument("--driver-root", default=None,
                    help="import driver from this directory (default: this repository)")
    a = ap.parse_args(argv)
    rows = measure(a.config, a.n, a.repeats, a.driver_root)
    print(f"| {Path(a.config).name}: in-process, no I/O | µs per request |")
    print("| :--- | ---: |")
    for label, us in rows:
        print(f"| {label} | {us:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
