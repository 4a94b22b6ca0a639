"""The demo job API: a queue, a pool of workers and a queue-depth metric, with faults
for tests.

Routes:

- `POST /jobs` — a JSON body (any object; its content is kept as `input`) makes a job:
  202 `{"id": "...", "state": "queued"}`, or `full_status` (429 or 503, with
  `Retry-After: 1`) and `{"error": "queue full"}` when `queue_limit` jobs are waiting;
  400 for a body that is not a JSON object.
- `GET /jobs/{id}` — `{"id", "state": queued|running|done|failed, "progress": 0..1,
  "processing_ms": ms or null}` (404 for an unknown id). `processing_ms` is the time a
  worker spent on the job, set when it ends; `"error"` says why a failed job failed.
- `GET /jobs/{id}/events` — Server-Sent Events: the job's document as `data:` each time
  it changes (the first at once), the stream ending after a terminal state.
- `GET /jobs/{id}/ws` — a WebSocket of the job's progress: the job's document as a text
  message each time it changes (the first at once), then a close (1000) after a
  terminal state; a 404 (no upgrade) for an unknown id.
- `GET /queue` — `{"depth", "running", "done", "failed", "submitted", "rejected"}`.
- `GET /metrics` — the same as Prometheus text (`queue_depth`, `jobs_running` gauges;
  `jobs_submitted_total`, `jobs_rejected_total`, `jobs_done_total`, `jobs_failed_total`
  counters), for `driver run --metrics-url`.
- `GET /health` — `{"ok": true}`.

A job waits in the queue until one of `workers` takes it, then runs for a time drawn
from `processing_ms` (`distribution`: constant, uniform over ±`spread_ms`, or
exponential with that mean; seeded), reporting progress in `progress_steps` steps, and
ends done or, with probability `fail_share`, failed.

Faults: `hang_every=N` — every Nth job is taken by a worker and never finishes (it stays
running, its worker moves on); `reset_poll_every=N` — every Nth `GET /jobs/{id}` is
answered by a TCP reset; `stall_poll_every=N` — every Nth is never answered;
`cut_events_every=N` — every Nth event stream, SSE or WebSocket, is cut (a TCP reset)
after its first event.

Run it with `python -m driver.targets.jobs_demo --port 8090`; the tests use
`driver.targets.process.JobsDemoTargetProcess` for one in its own process.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from driver.targets.serving import LISTENING_PREFIX, serve_app

__all__ = ["JobsConfig", "LISTENING_PREFIX", "TERMINAL", "main", "make_app", "parser", "serve"]

TERMINAL = ("done", "failed")
DISTRIBUTIONS = ("constant", "uniform", "exponential")
KEEP_JOBS = 200_000  # jobs remembered; the oldest finished ones are forgotten past it
STALL_S = 3600.0  # how long a stalled poll waits (the client gives up long before)
_JSON = "application/json"


@dataclass(frozen=True)
class JobsConfig:
    """How the queue behaves (see the module docstring); checked on creation."""

    workers: int = 4
    processing_ms: float = 50.0
    distribution: str = "constant"
    spread_ms: float = 0.0
    fail_share: float = 0.0
    queue_limit: int = 1000
    full_status: int = 429
    progress_steps: int = 4
    hang_every: int = 0
    reset_poll_every: int = 0
    stall_poll_every: int = 0
    seed: int = 1
    cut_events_every: int = 0

    def __post_init__(self) -> None:
        for name in ("workers", "queue_limit", "progress_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("hang_every", "reset_poll_every", "stall_poll_every", "cut_events_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.processing_ms < 0 or self.spread_ms < 0:
            raise ValueError("processing_ms and spread_ms must be >= 0")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}")
        if not 0.0 <= self.fail_share <= 1.0:
            raise ValueError(f"fail_share must be between 0 and 1, got {self.fail_share!r}")
        if self.full_status not in (429, 503):
            raise ValueError(f"full_status must be 429 or 503, got {self.full_status!r}")


class _Job:
    __slots__ = ("id", "input", "state", "progress", "processing_ms", "error", "waiters")

    def __init__(self, job_id: str, body: dict) -> None:
        self.id = job_id
        self.input = body
        self.state = "queued"
        self.progress = 0.0
        self.processing_ms: float | None = None
        self.error: str | None = None
        self.waiters: list[asyncio.Future] = []  # event streams waiting for the next change

    def doc(self) -> dict:
        out = {"id": self.id, "state": self.state, "progress": self.progress, "processing_ms": self.processing_ms}
        if self.error is not None:
            out["error"] = self.error
        return out

    def changed(self) -> None:
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)


class _Queue:
    """The jobs, the waiting queue, the workers and the counts."""

    def __init__(self, config: JobsConfig) -> None:
        self.config = config
        self.jobs: dict[str, _Job] = {}
        self.waiting: asyncio.Queue | None = None
        self.rng = random.Random(config.seed)
        self.numbers = itertools.count(1)
        self.polls = itertools.count(1)
        self.streams = itertools.count(1)
        self.running = self.submitted = self.rejected = self.done = self.failed = 0
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.waiting = asyncio.Queue()
        self.tasks = [asyncio.get_running_loop().create_task(self._work()) for _ in range(self.config.workers)]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    @property
    def depth(self) -> int:
        return self.waiting.qsize() if self.waiting is not None else 0

    def submit(self, body: dict) -> _Job | None:
        if self.depth >= self.config.queue_limit:
            self.rejected += 1
            return None
        n = next(self.numbers)
        job = _Job(f"j{n}", body)
        self.jobs[job.id] = job
        if len(self.jobs) > KEEP_JOBS:
            oldest = next(iter(self.jobs.values()))
            if oldest.state in TERMINAL:
                del self.jobs[oldest.id]
        self.submitted += 1
        self.waiting.put_nowait((n, job))
        return job

    def _duration_s(self) -> float:
        c = self.config
        if c.distribution == "uniform":
            ms = self.rng.uniform(max(0.0, c.processing_ms - c.spread_ms), c.processing_ms + c.spread_ms)
        elif c.distribution == "exponential":
            ms = self.rng.expovariate(1.0 / c.processing_ms) if c.processing_ms > 0 else 0.0
        else:
            ms = c.processing_ms
        return ms / 1000.0

    async def _work(self) -> None:
        c = self.config
        while True:
            n, job = await self.waiting.get()
            job.state = "running"
            self.running += 1
            job.changed()
            if c.hang_every and n % c.hang_every == 0:
                continue  # taken and never finished: it stays running
            started = time.perf_counter()
            duration = self._duration_s()
            fails = self.rng.random() < c.fail_share
            for step in range(1, c.progress_steps + 1):
                await asyncio.sleep(duration / c.progress_steps)
                if step < c.progress_steps:
                    job.progress = step / c.progress_steps
                    job.changed()
            job.processing_ms = round((time.perf_counter() - started) * 1000.0, 3)
            self.running -= 1
            if fails:
                job.state, job.error = "failed", "simulated failure"
                self.failed += 1
            else:
                job.state, job.progress = "done", 1.0
                self.done += 1
            job.changed()

    def counts(self) -> dict:
        return {"depth": self.depth, "running": self.running, "done": self.done, "failed": self.failed,
                "submitted": self.submitted, "rejected": self.rejected}


def _json(doc: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type=_JSON, headers=headers)


def make_app(config: JobsConfig | None = None, **options: Any) -> web.Application:
    """The aiohttp application: a JobsConfig, or its fields as keywords (checked here)."""
    config = config or JobsConfig(**options)
    queue = _Queue(config)
    app = web.Application()

    async def submit(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            return _json({"error": "the body must be a JSON object"}, 400)
        job = queue.submit(body)
        if job is None:
            return _json({"error": "queue full"}, config.full_status, {"Retry-After": "1"})
        return _json({"id": job.id, "state": job.state}, 202)

    async def status(request: web.Request) -> web.StreamResponse:
        n = next(queue.polls)
        if config.reset_poll_every and n % config.reset_poll_every == 0 and request.transport is not None:
            request.transport.abort()  # RST: no answer at all
            raise web.HTTPServiceUnavailable()  # not sent: the connection is gone
        if config.stall_poll_every and n % config.stall_poll_every == 0:
            await asyncio.sleep(STALL_S)
        job = queue.jobs.get(request.match_info["id"])
        if job is None:
            return _json({"error": "no such job"}, 404)
        return _json(job.doc())

    async def events(request: web.Request) -> web.StreamResponse:
        job = queue.jobs.get(request.match_info["id"])
        if job is None:
            return _json({"error": "no such job"}, 404)
        n = next(queue.streams)
        cut = config.cut_events_every and n % config.cut_events_every == 0
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        while True:
            changed = loop.create_future()
            job.waiters.append(changed)
            await resp.write(b"data: " + orjson.dumps(job.doc()) + b"\n\n")
            if job.state in TERMINAL:
                break
            if cut and request.transport is not None:
                request.transport.abort()  # the stream ends mid-way, without its last chunk
                return resp
            await changed
        await resp.write_eof()
        return resp

    async def progress_ws(request: web.Request) -> web.StreamResponse:
        job = queue.jobs.get(request.match_info["id"])
        if job is None:
            return _json({"error": "no such job"}, 404)
        n = next(queue.streams)
        cut = config.cut_events_every and n % config.cut_events_every == 0
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        while not ws.closed:
            changed = loop.create_future()
            job.waiters.append(changed)
            await ws.send_str(orjson.dumps(job.doc()).decode())
            if job.state in TERMINAL:
                break
            if cut and request.transport is not None:
                request.transport.abort()  # the stream ends mid-way, without a close frame
                return ws
            await changed
        await ws.close()
        return ws

    async def depth(request: web.Request) -> web.Response:
        return _json(queue.counts())

    async def metrics(request: web.Request) -> web.Response:
        c = queue.counts()
        lines = []
        for name, kind, value, what in (
                ("queue_depth", "gauge", c["depth"], "jobs waiting for a worker"),
                ("jobs_running", "gauge", c["running"], "jobs a worker is on"),
                ("jobs_submitted_total", "counter", c["submitted"], "jobs accepted"),
                ("jobs_rejected_total", "counter", c["rejected"], "submissions refused, the queue full"),
                ("jobs_done_total", "counter", c["done"], "jobs finished done"),
                ("jobs_failed_total", "counter", c["failed"], "jobs finished failed")):
            family = name[:-6] if kind == "counter" else name
            lines += [f"# HELP {family} {what}", f"# TYPE {family} {kind}", f"{name} {value}"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain",
                            headers={"X-Exposition": "0.0.4"})

    async def health(request: web.Request) -> web.Response:
        return _json({"ok": True})

    async def on_startup(app: web.Application) -> None:
        queue.start()

    async def on_cleanup(app: web.Application) -> None:
        await queue.stop()

    app.router.add_post("/jobs", submit)
    app.router.add_get("/jobs/{id}", status)
    app.router.add_get("/jobs/{id}/events", events)
    app.router.add_get("/jobs/{id}/ws", progress_ws)
    app.router.add_get("/queue", depth)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app["queue"] = queue
    return app


def serve(host: str = "127.0.0.1", port: int = 0, config: JobsConfig | None = None) -> None:
    """Run on uvloop until SIGTERM/SIGINT; prints `demo target listening on http://HOST:PORT`."""
    import uvloop

    uvloop.run(serve_app(host, port, make_app(config or JobsConfig())))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m driver.targets.jobs_demo",
                                description="A job API with a queue and workers to point driver at.")
    add = p.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8090, help="0 picks a free port")
    add("--workers", type=int, default=4, help="jobs processed at the same time")
    add("--processing-ms", type=float, default=50.0, metavar="MS", help="processing time (the mean)")
    add("--distribution", default="constant", choices=DISTRIBUTIONS)
    add("--spread-ms", type=float, default=0.0, metavar="MS", help="uniform: ± this around --processing-ms")
    add("--fail-share", type=float, default=0.0, metavar="P", help="share of jobs that end failed (0..1)")
    add("--queue-limit", type=int, default=1000, metavar="N", help="waiting jobs before submissions are refused")
    add("--full-status", type=int, default=429, choices=(429, 503), help="the answer when the queue is full")
    add("--progress-steps", type=int, default=4, metavar="N")
    add("--seed", type=int, default=1)
    f = p.add_argument_group("faults", "each on every Nth job or poll (0 = none)")
    f.add_argument("--hang-every", type=int, default=0, metavar="N", help="these jobs never finish")
    f.add_argument("--reset-poll-every", type=int, default=0, metavar="N", help="reset these GET /jobs/{id}")
    f.add_argument("--stall-poll-every", type=int, default=0, metavar="N", help="never answer these GET /jobs/{id}")
    f.add_argument("--cut-events-every", type=int, default=0, metavar="N", help="cut these event streams")
    return p


def parse(argv: list[str] | None = None) -> dict[str, Any]:
    """Flags -> `serve`'s keywords; a bad value exits 2 with one error line."""
    p = parser()
    a = p.parse_args(argv)
    try:
        config = JobsConfig(a.workers, a.processing_ms, a.distribution, a.spread_ms, a.fail_share, a.queue_limit,
                            a.full_status, a.progress_steps, a.hang_every, a.reset_poll_every, a.stall_poll_every,
                            a.seed, a.cut_events_every)
    except ValueError as e:
        name, rest = str(e).split(" ", 1)
        p.error(f"--{name.replace('_', '-')} {rest}")
    return {"host": a.host, "port": a.port, "config": config}


def main(argv: list[str] | None = None) -> None:
    """`python -m driver.targets.jobs_demo [flags]`."""
    serve(**parse(argv))


if __name__ == "__main__":
    main()
