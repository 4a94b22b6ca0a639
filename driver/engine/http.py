"""The two ways a worker generates load, driving `client.Connection`s.

Closed loop (`ClosedLoop`): virtual users, each on its own keep-alive connection:
request -> response -> think time -> request. How many run follows the plan's shape
(this worker's share of it), adjusted by `tick()` from the worker's heartbeat.

Open loop (`OpenLoop`): arrivals on a schedule that does not wait for responses
(wrk2's constant throughput). Arrival k of the plan is due at shape.time_of(k); this
worker takes k = index, index + n, ... Each arrival goes to an idle connection, or a
new one while under the in-flight cap, or is dropped and counted. Latency counts from
the intended time, so a slow server cannot hide its slowness by slowing the sender
(coordinated omission).
"""
from __future__ import annotations

import asyncio
import math

from driver._speedups import now_ns
from driver.engine.client import Connection, connect, make_ssl_context
from driver.layout import C_DROPPED, C_LATE, C_RECONNECTS, LATE_NS
from driver.plan import Plan
from driver.shapes import split

_BACKOFF_MIN_S = 0.01  # after a failed connect; doubles per failure up to _BACKOFF_MAX_S
_BACKOFF_MAX_S = 1.0


class EngineBase:
    """What every engine of a worker shares (the fast loops here, scenario_runner's too):
    where to connect, the quota, the end, the stop flag, the connections, the tasks,
    and the open-loop schedule (arrival k of this worker is due at _due_ns(k))."""

    def __init__(self, plan: Plan, index: int, n_workers: int, rec, address: str, start_ns: int):
        self.plan = plan
        self.index = index
        self.n_workers = n_workers
        self.rec = rec
        self.address = address
        self.start_ns = start_ns
        self.loop = asyncio.get_running_loop()
        self.ssl_ctx = make_ssl_context(plan.insecure) if plan.target.tls else None
        # requests (scenarios: iterations) this worker may still start; -1: no limit
        self.remaining = split(plan.max_requests, n_workers, index) if plan.max_requests else -1
        self.stopping = False
        # nothing starts at or after the end of the run (the heartbeat stops the rest)
        self.end_ns = start_ns + int(plan.duration_s * 1e9) if plan.duration_s else 1 << 62
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Task] = set()
        self.k = index  # open loop: the next arrival of the plan's schedule this worker owns
        self.timer = None

    def _spawn(self, coro) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def take(self) -> bool:
        """Claim one request from the quota; False when the quota is spent."""
        if self.remaining < 0:
            return True
        if self.remaining == 0:
            return False
        self.remaining -= 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    def in_flight(self) -> int:
        return sum(1 for c in self.connections if c.busy)

    def sweep(self, now: int) -> None:
        """Time out requests in flight for longer than the plan's request timeout."""
        limit = int(self.plan.request_timeout_s * 1e9)
        for conn in [c for c in self.connections if c.busy and now - c.sent_ns > limit]:
            conn.timed_out()

    def _due_ns(self, k: int) -> float:
        return self.start_ns + self.plan.shape.time_of(k) * 1e9

    def _schedule(self) -> None:
        """Wake `_fire` when this worker's next arrival is due (never, if the rate stays 0)."""
        due = self._due_ns(self.k)
        if math.isinf(due) or self.stopping:
            return
        self.timer = self.loop.call_later(max(0.0, (due - now_ns()) / 1e9), self._fire)

    def _fire(self) -> None:
        """Hand every arrival due by now to `_dispatch` (the open-loop engine's), then sleep
        until the next one. Nothing starts at or after the end, or past the quota."""
        now = now_ns()
        n = self.n_workers
        while not self.stopping:
            due = self._due_ns(self.k)
            if due > now:
                break
            if due >= self.end_ns or not self.take():
                self.stopping = True
                break
            self._dispatch(int(due), now)
            self.k += n
        self._schedule()

    def start(self) -> None:
        """Closed loop: users are started by tick(); open loop overrides this."""

    def stop(self) -> None:
        self.stopping = True
        if self.timer is not None:
            self.timer.cancel()

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.busy = False  # cut off by the end of the run, not failed: not an error
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self.tasks):
            task.cancel()


class _Engine(EngineBase):
    """The fast path: one pre-encoded request on every connection."""

    def __init__(self, *args):
        super().__init__(*args)
        self.spec = self.plan.requests[0]
        self.ep = 0
        self.request = self.spec.encode(self.plan.target)

    def _factory(self, owner):
        return lambda: Connection(owner, self.rec, self.ep, self.request, self.spec.is_head,
                                  self.plan.mode == "open")

    async def _connect(self, owner):
        proto, _ = await connect(
            self.loop, self._factory(owner), self.address, self.plan.target.port,
            ssl_ctx=self.ssl_ctx, server_hostname=self.plan.target.host,
            timeout_s=self.plan.connect_timeout_s, rec=self.rec, ep=self.ep,
        )
        if proto is not None:
            if self.stopping:
                proto.close()
                return None
            self.connections.add(proto)
        return proto

    def idle(self) -> bool:
        """Nothing in flight and nothing connecting."""
        return not self.tasks and self.in_flight() == 0


