"""Async jobs as a scenario building block: submit over HTTP, then follow each job to a
terminal state by polling, by its Server-Sent Events stream, or by a WebSocket of its
progress (track="ws": driver.scenario.wsprogress).

    class Reports(User):
        @task
        async def report(self):
            await self.jobs.run("report", submit={"path": "/jobs", "json": {"kind": "pdf"}},
                                poll="/jobs/{id}", jobs=20, batch_size=5, timeout=30)

One call runs `jobs` jobs in batches of `batch_size`: a batch is submitted together,
then waited for until each of its jobs ends (or times out) before the next batch goes.
What is recorded, through the worker's ScenarioContext (NAME is the job's name):

- `job:NAME:submit` — the submissions, a request endpoint (latency, status classes,
  429/503 throttled). One check per answer: it passes when the job was accepted (a status
  in `accept`, 2xx by default, and, when tracked, an id at the `id` json path); a failure
  says why (`job rejected: status 429`, `job id: nothing at json path id`).
- `job:NAME:poll`, `job:NAME:events` — the polls and the event streams, SSE or WebSocket
  (request endpoints; a WebSocket stream's answer is its handshake, 101).
- `job:NAME` — an aggregate endpoint: its `sent` the jobs followed, its count the jobs
  completed, its latency the time from the batch's intended start to the success state.
  A failure state counts an `other` error with the reason `job failed`; no terminal
  state within `timeout` a `request_timeout` error with the reason `job timed out after
  T`; a job still followed when the run ends is `unfinished` (its age recorded, as for
  a request). The reasons are kept as a user error's are (the run's failed-checks
  table), not as checks: the error rate judges failed jobs, not the check verdict.
- `job:NAME:first_progress` — the time to the first sign of work: a state that is not
  one of `queued`, or a `progress` value above 0 (sent: jobs followed; count: seen).
- `job:NAME:processing` — the job's own processing time, read at `processing` (a json
  path, in `processing_unit`: ms or s) in the document of its terminal state.

So: submitted = `job:NAME:submit` sent; accepted = its checks passed; rejected = its
check failures; submitted = accepted + rejected + its transport errors (no answer). For
jobs followed: `job:NAME` sent = accepted = completed (count) + failed (`other` errors)
+ timed out (`request_timeout` errors) + unfinished.

A poll that does not answer within the plan's request timeout (or before the job's
deadline) counts a request timeout on `job:NAME:poll`, and the job is polled again on a
new connection; a reset poll or a dropped stream is counted on its endpoint and retried.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson

from driver._speedups import now_ns
from driver.layout import C_ERR_OTHER, C_ERR_REQUEST_TIMEOUT, C_FLOWS, C_SENT, C_UNFINISHED, H_LATENCY
from driver.plan import job_endpoints as endpoint_names  # the names a YAML plan knows
from driver.scenario.session import HttpSession, json_path, status_matches

__all__ = ["JobSpec", "JobCounts", "Jobs", "TRACKS", "UNITS", "endpoint_names"]

TRACKS = ("poll", "events", "ws", "none")  # none: submission only
UNITS = {"ms": 1_000_000, "s": 1_000_000_000}  # ns per unit of a reported processing time


@dataclass(frozen=True)
class JobSpec:
    """How one kind of job is submitted and followed (see the module docstring)."""

    name: str
    track: str = "poll"
    poll: str = "/jobs/{id}"  # the job's status path; {id} is replaced by its id
    events: str = "/jobs/{id}/events"  # its SSE stream (track="events")
    ws: str = "/jobs/{id}/ws"  # its WebSocket progress stream (track="ws")
    id: str = "id"  # json path of the id in the submission's answer
    state: str = "state"  # json path of the state (submission answer, polls, events)
    success: tuple = ("done",)
    failure: tuple = ("failed",)
    queued: tuple = ("queued", "pending")
    progress: str | None = "progress"  # json path of a 0..1 progress, or None
    processing: str | None = None  # json path of the processing time
    processing_unit: str = "ms"
    accept: tuple = ("2xx",)  # submission statuses that mean accepted
    interval_s: float = 0.5  # first poll after this, then each interval times backoff
    backoff: float = 1.0
    max_interval_s: float = 5.0
    timeout_s: float = 60.0  # from the batch's start to a terminal state
    jobs: int = 1
    batch_size: int = 1
    headers: tuple = ()  # (name, value) pairs sent with each poll and stream (the target's auth)

    def __post_init__(self) -> None:
        if self.track not in TRACKS:
            raise ValueError(f"track must be one of {', '.join(TRACKS)}, got {self.track!r}")
        if self.processing_unit not in UNITS:
            raise ValueError(f"processing_unit must be ms or s, got {self.processing_unit!r}")
        for name in ("jobs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if self.interval_s < 0 or self.timeout_s <= 0 or self.backoff < 1 or self.max_interval_s < self.interval_s:
            raise ValueError("needs interval >= 0, timeout > 0, backoff >= 1 and max_interval >= interval")


@dataclass
class JobCounts:
    """What one `Jobs.run` call saw (the same things its endpoints count)."""

    submitted: int = 0
    accepted: int = 0
    rejected: int = 0  # answered, not accepted
    errors: int = 0  # no answer to the submission (transport errors)
    completed: int = 0
    failed: int = 0
    timed_out: int = 0
    unfinished: int = 0
    ids: list = field(default_factory=list)


class _Endpoints:
    """The names and slots of one job name in one worker (no aggregate slots when the jobs
    are not followed)."""

    def __init__(self, ctx, name: str, track: str) -> None:
        base = "job:" + name
        self.submit, self.poll, self.events = base + ":submit", base + ":poll", base + ":events"
        if track != "none":
            self.job = ctx.slot(base)
            self.first = ctx.slot(base + ":first_progress")
            self.processing = ctx.slot(base + ":processing")


class Jobs:
    """`self.jobs` of a virtual user: runs jobs and records them (module docstring)."""

    def __init__(self, user) -> None:
        self.user = user
        self.ctx = user.http.context

    async def run(self, name: str, submit, **options) -> JobCounts:
        """Submit and follow `jobs` jobs of kind `name` in batches; `submit` is a dict
        (`method`, `path`, `json` or `body`, `headers`) or a function of the job's number
        returning one; `options` are JobSpec's fields (`timeout`, `interval`,
        `max_interval` in seconds also under those short names)."""
        for short in ("timeout", "interval", "max_interval"):
            if short in options:
                options[short + "_s"] = options.pop(short)
        return await self.run_spec(JobSpec(name, **options), submit)

    async def run_spec(self, spec: JobSpec, submit) -> JobCounts:
        ctx, counts = self.ctx, JobCounts()
        eps = ctx.shared.get(("jobs", spec.name, spec.track))
        if eps is None:
            eps = ctx.shared[("jobs", spec.name, spec.track)] = _Endpoints(ctx, spec.name, spec.track)
        n_sessions = min(spec.batch_size, spec.jobs)
        sessions = [self.user.http] + [HttpSession(ctx) for _ in range(n_sessions - 1)]
        # open loop: from the iteration's intended start (its arrival), as every latency is
        start = (getattr(self.user, "iteration_start_ns", None) if ctx.open_loop else None) or now_ns()
        done = 0
        client = None
        if spec.track in ("events", "ws"):
            from driver.scenario.sse import client as sse_client

            client = sse_client(ctx)
        try:
            while done < spec.jobs:
                n = min(spec.batch_size, spec.jobs - done)
                batch = [_Job(spec, eps, counts, start) for _ in range(n)]
                await asyncio.gather(*(self._one(job, sessions[i], submit, done + i, client)
                                       for i, job in enumerate(batch)))
                done += n
                start = now_ns()  # the next batch starts when this one ended
        except asyncio.CancelledError:  # the run ended: jobs still followed are unfinished
            now = now_ns()
            for s in sessions[1:]:
                s.abandon(now)
            raise
        finally:
            for s in sessions[1:]:
                s.close()
            if client is not None:
                await asyncio.shield(client.close())
        return counts

    async def _one(self, job: "_Job", session: HttpSession, submit, number: int, client) -> None:
        try:
            doc = await self._submit(job, session, submit(number) if callable(submit) else submit)
            if doc is not None and job.spec.track != "none":
                if not job.observe(self.ctx, doc):
                    await (self._poll(job, session) if client is None else self._stream(job, client))
        except asyncio.CancelledError:
            job.abandon(self.ctx)
            raise

    async def _submit(self, job: "_Job", session: HttpSession, req: dict):
        """Send the submission; the answer's document when the job was accepted, else None."""
        spec, counts, ctx = job.spec, job.counts, self.ctx
        counts.submitted += 1
        body = req.get("body")
        resp = await session.request(req.get("method", "POST"), req["path"], json=req.get("json"), body=body,
                                     headers=req.get("headers"), name=job.eps.submit)
        if resp.error is not None:
            counts.errors += 1
            return None
        reason, doc = None, None
        if not status_matches(resp.status, spec.accept):
            reason = f"job rejected: status {resp.status}"
        elif spec.track != "none":
            try:
                doc = resp.json()
            except orjson.JSONDecodeError:
                doc = None
            job_id = json_path(doc, spec.id) if doc is not None else None
            if job_id is None or isinstance(job_id, (dict, list)):
                reason = f"job id: nothing at json path {spec.id}"
            else:
                job.id = str(job_id)
        ctx.checks(resp.slot, 1, [reason] if reason else ())
        if reason:
            counts.rejected += 1
            return None
        counts.accepted += 1
        if job.id is not None:
            counts.ids.append(job.id)
        if spec.track == "none":
            return None
        job.tracked = True
        ctx.count(job.eps.job, C_SENT, 1)  # an aggregate's sent: jobs followed (as replies followed)
        ctx.count(job.eps.first, C_SENT, 1)
        return doc

    async def _poll(self, job: "_Job", session: HttpSession) -> None:
        spec, ctx = job.spec, self.ctx
        path = spec.poll.replace("{id}", job.id)
        interval = spec.interval_s
        limit_s = ctx.plan.request_timeout_s
        headers = dict(spec.headers) or None
        while True:
            left = job.left_s()
            if left <= 0:
                return job.timed_out(ctx)
            await asyncio.sleep(min(interval, left))
            interval = min(interval * spec.backoff, spec.max_interval_s)
            left = job.left_s()
            if left <= 0:
                return job.timed_out(ctx)
            timer = ctx.loop.call_later(min(limit_s, left), _expire, session)
            try:
                resp = await session.request("GET", path, headers=headers, name=job.eps.poll)
            finally:
                timer.cancel()
            if resp.error is None and resp.status == 200:
                try:
                    if job.observe(ctx, resp.json()):
                        return None
                except orjson.JSONDecodeError:
                    pass

    async def _stream(self, job: "_Job", client) -> None:
        """Follow the job's SSE stream or WebSocket (aiohttp: the fast client reads whole
        bodies only), opening it again when it drops, until a terminal state or the deadline."""
        from driver.scenario.sse import follow
        from driver.scenario.wsprogress import follow_ws

        ctx, spec = self.ctx, job.spec
        path = (spec.ws if spec.track == "ws" else spec.events).replace("{id}", job.id)
        reader = follow_ws if spec.track == "ws" else follow
        try:
            await asyncio.wait_for(reader(client, ctx, path, job.eps.events, lambda doc: job.observe(ctx, doc),
                                          max(job.spec.interval_s, 0.01), dict(job.spec.headers)),
                                   max(job.left_s(), 0.0))
        except asyncio.TimeoutError:
            job.timed_out(ctx)


