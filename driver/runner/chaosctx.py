"""The chaos timeline in the bot-side process: driver.chaos.ChaosContext for a run.

Platform faults switch the mock's faults (the config's `mock.faults` outside the
windows); webhook faults go to the target at the scenario's webhook path; what each
does is recorded as endpoints `chaos:<name>` in the bot side's stats block (observed
endpoints: never part of the run's totals). The target's `/health` is polled every
second through the run when it answers one (a 404 at the start: not polled, noted).
"""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from driver.layout import C_CHECK_FAILED, C_CHECKS, CTL_STOP, ERROR_COUNTERS, STOP_NONE
from driver.plan import Plan

__all__ = ["start_chaos", "RunChaos", "webhook_path_of"]

DEFAULT_PATHS = {"telegram": "/webhook/telegram", "whatsapp": "/webhook/whatsapp"}
HEALTH_PATH = "/health"


def webhook_path_of(plan: Plan, platform: str) -> str:
    """Where the scenario sends its updates: a Python scenario's `webhook_path`, the first
    YAML task with a telegram/whatsapp body, else the platform's usual path."""
    sc = plan.scenario
    if sc is not None and sc.python:
        try:
            from driver.scenario.loader import load_user_class
            path = getattr(load_user_class(sc), "webhook_path", None)
            if isinstance(path, str) and path.startswith("/"):
                return path
        except Exception:  # the workers report a scenario that does not load
            pass
    for task in (sc.tasks if sc is not None else ()):
        if any(k in task for k in ("telegram", "whatsapp")) and str(task.get("path", "")).startswith("/"):
            return task["path"]
    return DEFAULT_PATHS.get(platform, "/webhook")


class RunChaos:
    """ChaosContext of a run (see driver.chaos.context)."""

    def __init__(self, plan: Plan, start_ns: int, mock, control, side):
        self.plan = plan
        self.start_ns = start_ns
        self.mock = mock
        self.control = control
        self.side = side  # the BotSide: its recorder and endpoint registry
        split = urlsplit(plan.target.base_url)
        self.target_url = f"{split.scheme}://{split.netloc}"
        self.platform = plan.mock.platform if plan.mock is not None else "telegram"
        self.webhook_path = webhook_path_of(plan, self.platform)
        spec = plan.scenario
        self.secret_token = spec.telegram_secret if spec is not None else None
        self.app_secret = spec.whatsapp_app_secret if spec is not None else None
        self.health_path: str | None = HEALTH_PATH
        self._base = plan.mock.faults if plan.mock is not None else None
        self._slots: dict[str, int] = {}
        self._updates = None

    def set_faults(self, faults) -> None:
        if self.mock is not None:
            self.mock.set_faults(faults)

    def base_faults(self):
        if self._base is None:
            from driver.mock.faults import Faults
            self._base = Faults()
        return self._base

    def record(self, name: str, *, status: int = 0, error: str | None = None, latency_ns: int = 0,
               check: tuple[bool, str] | None = None) -> None:
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = self.side.registry.slot("chaos:" + name)
        rec = self.side.rec
        if status:
            rec.response(slot, status, 0, latency_ns)
        elif error is not None:
            rec.count(slot, ERROR_COUNTERS.get(error, ERROR_COUNTERS["other"]), 1)
        if check is not None:
            rec.count(slot, C_CHECKS, 1)
            if not check[0]:
                rec.count(slot, C_CHECK_FAILED, 1)
                self.side.registry.check_failed(slot, check[1])

    def stopping(self) -> bool:
        return int(self.control[CTL_STOP]) != STOP_NONE or self.side.load_done()

    def update_body(self) -> bytes:
        if self._updates is None:
            from driver.payloads.users import UserPool
            from driver.plan import UserPoolSpec
            self._pool = UserPool(UserPoolSpec(size=1000, seed=7), 0, 1, 1000)
            if self.platform == "whatsapp":
                from driver.payloads.whatsapp import WhatsAppNotifications
                self._updates = WhatsAppNotifications(app_secret=self.app_secret)
            else:
                from driver.payloads.telegram import TelegramUpdates
                self._updates = TelegramUpdates(secret_token=self.secret_token)
            self._n = 0
        self._n += 1
        user = self._pool.user(self._n % 1000)
        return self._updates.text(user, "/start")


async def _health_answers(ctx: RunChaos) -> bool:
    """Whether the target has a health endpoint (a 404 there: no polling)."""
    import aiohttp
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
            async with session.get(ctx.target_url + HEALTH_PATH) as resp:
                return resp.status != 404
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return True  # down now: poll it, the checks will say so


def start_chaos(plan: Plan, events, start_ns: int, mock, control, side) -> asyncio.Task:
    """The timeline as a task of the bot side's loop (cancelled when the side ends)."""
    from driver.chaos.runner import run_timeline

    ctx = RunChaos(plan, start_ns, mock, control, side)

    async def run() -> None:
        if not await _health_answers(ctx):
            ctx.health_path = None
        await run_timeline(events, ctx)
    return asyncio.get_running_loop().create_task(run())
