"""Run a chaos timeline beside the load: every event at its time, for its window.

    await run_timeline(plan.chaos, ctx)     # ctx: a driver.chaos.context.ChaosContext

Platform faults swap the mock's fault config for the window (the base config applied
with the fault) and put the base back at its end. Webhook faults are real traffic to
the target: the malformed battery (aiohttp), connection faults on raw sockets
(driver.chaos.connections) and a spike of extra valid updates. The health endpoint,
when there is one, is polled every second for the whole run.

Nothing here raises out: a fault that fails is recorded (ctx.record) and the others go
on. Everything stops at its window's end or once ctx.stopping() is true; cancelling
run_timeline closes every connection it opened.
"""
from __future__ import annotations

import asyncio
import dataclasses
import io
import time

import aiohttp

from driver.chaos import malformed
from driver.chaos.connections import Origin, TICK_S, idle_flood, reset_mid_body, slowloris, wait_until
from driver.chaos.errors import error_kind
from driver.chaos.timeline import ChaosEvent

__all__ = ["run_timeline", "apply_fault", "REQUEST_TIMEOUT_S", "HEALTH_INTERVAL_S", "MAX_IN_FLIGHT"]

REQUEST_TIMEOUT_S = 10.0  # a chaos request unanswered by then is a request_timeout
HEALTH_INTERVAL_S = 1.0
HEALTH_TIMEOUT_S = 2.0
MAX_IN_FLIGHT = 256  # chaos requests (spike, malformed) in flight; arrivals beyond it are dropped


def apply_fault(base, event: ChaosEvent):
    """The mock's fault config during `event`: `base` (a driver.mock.faults.Faults) with the
    fault applied. Shares of errors and 429s are one draw: the other one is lowered so
    that they add up to at most 1."""
    p = event.params
    if event.fault == "outage":
        return dataclasses.replace(base, outage=p["mode"])
    if event.fault == "rate_limit":
        return dataclasses.replace(base, rate_limit_rate=p["rate"], retry_after=p["retry_after"],
                                   error_rate=min(base.error_rate, 1.0 - p["rate"]))
    if event.fault == "slow_api":
        return dataclasses.replace(base, latency_ms=p["latency_ms"], latency_max_ms=p.get("latency_max_ms"))
    if event.fault == "api_errors":
        return dataclasses.replace(base, error_rate=p["rate"], error_status=p["status"],
                                   rate_limit_rate=min(base.rate_limit_rate, 1.0 - p["rate"]))
    raise ValueError(f"{event.fault} is not a platform fault")


def _at_ns(ctx, seconds: float) -> int:
    return ctx.start_ns + int(seconds * 1e9)