def _expire(session: HttpSession) -> None:
    """A poll past its limit: counted as a request timeout, its connection dropped."""
    conn = session.conn
    if conn is not None and conn.busy:
        conn.timed_out()


class _Job:
    """One job being followed: its id, its deadline, and what was recorded for it."""

    __slots__ = ("spec", "eps", "counts", "start_ns", "id", "tracked", "ended", "progressed")

    def __init__(self, spec: JobSpec, eps: _Endpoints, counts: JobCounts, start_ns: int) -> None:
        self.spec, self.eps, self.counts, self.start_ns = spec, eps, counts, start_ns
        self.id = None
        self.tracked = False  # accepted and followed: it must end in one of the four ways
        self.ended = False
        self.progressed = False

    def left_s(self) -> float:
        return self.spec.timeout_s - (now_ns() - self.start_ns) / 1e9

    def observe(self, ctx, doc) -> bool:
        """Take in a document of the job (an answer, a poll, an event); True when it ended."""
        if self.ended:
            return True
        spec, now = self.spec, now_ns()
        state = json_path(doc, spec.state) if isinstance(doc, (dict, list)) else None
        if not self.progressed:
            progress = json_path(doc, spec.progress) if spec.progress and isinstance(doc, (dict, list)) else None
            moved = state is not None and state not in spec.queued
            if moved or (isinstance(progress, (int, float)) and progress > 0):
                self.progressed = True
                ctx.count(self.eps.first, C_FLOWS, 1)
                ctx.record(self.eps.first, H_LATENCY, now - self.start_ns)
        if state in spec.success:
            self._end(ctx)
            ctx.count(self.eps.job, C_FLOWS, 1)
            ctx.record(self.eps.job, H_LATENCY, now - self.start_ns)
            self.counts.completed += 1
        elif state in spec.failure:
            self._end(ctx, "job failed", C_ERR_OTHER)
            self.counts.failed += 1
        else:
            return False
        value = json_path(doc, spec.processing) if spec.processing else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            ctx.count(self.eps.processing, C_SENT, 1)
            ctx.count(self.eps.processing, C_FLOWS, 1)
            ctx.record(self.eps.processing, H_LATENCY, int(value * UNITS[spec.processing_unit]))
        return True

    def _end(self, ctx, reason: str | None = None, counter: int = -1) -> None:
        """An error of the job with its reason (kept as a user error's is: in the reasons
        table, not as a check, so that the error rate alone judges failed jobs)."""
        self.ended = True
        if reason is not None:
            ctx.count(self.eps.job, counter, 1)
            ctx.registry.check_failed(self.eps.job, reason)

    def timed_out(self, ctx) -> None:
        if not self.ended:
            self._end(ctx, f"job timed out after {self.spec.timeout_s:g}s", C_ERR_REQUEST_TIMEOUT)
            self.counts.timed_out += 1

    def abandon(self, ctx) -> None:
        """The run ended while the job was followed: unfinished, its age recorded."""
        if self.tracked and not self.ended:
            self.ended = True
            ctx.count(self.eps.job, C_UNFINISHED, 1)
            ctx.record(self.eps.job, H_LATENCY, now_ns() - self.start_ns)
            self.counts.unfinished += 1
