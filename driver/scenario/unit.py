"""Runs a scenario in one worker: virtual users executing User classes.

Closed loop: this worker's share of the shape's users, each looping
iteration -> think time. Open loop: iterations arrive on the shape's schedule (as
in loads.OpenLoop, arrival k to worker k % n); each goes to an idle virtual user,
or a new one while under the in-flight cap, or is dropped and counted.

An iteration is one task picked by weight (a YAML flow is one task). Requests
record per endpoint through the session; exceptions in user code are counted under
the endpoint `error:<ExceptionType>` with their message as the reason, and the user
goes on with its next iteration.
"""
from __future__ import annotations

import asyncio
import importlib
import itertools
import importlib.util
import math
import random
import sys
from pathlib import Path

from driver._speedups import now_ns
from driver.engine.client import Connection, connect
from driver.engine.http import EngineBase
from driver.engine.endpoints import EndpointRegistry
from driver.errors import PlanError
from driver.layout import C_ERR_OTHER, LATE_NS, ST_ITER_DROPPED, ST_ITER_LATE, ST_ITERATIONS
from driver.plan import Plan, ScenarioSpec, __version__
from driver.scenario.api import User
from driver.scenario.session import CheckFailed, HttpSession
from driver.shapes import split


def load_user_class(spec: ScenarioSpec) -> type[User]:
    """The User class a scenario names, or one built from its YAML tasks and flows."""
    if not spec.python:
        from driver.scenario.yamltasks import build_user_class

        return build_user_class(spec)
    source, _, cls_name = spec.python.rpartition(":") if ":" in spec.python else (spec.python, "", "")
    if source.endswith(".py") or "/" in source:
        path = Path(spec.base_dir, source)
        mod_name = "driver_scenario_" + path.stem
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PlanError(f"scenario file not found: {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(source)
    if cls_name:
        cls = getattr(module, cls_name, None)
        if not (isinstance(cls, type) and issubclass(cls, User)):
            raise PlanError(f"{spec.python}: {cls_name} is not a driver.scenario.User subclass")
        return cls
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, User) and v is not User and v.__module__ == module.__name__]
    if len(found) != 1:
        raise PlanError(f"{spec.python}: expected one User subclass, found {len(found)}; name it as FILE:Class")
    return found[0]


class _VU:
    """One virtual user: its User instance, its session and its state in the engine."""

    __slots__ = ("user", "session", "running", "task", "wake", "picks")

    def __init__(self, user, session):
        self.user = user
        self.session = session
        self.running = True
        self.task = None
        self.wake = None  # open loop: a future the dispatcher sets with the intended start
        self.picks = None


