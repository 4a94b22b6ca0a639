"""YAML scenarios of single requests, as a unit kind on callbacks.

Most YAML scenarios are weighted tasks of one request each with a status check: a
bot's webhook under its commands. For those, a virtual user needs no coroutine: a
unit keeps one keep-alive connection (the fast path's `HttpUnit`), and each piece of
work picks a task by weight, renders its body (driver.payloads' compiled renderers),
sends `head % len(body) + body` and, in the response callback, counts the check.
No task, future, coroutine or Response object per request.

It runs exactly what the coroutine path (driver.scenario.unit) would, and counts the
same: the request on the task's endpoint, a check per response ("status N" when it
fails, also when the request failed without a response), throttling (429, 503 with
Retry-After), an iteration per task, and in open loop the "iteration" endpoint. A
scenario qualifies (`fits`) when it has no flows and every task has a constant path
and constant headers, no capture, no think time of its own, at most a status check
(one code), and the scenario does not honour Retry-After (a backoff is a pause inside
an iteration: the coroutine path does that).
"""
from __future__ import annotations

import bisect
import random

from driver._speedups import now_ns
from driver.engine.client import Connection
from driver.engine.http import HttpKind, HttpUnit, backoff_s
from driver.layout import C_CHECK_FAILED, C_CHECKS, C_FLOWS, C_SENT, C_THROTTLED, H_LATENCY, ST_ITERATIONS
from driver.plan import OPEN, Plan
from driver.scenario.context import ScenarioContext


def fits(spec, steps) -> bool:
    """Whether a YAML scenario's tasks (compiled `_Step`s) can run on callbacks."""
    if spec.python or spec.flows or spec.retry_after == "honour" or not steps:
        return False
    for step in steps:
        expect = step.expect or {}
        if (step.const_path is None or step.capture or step.think is not None or step.dynamic_headers
                or set(expect) - {"status"} or type(expect.get("status", 200)) is not int):
            return False
        if step.body_kind == "whatsapp":
            return False  # its bodies may be signed one by one (X-Hub-Signature-256)
    return True


class _Prepared:
    """One task's request in one worker: slot, head, renderer, expected status."""

    __slots__ = ("slot", "head", "with_length", "render", "want", "reason", "is_head")

    def __init__(self, step, context: ScenarioContext):
        step._bind(context)
        self.slot = context.slot(step.name)
        self.is_head = step.method == "HEAD"
        self.with_length = step.body_kind is not None or step.method in ("POST", "PUT", "PATCH")
        self.head = context.head(step.method, step.const_path, step._headers, False, self.with_length)
        self.render = step._render
        self.want = (step.expect or {}).get("status")
        self.reason = f"status {self.want}"


class StepKind(HttpKind):
    """Per worker: the prepared tasks and their weights. It sets what HttpKind's `connect`
    and `spawn` use itself (HttpKind's own __init__ reads a URL plan's one request)."""

    def __init__(self, plan: Plan, index: int, n_workers: int, rec, names_table, address: str, user_cls, steps,
                 weights, pool):
        self.plan = plan
        self.rec = rec
        self.address = address
        self.context = ScenarioContext(plan, index, n_workers, rec, names_table, address)
        self.loop = self.context.loop
        self.index = index
        self.request = b""
        self.head = False
        self.open_loop = plan.mode == OPEN
        self.ssl_ctx = self.context.ssl_ctx
        self.tasks = set()
        self.steps = [_Prepared(step, self.context) for step in steps]
        self.ep = self.steps[0].slot
        self.cum = list(_accumulate(weights))
        self.user_cls = user_cls
        wait = user_cls.wait
        self.pauses = not (wait.kind == "constant" and wait.a <= 0)
        self.arrival_slot = self.context.slot("iteration") if self.open_loop else 0
        self.pool = pool
        self.n_users = 0

    def new_unit(self, sched) -> "StepUnit":
        n = self.n_users
        self.n_users += 1
        identity = self.pool.user(n % len(self.pool))
        rng = random.Random(hash((self.plan.user_pool.seed, self.index, n)))
        return StepUnit(self, sched, identity, rng, random.Random(n * 7919 + self.index))

    def arrival_started(self, intended_ns: int) -> None:
        self.rec.count(self.arrival_slot, C_SENT, 1)


_NO_CAPTURES: dict = {}  # simple steps capture nothing; templates read an empty mapping


def _accumulate(weights):
    total = 0.0
    for w in weights:
        total += w
        yield total


class StepUnit(HttpUnit):
    __slots__ = ("identity", "rng", "picks", "step", "intended", "started_ns", "request")

    def __init__(self, kind: StepKind, sched, identity, rng, picks):
        super().__init__(kind, sched)
        self.identity = identity
        self.rng = rng
        self.picks = picks
        self.step = None
        self.intended = 0
        self.started_ns = 0
        self.request = b""

    def start(self, intended_ns: int) -> None:
        kind = self.kind
        cum = kind.cum
        step = kind.steps[bisect.bisect(cum, self.picks.random() * cum[-1], 0, len(cum) - 1)]
        self.step = step
        body = step.render(self.identity, _NO_CAPTURES, self.rng)
        self.request = step.head % len(body) + body if step.with_length else step.head
        self.intended = self.started_ns = intended_ns
        self.busy = True
        conn = self.conn
        if conn is not None and conn.alive:
            conn.send_request(step.slot, self.request, step.is_head, intended_ns)
        else:
            self.conn = None
            kind.spawn(self._connect_and_send(intended_ns))

    def _send(self, conn: Connection, intended_ns: int) -> None:
        conn.send_request(self.step.slot, self.request, self.step.is_head, intended_ns)

    def on_response(self, conn: Connection, now: int) -> None:
        if conn is not self.conn or not self.busy:
            return
        step, rec = self.step, self.kind.rec
        status = conn.parser.status
        if status == 429 or (status == 503 and conn.parser.retry_after):
            rec.count(step.slot, C_THROTTLED, 1)
        if step.want is not None:
            rec.count(step.slot, C_CHECKS, 1)
            if status != step.want:
                self._failed_check()
        self._iteration_done(now)
        super().on_response(conn, now)

    def _lost(self) -> None:
        if self.step.want is not None:  # the coroutine path's expect() fails on status 0 too
            self.kind.rec.count(self.step.slot, C_CHECKS, 1)
            self._failed_check()
        self._iteration_done(now_ns())

    def _failed_check(self) -> None:
        step = self.step
        self.kind.rec.count(step.slot, C_CHECK_FAILED, 1)
        self.kind.context.registry.check_failed(step.slot, step.reason)

    def _iteration_done(self, now: int) -> None:
        kind = self.kind
        kind.rec.add_status(ST_ITERATIONS, 1)
        if kind.open_loop:
            kind.rec.count(kind.arrival_slot, C_FLOWS, 1)
            kind.rec.record(kind.arrival_slot, H_LATENCY, now - self.intended)

    def pause_s(self) -> float:
        if self.fails:
            return backoff_s(self.fails)
        wait = self.kind.user_cls.wait
        return wait.pause((now_ns() - self.started_ns) / 1e9, self.rng.random)
