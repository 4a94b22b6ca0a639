"""The conversation manager with two deliberate bugs, for the example suite to catch.

1. A race: `start` checks the limit, awaits the user's profile, and only then claims
   the slot. Every start that arrives while others await passes the same check: 50
   users at once against a limit of 20 all get in.
2. A leak: every conversation's transcript is kept in `history` after it stops, so
   memory grows with each conversation (64 KiB each).
"""
from __future__ import annotations

import itertools

from conversations import ConversationManager, GlobalLimit, LimitReached, UserLimit  # noqa: F401

TRANSCRIPT_BYTES = 64 * 1024  # kept per conversation, forever


class BrokenConversationManager(ConversationManager):
    def __init__(self, max_concurrent: int = 20, max_per_user: int = 3):
        super().__init__(max_concurrent, max_per_user)
        self.history: list[bytearray] = []
        self.ids = itertools.count(1)

    async def start(self, user: str) -> int:
        if len(self.active) >= self.max_concurrent:
            self.rejected_global += 1
            raise GlobalLimit(f"{self.max_concurrent} conversations open")
        if self.per_user.get(user, 0) >= self.max_per_user:
            self.rejected_user += 1
            raise UserLimit(f"user {user} has {self.max_per_user} conversations open")
        await self._load_profile(user)  # BUG: others pass the check above meanwhile
        conv = next(self.ids)
        self.active[conv] = user
        self.per_user[user] = self.per_user.get(user, 0) + 1
        self.started += 1
        return conv

    async def stop(self, conv: int) -> None:
        await super().stop(conv)
        self.history.append(bytearray(TRANSCRIPT_BYTES))  # BUG: never let go
