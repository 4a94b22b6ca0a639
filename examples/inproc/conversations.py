"""An example component to load in-process: a conversation manager with a global limit
on concurrent conversations and a limit per user.

    manager = ConversationManager(max_concurrent=20, max_per_user=3)
    conv = await manager.start("user-1")       # LimitReached when a limit is hit
    await manager.stop(conv)

Everything happens on one event loop; `start` awaits (it loads the user's profile)
*after* claiming its slot, so no other start can slip in between the check and the
claim. broken_conversations.py is the same manager with that claim moved after the
await (a race) and a leak; the example suite catches both.
"""
from __future__ import annotations

import asyncio
import itertools

QUICK_S = 0.002  # how long a quick conversation talks
COMPLEX_S = 0.02  # and a complex one (several turns)


class LimitReached(Exception):
    """A conversation was refused: the expected answer when a limit holds."""


class GlobalLimit(LimitReached):
    pass


class UserLimit(LimitReached):
    pass


class ConversationManager:
    def __init__(self, max_concurrent: int = 20, max_per_user: int = 3):
        self.max_concurrent = max_concurrent
        self.max_per_user = max_per_user
        self.active: dict[int, str] = {}  # conversation id -> user
        self.per_user: dict[str, int] = {}  # user -> conversations open
        self.ids = itertools.count(1)
        self.started = 0
        self.stopped = 0
        self.rejected_global = 0
        self.rejected_user = 0

    async def start(self, user: str) -> int:
        """Open a conversation for `user`; GlobalLimit or UserLimit when one is full."""
        if len(self.active) >= self.max_concurrent:
            self.rejected_global += 1
            raise GlobalLimit(f"{self.max_concurrent} conversations open")
        if self.per_user.get(user, 0) >= self.max_per_user:
            self.rejected_user += 1
            raise UserLimit(f"user {user} has {self.max_per_user} conversations open")
        conv = next(self.ids)
        self.active[conv] = user  # the slot is claimed before anything is awaited
        self.per_user[user] = self.per_user.get(user, 0) + 1
        self.started += 1
        try:
            await self._load_profile(user)
        except BaseException:
            self._release(conv)
            raise
        return conv

    async def stop(self, conv: int) -> None:
        if conv not in self.active:
            raise KeyError(f"conversation {conv} is not open")
        self._release(conv)
        self.stopped += 1

    async def converse(self, user: str, complex_: bool = False) -> int:
        """A whole conversation: start, talk, stop (the slot is freed whatever happens)."""
        conv = await self.start(user)
        try:
            await asyncio.sleep(COMPLEX_S if complex_ else QUICK_S)
        finally:
            await self.stop(conv)
        return conv

    def _release(self, conv: int) -> None:
        user = self.active.pop(conv)
        left = self.per_user[user] - 1
        if left:
            self.per_user[user] = left
        else:
            del self.per_user[user]

    async def _load_profile(self, user: str) -> None:
        await asyncio.sleep(0)  # a database or cache look-up, in a real manager

    def consistency(self) -> list[str]:
        """What does not add up in the counters (empty: all consistent)."""
        problems = []
        if self.started != self.stopped + len(self.active):
            problems.append(f"started {self.started} != stopped {self.stopped} + open {len(self.active)}")
        if sum(self.per_user.values()) != len(self.active):
            problems.append(f"per-user counts sum to {sum(self.per_user.values())}, {len(self.active)} open")
        if len(self.active) > self.max_concurrent:
            problems.append(f"{len(self.active)} open over the limit of {self.max_concurrent}")
        return problems
