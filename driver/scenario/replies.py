"""A worker's side of reply correlation: updates handed to the bot-side process.

`ScenarioContext.replies` is a ReplyTracker when the run follows replies at a mock
platform API (driver.runner.botside). A scenario calls `track` just before it sends
an update that expects a reply: the chat, the update's message id, the endpoint the
update is counted on (its reply is counted on `reply:<that name>`), the intended send
time, and what the tier rule expects (`expect`).

`wait` is how a closed-loop user behaves as a person does: it sends a command, then
waits for the bot's whole answer (its last message and `settle` of quiet, or given
up at the reply timeout) before its think time and next command. The bot side says which updates are done through a ring
back to the worker, read here every few milliseconds while anyone waits. (So in a
closed loop a chat has one update in flight, and replies that quote nothing still
match exactly; open loop sends on schedule, several per chat, as real traffic does.)
"""
from __future__ import annotations

import asyncio

from driver._speedups import now_ns
from driver.payloads.catalog import TIERS, Command, expected_reply
from driver.plan import ReplySpec
from driver.replies.keys import key_of
from driver.replies.correlate import WEBHOOK_REPLY
from driver.replies.ring import EXPECT_ANY, F_CHAT, F_EXPECT, F_MESSAGE, RingReader, RingWriter
from driver.replies.rules import expect_code

__all__ = ["ReplyTracker", "WEBHOOK_REPLY"]


class ReplyTracker:
    POLL_S = 0.005

    def __init__(self, writer: RingWriter, spec: ReplySpec | None, back: RingReader | None = None):
        self.writer = writer
        self.back = back
        self.spec = spec if spec is not None else ReplySpec()
        self._tier_of = None
        self._waiters: dict[tuple[int, int], asyncio.Future] = {}
        self._poller: asyncio.Task | None = None

    def tier_of(self, user_id: int) -> str:
        """The tier the bot gives this user (the configured rule: driver.replies.tiers)."""
        if self._tier_of is None:
            self._tier_of = self.spec.tiers.resolver()
        return self._tier_of(user_id)

    def expect(self, command: Command, user_id: int) -> int:
        """The expect field for a catalog command sent by this user."""
        tier = self.tier_of(user_id)
        return expect_code(expected_reply(command, tier), TIERS.index(tier))

    def track(self, chat, message, slot: int, intended_ns: int | None = None,
              expect: int = EXPECT_ANY) -> bool:
        """Hand an update to the bot side before sending it; False when the ring is full."""
        now = now_ns()
        return self.writer.put(key_of(chat), key_of(message), intended_ns or now, slot, expect, now)

    def answered_in_webhook(self, chat, message, slot: int) -> None:
        """The webhook response carried the reply (channel "both"): it counts as the reply,
        judged by the worker (the bot side only times it)."""
        now = now_ns()
        self.writer.put(key_of(chat), key_of(message), now, slot, WEBHOOK_REPLY, now)

    async def wait(self, chat, message, timeout_s: float | None = None) -> int:
        """Wait until the bot side is done with this update: OUTCOME_ANSWERED or
        OUTCOME_MISSING (driver.replies.correlate), 0 when `timeout_s` passed first."""
        if self.back is None:
            return 0
        key = (key_of(chat), key_of(message))
        loop = asyncio.get_running_loop()
        fut = self._waiters.get(key)
        if fut is None:
            fut = self._waiters[key] = loop.create_future()
        if self._poller is None or self._poller.done():
            self._poller = loop.create_task(self._poll())
        if timeout_s is None:
            timeout_s = self.spec.timeout_s + self.spec.settle_s + 1.0
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout_s)
        except asyncio.TimeoutError:
            return 0
        finally:
            if self._waiters.get(key) is fut:
                del self._waiters[key]

    async def _poll(self) -> None:
        waiters, back = self._waiters, self.back
        while waiters:
            for row in back.take().tolist():
                fut = waiters.pop((row[F_CHAT], row[F_MESSAGE]), None)
                if fut is not None and not fut.done():
                    fut.set_result(row[F_EXPECT])
            await asyncio.sleep(self.POLL_S)
