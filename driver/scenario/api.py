"""The scenario API: what a virtual user does, written in Python.

    from driver.scenario import User, task, between

    class BotUser(User):
        wait = between(0.5, 2)

        async def on_start(self):
            self.state["seen"] = 0

        @task(3)
        async def start(self):
            r = await self.http.post("/webhook/telegram", json={...}, name="/start")
            r.expect(status=200, json={"method": "sendMessage"})

        @task(1)
        async def help(self):
            await self.http.post("/webhook/telegram", json={...}, name="/help")

Run it with `driver run -s bot.py` (or `module:Class`). Each iteration a user runs
one task, chosen by weight, then waits `wait`. `self.user` is the user's synthetic
identity (id, names, tier, phone...), `self.ws` its WebSocket client
(driver.scenario.ws), `self.jobs` and `self.calls` its async jobs and simulated calls
(driver.scenario.jobs, driver.scenario.calls), `self.db` its PostgreSQL database
(driver.scenario.db), `self.state` its own dict, `self.captured` the values its flows
captured, `self.rng` its own random generator (seeded: runs repeat).
"""
from __future__ import annotations

from driver.plan import ThinkTime
from driver.scenario.session import CheckFailed, Response

__all__ = ["User", "task", "constant", "between", "pacing", "CheckFailed", "Response"]


def constant(seconds: float) -> ThinkTime:
    """The same pause after every iteration."""
    return ThinkTime("constant", float(seconds))


def between(low: float, high: float) -> ThinkTime:
    """A pause drawn uniformly from [low, high] after every iteration."""
    if high < low:
        raise ValueError("between(low, high) needs low <= high")
    return ThinkTime("between", float(low), float(high))


def pacing(period: float) -> ThinkTime:
    """A fixed iteration period: start an iteration every `period` seconds when possible."""
    return ThinkTime("pacing", float(period))


def task(weight=1):
    """Mark an async method as a task, picked with probability proportional to `weight`.

    Usable bare (`@task`) or with a weight (`@task(3)`).
    """
    if callable(weight):
        weight.driver_task_weight = 1.0
        return weight

    def mark(func):
        if weight <= 0:
            raise ValueError("a task weight must be > 0")
        func.driver_task_weight = float(weight)
        return func

    return mark


class User:
    """Base class of virtual users. Subclass it and add @task methods."""

    wait: ThinkTime = ThinkTime()

    def __init__(self, http, user, rng):
        self.http = http
        self.user = user
        self.rng = rng
        self.state: dict = {}
        self.captured: dict = {}

    # -- replies at the run's mock platform API (driver.scenario.replies); no-ops without one
    def expect_reply(self, chat, message_id, name: str, expect: str | None = None) -> bool:
        """Say, just before sending an update, that the bot should answer it: its reply is
        matched at the mock and timed under `reply:<name>` (`name`: the request's name).
        `expect`: "allowed" or "refused" to judge it with the config's refusal pattern.
        False when the run has no mock (or the hand-over ring is full)."""
        ctx = self.http.context
        tracker = ctx.replies
        if tracker is None:
            return False
        from driver.payloads.catalog import TIERS
        from driver.replies.rules import expect_code
        code = expect_code(expect, 0) if expect in ("allowed", "refused") else 0
        if code and self.user is not None and getattr(self.user, "tier", None) in TIERS:
            code = expect_code(expect, TIERS.index(self.user.tier))
        intended = getattr(self, "iteration_start_ns", None) if ctx.open_loop else None
        return tracker.track(chat, message_id, ctx.slot(name), intended, code)

    async def wait_reply(self, chat, message_id, timeout_s: float | None = None) -> bool:
        """Wait, as a person does, for the bot's whole answer to an update given to
        `expect_reply` (default: the reply timeout + settle); True when it came."""
        tracker = self.http.context.replies
        if tracker is None:
            return False
        return await tracker.wait(chat, message_id, timeout_s) == 1

    @property
    def jobs(self):
        """Async jobs: `await self.jobs.run(name, submit=..., poll=..., ...)` submits jobs and
        follows them to a terminal state (driver.scenario.jobs), made on first use."""
        helper = self.__dict__.get("_jobs")
        if helper is None:
            from driver.scenario.jobs import Jobs

            helper = self._jobs = Jobs(self)
        return helper

    @property
    def db(self):
        """PostgreSQL (driver.scenario.db.Db): `await self.db.fetch(query, *args, name=...)`,
        `async with self.db.transaction(name) as tx`, made on first use; the database is the
        class's `db_settings` (a driver.scenario.db.DbSettings) or $DRIVER_DB_DSN."""
        helper = self.__dict__.get("_db")
        if helper is None:
            from driver.scenario.db import Db, DbSettings

            settings = getattr(type(self), "db_settings", None) or DbSettings.from_env()
            helper = self._db = Db(self, settings)
        return helper

    @property
    def calls(self):
        """Simulated calls: `await self.calls.run(name, initiate=..., media=..., duration=...)`
        sets up a call, streams its audio at real-time pace, polls it and hangs up
        (driver.scenario.calls), made on first use."""
        helper = self.__dict__.get("_calls")
        if helper is None:
            from driver.scenario.calls import Calls

            helper = self._calls = Calls(self)
        return helper

    @property
    def ws(self):
        """The user's WebSocket client (driver.scenario.ws.WsClient): `await self.ws.connect(path)`;
        its connections are closed when the user stops."""
        client = self.http.ws
        if client is None:
            from driver.scenario.ws import WsClient

            client = self.http.ws = WsClient(self.http.context)
        return client

    async def on_start(self) -> None:
        """Once, before the user's first iteration."""

    async def on_stop(self) -> None:
        """Once, when the user stops (end of the run or ramp-down)."""

    @classmethod
    def tasks(cls) -> list[tuple[str, float]]:
        """(method name, weight) of every task, in definition order (base classes first)."""
        seen: dict[str, float] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                weight = getattr(value, "driver_task_weight", None)
                if weight is not None:
                    seen[name] = weight
        return list(seen.items())
