"""What a bot's answer must look like: reply checks judged from the reply messages.

Nothing here is fixed to one bot's conventions. A `ReplyRules` holds:
- `refusal`: a regular expression that marks a refusal in a reply's text (searched
  in the first message; the demo bot's is `^⛔`). A tier rule asks for a refusal or
  for anything but one (driver.replies.ring.EXPECT_*).
- per endpoint name, `ReplyCheck`s: a text pattern some message must match, buttons
  present (or absent), at least N messages.

Failure reasons are stable texts (never the reply itself), so that they add up across
updates, workers and runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from driver.replies.ring import EXPECT_ALLOWED, EXPECT_ANY, EXPECT_REFUSED

__all__ = ["ReplyCheck", "ReplyRules", "DEFAULT_REFUSAL", "expect_code", "split_expect"]

DEFAULT_REFUSAL = "^⛔"
_TIER_SHIFT = 4  # expect field: outcome code + tier index << 2 (the tier names the reason)


@dataclass(frozen=True)
class ReplyCheck:
    text: str | None = None  # a regular expression some message's text must match (search)
    buttons: bool | None = None  # True: some message has buttons; False: none has
    min_messages: int = 1

    def failures(self, texts: Sequence[str], buttons: bool, messages: int) -> list[str]:
        out = []
        if self.text is not None and not any(re.search(self.text, t) for t in texts):
            out.append(f"reply text does not match {self.text!r}")
        if self.buttons is True and not buttons:
            out.append("reply has no buttons")
        elif self.buttons is False and buttons:
            out.append("reply has buttons")
        if messages < self.min_messages:
            out.append(f"reply has fewer than {self.min_messages} messages")
        return out

    @property
    def n_checks(self) -> int:
        return (self.text is not None) + (self.buttons is not None) + (self.min_messages > 1)


def expect_code(want: str | None, tier_index: int = 0) -> int:
    """The ring's expect field for a tier rule: want is "allowed", "refused" or None."""
    code = {"allowed": EXPECT_ALLOWED, "refused": EXPECT_REFUSED}.get(want or "", EXPECT_ANY)
    return code + (tier_index << 2 if code != EXPECT_ANY else 0)


def split_expect(value: int) -> tuple[int, int]:
    """(EXPECT_* code, tier index) of an expect field."""
    return value & 3, value >> 2


@dataclass(frozen=True)
class ReplyRules:
    refusal: str = DEFAULT_REFUSAL
    tiers: tuple[str, ...] = ()  # names of the tier indexes in expect fields
    checks: Mapping[str, ReplyCheck] = field(default_factory=dict)  # by endpoint name ("/settings")

    def __post_init__(self) -> None:
        object.__setattr__(self, "_refusal", re.compile(self.refusal))

    def judge(self, name: str, expect: int, texts: Sequence[str], buttons: bool,
              messages: int) -> tuple[int, list[str]]:
        """(checks evaluated, failure reasons) for one update's answer."""
        n, failures = 0, []
        code, tier = split_expect(expect)
        if code != EXPECT_ANY:
            n += 1
            refused = bool(texts) and self._refusal.search(texts[0]) is not None  # type: ignore[attr-defined]
            if refused != (code == EXPECT_REFUSED):
                tier_name = self.tiers[tier] if tier < len(self.tiers) else f"tier {tier}"
                want = "refused" if code == EXPECT_REFUSED else "allowed"
                failures.append(f"tier rule: {tier_name} user should be {want}")
        check = self.checks.get(name)
        if check is not None:
            n += check.n_checks
            failures += check.failures(texts, buttons, messages)
        return n, failures