class _Sender:
    """HTTP requests to the target through one aiohttp session, at most MAX_IN_FLIGHT at once."""

    def __init__(self, ctx, session: aiohttp.ClientSession):
        self.ctx = ctx
        self.session = session
        self.url = ctx.target_url.rstrip("/") + ctx.webhook_path
        self.in_flight = 0
        self.tasks: set[asyncio.Task] = set()

    def start(self, coro) -> bool:
        """Run `coro` in the background; False (and nothing started) at the cap."""
        if self.in_flight >= MAX_IN_FLIGHT:
            coro.close()
            return False
        self.in_flight += 1
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task) -> None:
        self.in_flight -= 1
        self.tasks.discard(task)

    async def send(self, name: str, headers: dict, body: bytes, judge=None) -> None:
        """POST to the webhook; recorded as `name` with its status, or its transport
        error; `judge(status) -> (passed, reason)` adds a check (an error fails it)."""
        start = time.monotonic_ns()
        try:
            # a large body as a stream: aiohttp warns that raw bytes would block the loop
            data = io.BytesIO(body) if len(body) > 2**20 else body
            async with self.session.post(self.url, data=data, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except Exception as exc:  # noqa: BLE001 - recorded: the bot dropped it, or never answered
            kind = error_kind(exc)
            check = None if judge is None else (False, f"{name} got no answer ({kind.replace('_', ' ')})")
            self.ctx.record(name, error=kind, latency_ns=time.monotonic_ns() - start, check=check)
            return
        self.ctx.record(name, status=status, latency_ns=time.monotonic_ns() - start,
                        check=None if judge is None else judge(status))

    async def drain(self) -> None:
        """Wait for the requests in flight to be answered (or time out), unless stopping."""
        deadline = time.monotonic_ns() + int((REQUEST_TIMEOUT_S + 1) * 1e9)
        while self.tasks and not self.ctx.stopping() and time.monotonic_ns() < deadline:
            await asyncio.sleep(TICK_S)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


def _valid_headers(ctx, body: bytes) -> dict[str, str]:
    return malformed.valid_headers(ctx.platform, body, ctx.secret_token, ctx.app_secret)


async def _paced(ctx, rate: float, deadline_ns: int, step) -> None:
    """Call `step()` `rate` times a second until the deadline (open loop: a slow answer
    does not slow the next one; the sender's cap drops what cannot be sent)."""
    interval_ns = int(1e9 / rate)
    due = time.monotonic_ns()
    while due < deadline_ns and await wait_until(ctx, due):
        step()
        due += interval_ns
        await asyncio.sleep(0)  # behind schedule, wait_until does not yield: the requests must run


async def _spike(ctx, sender: _Sender, event: ChaosEvent, deadline_ns: int) -> None:
    def step() -> None:
        body = ctx.update_body()
        if not sender.start(sender.send("spike", _valid_headers(ctx, body), body)):
            ctx.record("spike", error="dropped")

    await _paced(ctx, event.params["rate"], deadline_ns, step)


async def _malformed(ctx, sender: _Sender, event: ChaosEvent, deadline_ns: int) -> None:
    kinds = [k for k in event.params["kinds"]
             if malformed.build(k, ctx.platform, b"{}", ctx.secret_token, ctx.app_secret) is not None]
    if not kinds:
        return
    turn = iter(range(1 << 62))
    huge = [0]  # huge bodies in flight: one at a time (each is HUGE_BYTES)

    async def send_huge(headers: dict, body: bytes) -> None:
        huge[0] += 1
        try:
            await sender.send("malformed:huge_body", headers, body, lambda status: malformed.check("huge_body", status))
        finally:
            huge[0] -= 1

    def step() -> None:
        kind = kinds[next(turn) % len(kinds)]
        if kind == "huge_body" and huge[0]:
            return
        headers, body = malformed.build(kind, ctx.platform, ctx.update_body(), ctx.secret_token, ctx.app_secret)
        name = f"malformed:{kind}"
        coro = send_huge(headers, body) if kind == "huge_body" else \
            sender.send(name, headers, body, lambda status: malformed.check(kind, status))
        if not sender.start(coro):
            ctx.record(name, error="dropped")

    await _paced(ctx, event.params["rate"], deadline_ns, step)


async def _platform(ctx, event: ChaosEvent, deadline_ns: int) -> None:
    try:
        ctx.set_faults(apply_fault(ctx.base_faults(), event))
    except Exception as exc:  # noqa: BLE001 - a fault config the mock refused
        ctx.record(event.fault, error="other", check=(False, f"{event.fault} could not be applied: {exc}"))
        return
    try:
        await wait_until(ctx, deadline_ns)
    finally:
        ctx.set_faults(ctx.base_faults())


async def _event(ctx, sender: _Sender, origin: Origin, event: ChaosEvent) -> None:
    """One event: wait for its start, run it to the end of its window. Never raises."""
    try:
        if not await wait_until(ctx, _at_ns(ctx, event.at_s)):
            return
        deadline = _at_ns(ctx, event.end_s)
        p = event.params
        if event.platform:
            await _platform(ctx, event, deadline)
        elif event.fault == "malformed":
            await _malformed(ctx, sender, event, deadline)
        elif event.fault == "spike":
            await _spike(ctx, sender, event, deadline)
        elif event.fault == "reset_mid_body":
            await reset_mid_body(ctx, origin, ctx.webhook_path, p["rate"], deadline)
        elif event.fault == "slowloris":
            await slowloris(ctx, origin, ctx.webhook_path, p["connections"], deadline)
        elif event.fault == "idle_flood":
            await idle_flood(ctx, origin, p["connections"], deadline)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - one fault failing is recorded, never fatal
        ctx.record(event.fault, error="other", check=(False, f"{event.fault} at {event.at_s:g}s failed: {exc!r}"))


async def _health(ctx, session: aiohttp.ClientSession) -> None:
    """GET the health endpoint every HEALTH_INTERVAL_S until stopping; check: a 2xx."""
    url = ctx.target_url.rstrip("/") + ctx.health_path
    timeout = aiohttp.ClientTimeout(total=HEALTH_TIMEOUT_S)
    due = time.monotonic_ns()
    while await wait_until(ctx, due):
        due += int(HEALTH_INTERVAL_S * 1e9)
        start = time.monotonic_ns()
        try:
            async with session.get(url, timeout=timeout) as resp:
                await resp.read()
                status = resp.status
        except Exception as exc:  # noqa: BLE001
            kind = error_kind(exc)
            ctx.record("health", error=kind, latency_ns=time.monotonic_ns() - start,
                       check=(False, f"health {ctx.health_path} did not answer ({kind.replace('_', ' ')})"))
            continue
        ok = 200 <= status < 300
        ctx.record("health", status=status, latency_ns=time.monotonic_ns() - start,
                   check=(ok, "" if ok else f"health {ctx.health_path} answered {status}, expected 2xx"))


async def run_timeline(events, ctx) -> None:
    """Run every event of `events` (ChaosEvents) at its time. Returns when the last window
    has ended (with a health path: when ctx.stopping() becomes true)."""
    events = tuple(events)
    if not events and not ctx.health_path:
        return
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, ssl=None)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     skip_auto_headers=("Content-Type",)) as session:
        sender = _Sender(ctx, session)
        origin = Origin(ctx.target_url)
        tasks = [asyncio.ensure_future(_event(ctx, sender, origin, e)) for e in events]
        health = asyncio.ensure_future(_health(ctx, session)) if ctx.health_path else None
        try:
            if tasks:
                await asyncio.gather(*tasks)
            await sender.drain()
            if health is not None:
                await health
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - never out of here
            ctx.record("timeline", error="other", check=(False, f"chaos timeline failed: {exc!r}"))
        finally:
            for task in [*tasks, health]:
                if task is not None:
                    task.cancel()
            await asyncio.gather(*[t for t in [*tasks, health] if t is not None], return_exceptions=True)
            await sender.close()
            await asyncio.sleep(TICK_S / 10)  # let closed transports go before the session ends
