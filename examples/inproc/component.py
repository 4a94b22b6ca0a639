"""The conversation manager as a `driver run` target (python:// or a config's target.python).

    driver run 'python://examples/inproc/component.py:handle?setup=make&teardown=report&rejected=LimitReached' \
        -u 50 -d 10s

`make` runs once per worker and returns its manager (each worker process has its own:
one worker, the default, keeps the limits honest); `handle` is one user's conversation;
`report` prints the manager's counters when the worker is done. CONVERSATION_MANAGER=broken
loads the broken variant (broken_conversations.py).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # conversations.py beside this file

from conversations import ConversationManager, LimitReached  # noqa: E402,F401


def make() -> ConversationManager:
    cls = ConversationManager
    if os.environ.get("CONVERSATION_MANAGER") == "broken":
        from broken_conversations import BrokenConversationManager as cls
    return cls(max_concurrent=int(os.environ.get("MAX_CONCURRENT", "20")),
               max_per_user=int(os.environ.get("MAX_PER_USER", "3")))


async def handle(ctx) -> int:
    """One conversation of user `ctx.user`: every fifth is a complex one."""
    return await ctx.component.converse(f"user-{ctx.user}", complex_=ctx.n % 5 == 4)


def report(manager: ConversationManager) -> None:
    problems = manager.consistency()
    print(f"conversations: started {manager.started}, stopped {manager.stopped}, "
          f"rejected {manager.rejected_global} (global) {manager.rejected_user} (per user)"
          + (f"; INCONSISTENT: {'; '.join(problems)}" if problems else ""), file=sys.stderr)
