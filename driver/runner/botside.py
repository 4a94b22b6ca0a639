"""The bot-side process of a run: the mock platform API, reply correlation, chaos.

A webhook bot answers driver's update with 200 and sends its real reply later, by
calling the platform API. This process is that API (driver.mock: telegram or
whatsapp) for the bot under test, in a process of its own so that it never shares a
worker's event loop, and it follows every update to its replies:

- the workers put each update they send into their ring (driver.replies.ring): chat,
  message id, intended send time, endpoint, the tier rule's expectation;
- every call the bot makes is logged by the mock (driver.mock.calllog) and counted
  here as an endpoint `api:<method>` (status, time to answer);
- every few milliseconds the replies received are matched to the updates
  (driver.replies.correlate) and recorded in this process's own shared-memory block,
  merged with the workers' like any block: `reply:<name>` (first-reply latency from
  the update's intended send; sent = replied + reply_missing + unfinished, and the
  reply checks), `reply_last:<name>` (the last message of multi-message answers);
- the run's chaos timeline (driver.chaos) runs here too, on the mock's faults and
  against the webhook.

Lifecycle: bind the mock, say the URL on the pipe, PHASE_READY; follow replies until
every worker has exited (CTL_LOAD_DONE_NS), then drain the open updates for at most
the grace; the rest are unfinished. PHASE_DONE.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import signal
import sys
import time
import traceback

from driver._speedups import Recorder, now_ns
from driver.engine.endpoints import EndpointRegistry, record_checks
from driver.layout import (
    C_ERR_CONN_RESET,
    C_FLOWS,
    C_MESSAGES,
    C_REPLY_MISSING,
    C_SENT,
    C_UNFINISHED,
    CTL_LEN,
    CTL_LOAD_DONE_NS,
    CTL_START_NS,
    CTL_STOP,
    PHASE_DONE,
    PHASE_FAILED,
    PHASE_READY,
    PHASE_RUNNING,
    ST_CPU_NS,
    ST_FINISHED_NS,
    ST_LAG_MAX_NS,
    ST_LAG_SAMPLES,
    ST_LAG_SUM_NS,
    ST_HEARTBEAT_NS,
    ST_PHASE,
    ST_PID,
    STOP_NOW,
    BlockLayout,
    names_length,
    read_names,
)
from driver.plan import Plan
from driver.replies.correlate import OUTCOME_ANSWERED, OUTCOME_MISSING, Correlator, Update
from driver.replies.ring import RingReader, RingWriter, ring_length
from driver.shm import Segment
from driver.stats.endpoint import REPLY_LAST_PREFIX, REPLY_PREFIX

__all__ = ["botside_main", "BotSide", "TICK_S"]

TICK_S = 0.005  # how often replies are matched (their times are the mock's, not the tick's)


class BotSide:
    """Reply correlation into one stats block (no processes, no sockets: tests drive it)."""

    def __init__(self, plan: Plan, rec, registry: EndpointRegistry, rings: list[RingReader],
                 worker_tables: list, backs: list[RingWriter] | None = None):
        self.plan = plan
        self.rec = rec
        self.registry = registry
        self.rings = rings
        self.worker_tables = worker_tables
        self.backs = backs or []  # per worker: its updates' outcomes (a user waits for its reply)
        self.max_endpoints = plan.endpoint_slots
        spec = plan.replies
        self.rules = spec.rules if spec is not None else None
        timeout_s = spec.timeout_s if spec is not None else 10.0
        settle_s = spec.settle_s if spec is not None else 0.25
        self.correlator = Correlator(
            int(timeout_s * 1e9), int(settle_s * 1e9), on_first=self._first, on_close=self._close,
            on_missing=self._missing, on_unfinished=self._unfinished, on_sent=self._sent)
        self.calls: list[dict] = []  # logged by the mock since the last tick
        self.control = None  # the run's control block (set when the side runs)
        self._names: dict[tuple[int, int], tuple[str, int, int]] = {}  # source -> (name, reply, last)
        self._api: dict[str, int] = {}

    def load_done(self) -> bool:
        """Every worker has exited: the load is over."""
        return self.control is not None and bool(self.control[CTL_LOAD_DONE_NS])

    # -- the mock's call log
    def on_call(self, call: dict) -> None:
        """CallLog.listener: count the call as `api:<method>`, keep it for matching."""
        slot = self._api.get(call["method"])
        if slot is None:
            slot = self._api[call["method"]] = self.registry.slot("api:" + call["method"])
        status = call["status"]
        if status:
            self.rec.response(slot, status, 0, now_ns() - call["received_ns"])
        else:  # an outage that reset or hung the call: no HTTP answer
            self.rec.count(slot, C_ERR_CONN_RESET, 1)
        if call.get("reply"):
            self.calls.append(call)

    # -- matching
    def tick(self, now: int) -> None:
        calls, self.calls = self.calls, []  # first the replies, then the updates (causality)
        corr = self.correlator
        for w, ring in enumerate(self.rings):
            records = ring.take()
            if len(records):
                corr.sent(lambda slot, w=w: (w, slot), records)
        for call in calls:
            corr.reply(call)
        corr.tick(now)

    def _source(self, source: tuple[int, int]) -> tuple[str, int, int]:
        known = self._names.get(source)
        if known is None:
            worker, slot = source
            names, _ = read_names(self.worker_tables[worker], self.max_endpoints)
            name = names[slot] if 0 <= slot < len(names) else f"slot {slot}"
            known = self._names[source] = (name, self.registry.slot(REPLY_PREFIX + name),
                                           self.registry.slot(REPLY_LAST_PREFIX + name))
        return known

    def _sent(self, update: Update) -> None:
        self.rec.count(self._source(update.source)[1], C_SENT, 1)

    def _first(self, update: Update, latency_ns: int) -> None:
        slot = self._source(update.source)[1]
        self.rec.response(slot, 200, 0, latency_ns)
        self.rec.count(slot, C_FLOWS, 1)  # an aggregate endpoint's count: updates answered

    def _back(self, update: Update, outcome: int) -> None:
        worker = update.source[0]
        if worker < len(self.backs):
            self.backs[worker].put(update.chat, update.message, update.intended_ns, 0, outcome)

    def _close(self, update: Update) -> None:
        self._back(update, OUTCOME_ANSWERED)  # the whole answer is in: the user reads on
        name, slot, last = self._source(update.source)
        rec = self.rec
        rec.count(slot, C_MESSAGES, update.messages)
        if update.messages > 1:
            rec.response(last, 200, 0, update.last_ns - update.intended_ns)
            rec.count(last, C_FLOWS, 1)
        if self.rules is not None and not update.webhook:
            n, failures = self.rules.judge(name, update.expect, update.texts, update.buttons,
                                           update.messages)
            record_checks(rec, self.registry, slot, n, failures)

    def _missing(self, update: Update) -> None:
        self._back(update, OUTCOME_MISSING)
        self.rec.count(self._source(update.source)[1], C_REPLY_MISSING, 1)

    def _unfinished(self, update: Update) -> None:
        self._back(update, OUTCOME_MISSING)
        self.rec.count(self._source(update.source)[1], C_UNFINISHED, 1)


def make_mock(plan: Plan):
    """The mock's aiohttp app for the plan's platform (driver.mock.<platform>)."""
    spec = plan.mock
    module = importlib.import_module(f"driver.mock.{spec.platform}")
    app = module.make_app(spec.faults, seed=spec.seed)
    return app, module.mock_of(app)


async def _serve(plan: Plan, status, control, side: BotSide, pipe) -> None:
    from aiohttp import web

    side.control = control
    if plan.mock is None:  # a chaos timeline only: no platform API to serve
        pipe.send(("ready", 0))
        status[ST_PHASE] = PHASE_READY
        await _follow(plan, status, control, side, None)
        pipe.send(("done", {"calls": {}, "unmatched": 0, "untracked": 0}))
        return
    app, mock = make_mock(plan)
    mock.log.listener = side.on_call
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        try:
            site = web.TCPSite(runner, plan.mock.host, plan.mock.port, backlog=1024)
            await site.start()
        except OSError as exc:
            pipe.send(("error", f"mock {plan.mock.platform} API cannot listen on "
                                f"{plan.mock.host}:{plan.mock.port}: {exc.strerror or exc}"))
            raise SystemExit(2) from None
        pipe.send(("ready", runner.addresses[0][1]))
        status[ST_PHASE] = PHASE_READY
        await _follow(plan, status, control, side, mock)
        pipe.send(("done", {"calls": dict(mock.log.counts), "unmatched": side.correlator.unmatched,
                            "untracked": side.correlator.untracked
                            + sum(r.overflow for r in side.rings)}))
    finally:
        await runner.cleanup()


async def _follow(plan: Plan, status, control, side: BotSide, mock) -> None:
    chaos = None
    grace_ns = int(plan.grace_s * 1e9)
    while not control[CTL_START_NS]:
        if control[CTL_STOP] == STOP_NOW or control[CTL_LOAD_DONE_NS]:  # the run never started
            return
        status[ST_HEARTBEAT_NS] = now_ns()
        await asyncio.sleep(TICK_S)
    status[ST_PHASE] = PHASE_RUNNING
    events = getattr(plan, "chaos", ())
    if events:
        from driver.runner.chaosctx import start_chaos
        chaos = start_chaos(plan, events, int(control[CTL_START_NS]), mock, control, side)
    try:
        while True:
            before = now_ns()
            await asyncio.sleep(TICK_S)
            now = now_ns()
            status[ST_HEARTBEAT_NS] = now
            # its CPU and loop lag count in the run's validity as a worker's do: a mock
            # that cannot keep up would add its own queueing to every reply latency
            lag = max(0, now - before - int(TICK_S * 1e9))
            status[ST_LAG_SUM_NS] += lag
            status[ST_LAG_SAMPLES] += 1
            if lag > status[ST_LAG_MAX_NS]:
                status[ST_LAG_MAX_NS] = lag
            status[ST_CPU_NS] = time.process_time_ns()
            side.tick(now)
            if control[CTL_STOP] == STOP_NOW:
                break
            done = int(control[CTL_LOAD_DONE_NS])
            if done and (side.correlator.open == 0 or now > done + grace_ns):
                break
    finally:
        if chaos is not None:
            chaos.cancel()
            await asyncio.gather(chaos, return_exceptions=True)
    side.tick(now_ns())
    side.correlator.finish()


def botside_main(plan: Plan, index: int, block_name: str, control_name: str, table_name: str,
                 ring_names: list[str], back_names: list[str], worker_table_names: list[str],
                 pipe) -> None:
    """Entry point of the bot-side process (spawned; SIGINT is left to the parent)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    layout = BlockLayout(plan.endpoint_slots)
    segments = []
    status = None
    try:
        block = Segment.attach(block_name, layout.length)
        control = Segment.attach(control_name, CTL_LEN)
        table = Segment.attach(table_name, names_length(layout.n_endpoints))
        rings = [Segment.attach(n, ring_length()) for n in ring_names]
        backs = [Segment.attach(n, ring_length()) for n in back_names]
        tables = [Segment.attach(n, names_length(layout.n_endpoints)) for n in worker_table_names]
        segments = [block, control, table, *rings, *backs, *tables]
        status = block.array
        status[ST_PID] = os.getpid()
        rec = Recorder(block.array, layout.n_endpoints)
        registry = EndpointRegistry(table.array, layout.n_endpoints, ())
        side = BotSide(plan, rec, registry, [RingReader(r.array) for r in rings],
                       [t.array for t in tables], [RingWriter(b.array) for b in backs])
        import uvloop
        uvloop.run(_serve(plan, status, control.array, side, pipe))
        status[ST_FINISHED_NS] = now_ns()
        status[ST_PHASE] = PHASE_DONE
    except SystemExit:
        raise
    except BaseException:
        if status is not None:
            status[ST_PHASE] = PHASE_FAILED
        traceback.print_exc(file=sys.stderr)
        try:
            pipe.send(("error", "the bot-side process failed: " + traceback.format_exc(limit=1).strip().splitlines()[-1]))
        except OSError:
            pass
        raise SystemExit(1) from None
    finally:
        for seg in segments:
            seg.close()