class _User:
    """One closed-loop virtual user: keeps one connection busy, reconnecting when it drops."""

    __slots__ = ("engine", "conn", "running", "fails", "think_s", "connected_once")

    def __init__(self, engine: "ClosedLoop"):
        self.engine = engine
        self.conn = None
        self.running = True
        self.fails = 0
        self.connected_once = False
        self.think_s = engine.plan.think_s

    async def start(self) -> None:
        engine = self.engine
        while self.running and not engine.stopping:
            if not engine.take():
                return
            conn = await engine._connect(self)
            if conn is not None:
                if self.connected_once:
                    engine.rec.count(engine.ep, C_RECONNECTS, 1)
                self.connected_once = True
                self.fails = 0
                self.conn = conn
                conn.send(0)
                return
            engine.remaining += 1 if engine.remaining >= 0 else 0  # the claim was not used
            self.fails += 1
            await asyncio.sleep(min(_BACKOFF_MAX_S, _BACKOFF_MIN_S * 2 ** min(self.fails, 10)))

    def on_response(self, conn: Connection, now: int) -> None:
        if not conn.alive:  # the response ended its connection: on_closed reconnects
            return
        engine = self.engine
        if not self.running or engine.stopping or now >= engine.end_ns or not engine.take():
            if not self.running:
                conn.close()
            return
        if self.think_s > 0:
            engine.loop.call_later(self.think_s, self._send_after_think, conn)
        else:
            conn.send(0)

    def _send_after_think(self, conn: Connection) -> None:
        if conn.alive and self.running and not self.engine.stopping:
            conn.send(0)
        elif self.engine.remaining >= 0:
            self.engine.remaining += 1

    def on_closed(self, conn: Connection) -> None:
        engine = self.engine
        engine.connections.discard(conn)
        self.conn = None
        if self.running and not engine.stopping:
            engine._spawn(self.start())

    def retire(self) -> None:
        """Stop after the request in flight (ramp-down)."""
        self.running = False
        if self.conn is not None and not self.conn.busy:
            self.conn.close()


class ClosedLoop(_Engine):
    def __init__(self, *args):
        super().__init__(*args)
        self.users: list[_User] = []

    def target_users(self, elapsed_s: float) -> int:
        total = int(self.plan.shape.value_at(elapsed_s))
        return split(total, self.n_workers, self.index)

    def tick(self, now: int) -> None:
        """Start or retire users to follow the shape (called from the heartbeat)."""
        if self.stopping:
            return
        want = self.target_users((now - self.start_ns) / 1e9)
        while len(self.users) < want:
            user = _User(self)
            self.users.append(user)
            self._spawn(user.start())
        while len(self.users) > want:
            self.users.pop().retire()

    @property
    def active(self) -> int:
        return len(self.users)

    def finished(self) -> bool:
        return self.exhausted and self.idle()


class OpenLoop(_Engine):
    def __init__(self, *args):
        super().__init__(*args)
        self.idle_conns: list[Connection] = []
        self.connecting = 0
        self.cap = split(self.plan.max_in_flight, self.n_workers, self.index) or 1

    def start(self) -> None:
        self._schedule()

    def _dispatch(self, intended_ns: int, now: int) -> None:
        if now - intended_ns > LATE_NS:
            self.rec.count(self.ep, C_LATE, 1)
        if self.idle_conns:
            self.idle_conns.pop().send(intended_ns)
        elif self.in_flight_count() + self.connecting < self.cap:
            self.connecting += 1
            self._spawn(self._open_and_send(intended_ns))
        else:
            self.rec.count(self.ep, C_DROPPED, 1)

    def in_flight_count(self) -> int:
        return len(self.connections) - len(self.idle_conns)

    async def _open_and_send(self, intended_ns: int) -> None:
        try:
            conn = await self._connect(self)
        finally:
            self.connecting -= 1
        if conn is not None and not self.stopping:
            conn.send(intended_ns)

    def on_response(self, conn: Connection, now: int) -> None:
        if not conn.alive:
            return
        if self.stopping:
            conn.close()
        else:
            self.idle_conns.append(conn)

    def on_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        try:
            self.idle_conns.remove(conn)
        except ValueError:
            pass

    def stop(self) -> None:
        super().stop()
        for conn in self.idle_conns:
            conn.close()

    def tick(self, now: int) -> None:
        pass

    @property
    def active(self) -> int:
        return len(self.connections)

    def finished(self) -> bool:
        return (self.exhausted or math.isinf(self._due_ns(self.k))) and self.idle()