class ScenarioEngine(EngineBase):
    def __init__(self, plan: Plan, index: int, n_workers: int, rec, address: str, start_ns: int, names_table):
        super().__init__(plan, index, n_workers, rec, address, start_ns)
        self.spec = plan.scenario
        self.registry = EndpointRegistry(names_table, plan.endpoint_slots, plan.endpoints)
        self.user_cls = load_user_class(self.spec)
        tasks = self.user_cls.tasks()
        if not tasks:
            raise PlanError(f"{self.user_cls.__name__} has no @task methods")
        self.task_names = [t for t, _ in tasks]
        self.task_cum_weights = list(itertools.accumulate(w for _, w in tasks))
        self.honour_retry_after = self.spec.retry_after == "honour"
        self.base_path = plan.base_path.rstrip("/")
        self.vus: list[_VU] = []
        self.idle_vus: list[_VU] = []
        self.last_connect_error = None
        self.open_loop = plan.mode == "open"
        self.cap = split(plan.max_in_flight, n_workers, index) or 1
        self.n_users = 0
        self.pool = self._user_pool()
        host = plan.target.host_header
        self._head = f"Host: {host}\r\nUser-Agent: driver/{__version__}\r\n"

    def _user_pool(self):
        try:
            from driver.payloads.users import UserPool
        except ImportError:  # payload generators not built: users get plain numbers
            return None
        peak = int(math.ceil(self.plan.shape.peak)) if self.plan.mode == "closed" else self.plan.max_in_flight
        size = self.plan.user_pool.size or max(1, peak)
        return UserPool(self.plan.user_pool, self.index, self.n_workers, size)

    # -- requests
    def encode(self, method: str, path: str, headers: dict, body: bytes, is_json: bool) -> bytes:
        lines = [f"{method} {self.base_path}{path} HTTP/1.1\r\n{self._head}"]
        lower = set()
        for k, v in headers.items():
            lines.append(f"{k}: {v}\r\n")
            lower.add(k.lower())
        if is_json and "content-type" not in lower:
            lines.append("Content-Type: application/json\r\n")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("latin-1") + body

    async def open_connection(self, session: HttpSession, slot: int):
        proto, error = await connect(
            self.loop, lambda: Connection(session, self.rec, slot, b"", False, self.open_loop, keep_body=True),
            self.address, self.plan.target.port, ssl_ctx=self.ssl_ctx, server_hostname=self.plan.target.host,
            timeout_s=self.plan.connect_timeout_s, rec=self.rec, ep=slot,
        )
        if proto is None:
            self.last_connect_error = error
            return None
        self.connections.add(proto)
        return proto

    # -- virtual users
    def _new_vu(self) -> _VU:
        n = self.n_users
        self.n_users += 1
        identity = self.pool.user(n % len(self.pool)) if self.pool is not None else n
        session = HttpSession(self)
        rng = random.Random((self.plan.user_pool.seed, self.index, n).__hash__())
        return _VU(self.user_cls(session, identity, rng), session)

    async def _iteration(self, vu: _VU, intended_ns: int) -> None:
        user = vu.user
        user.iteration_start_ns = intended_ns
        names = self.task_names
        name = names[0] if len(names) == 1 else vu.picks.choices(names, cum_weights=self.task_cum_weights)[0]
        try:
            await getattr(user, name)()
        except CheckFailed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # user code failed: count it and go on
            self._user_error(exc)
        self.rec.add_status(ST_ITERATIONS, 1)

    def _user_error(self, exc: BaseException) -> None:
        slot = self.registry.slot(f"error:{type(exc).__name__}")
        self.rec.count(slot, C_ERR_OTHER, 1)
        self.registry.check_failed(slot, str(exc)[:100] or type(exc).__name__)

    async def _hook(self, vu: _VU, name: str) -> None:
        try:
            await getattr(vu.user, name)()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._user_error(exc)

    async def _closed_vu(self, vu: _VU) -> None:
        vu.picks = random.Random(self.n_users * 7919 + self.index)
        await self._hook(vu, "on_start")
        wait = vu.user.wait
        no_wait = wait.kind == "constant" and wait.a <= 0
        while vu.running and not self.stopping and self.take():
            t0 = now_ns()
            if t0 >= self.end_ns:
                break
            await self._iteration(vu, t0)
            if no_wait:
                continue
            pause = wait.pause((now_ns() - t0) / 1e9, vu.user.rng.random)
            if pause > 0 and vu.running and not self.stopping:
                await asyncio.sleep(pause)
        await self._hook(vu, "on_stop")
        vu.session.close()

    async def _open_vu(self, vu: _VU, intended_ns: int) -> None:
        vu.picks = random.Random(self.n_users * 7919 + self.index)
        await self._hook(vu, "on_start")
        while True:
            await self._iteration(vu, intended_ns)
            if self.stopping:
                break
            vu.wake = self.loop.create_future()
            self.idle_vus.append(vu)
            intended_ns = await vu.wake
            if intended_ns is None:
                break
        await self._hook(vu, "on_stop")
        vu.session.close()

    # -- the engine interface the worker drives
    def tick(self, now: int) -> None:
        if self.stopping or self.open_loop:
            return
        want = split(int(self.plan.shape.value_at((now - self.start_ns) / 1e9)), self.n_workers, self.index)
        while len(self.vus) < want:
            vu = self._new_vu()
            self.vus.append(vu)
            vu.task = self._spawn(self._closed_vu(vu))
        while len(self.vus) > want:
            self.vus.pop().running = False

    def start(self) -> None:
        if self.open_loop:
            self._schedule()

    def _dispatch(self, intended_ns: int, now: int) -> None:
        """One open-loop iteration: to an idle user, a new one under the cap, or dropped."""
        if now - intended_ns > LATE_NS:
            self.rec.add_status(ST_ITER_LATE, 1)
        if self.idle_vus:
            self.idle_vus.pop().wake.set_result(intended_ns)
        elif len(self.vus) < self.cap:
            vu = self._new_vu()
            self.vus.append(vu)
            vu.task = self._spawn(self._open_vu(vu, intended_ns))
        else:
            self.rec.add_status(ST_ITER_DROPPED, 1)

    @property
    def active(self) -> int:
        return len(self.vus) - len(self.idle_vus)

    def stop(self) -> None:
        super().stop()
        for vu in self.vus:
            vu.running = False
        for vu in self.idle_vus:
            if vu.wake is not None and not vu.wake.done():
                vu.wake.set_result(None)
        self.idle_vus.clear()

    def idle(self) -> bool:
        return not self.tasks

    def finished(self) -> bool:
        if self.open_loop:
            return (self.remaining == 0 or math.isinf(self._due_ns(self.k))) and self.in_flight() == 0
        return self.remaining == 0 and not self.tasks
