"""The command catalog of a realistic Telegram bot, with user tiers.

A catalog is a tuple of `Command`s: the slash command, how often real users send it
(`weight`, relative), the user tier it requires, example arguments and a description.
Load generators draw commands by weight; the demo target (`driver.targets.demo`)
implements every command of `DEFAULT_CATALOG` with the same tier rules, so a load test
can check each reply against `expected_reply`.

Tiers are ordered, each including the ones before it: free < premium < admin. A user's
tier follows from their Telegram user id (`from.id`), so a generator picks the tier by
picking the id:

    free     1_000_000_000 <= id < 2_000_000_000   (and every id outside the ranges)
    premium  2_000_000_000 <= id < 3_000_000_000
    admin    3_000_000_000 <= id < 4_000_000_000

`args` are the command's example arguments, in order: the message text a generator
sends is `command_text(command)`, e.g. `/remind 18:00 call mom`.

The reply rule. The bot answers a command with a Bot API `sendMessage` call (200,
`{"method": "sendMessage", "chat_id": ..., "text": ...}`) either way:

    refused  <=> the reply's "text" starts with REFUSAL_PREFIX ("⛔", U+26D4)

The demo bot's refusal text is exactly
`"⛔ /<name> requires the <tier> tier (you are <user tier>)."`, and no allowed reply
ever starts with "⛔" (the bot guards echoed user text). `reply_is_refusal` applies the
rule to a parsed reply; it also reads a WhatsApp message object (`text.body`) and the
demo's WhatsApp envelope (`{"reply": {...}}`) the same way. In a YAML check the rule is
"json.text starts with ⛔".
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TIERS",
    "TIER_BASE",
    "TIER_SPAN",
    "REFUSAL_PREFIX",
    "Command",
    "DEFAULT_CATALOG",
    "tier_of_id",
    "tier_allows",
    "tier_user_id",
    "command_text",
    "expected_reply",
    "refusal_text",
    "reply_is_refusal",
    "find_command",
    "load_catalog",
]

TIERS: tuple[str, ...] = ("free", "premium", "admin")
TIER_BASE: dict[str, int] = {
    "free": 1_000_000_000,
    "premium": 2_000_000_000,
    "admin": 3_000_000_000,
}
#: Each tier's ids are [TIER_BASE[tier], TIER_BASE[tier] + TIER_SPAN).
TIER_SPAN = 1_000_000_000
REFUSAL_PREFIX = "\u26d4"  # ⛔
_RANK = {tier: rank for rank, tier in enumerate(TIERS)}
# Telegram's rule for bot command names: 1-32 of a-z, 0-9 and _.
_NAME_RE = re.compile(r"/[a-z0-9_]{1,32}")


@dataclass(frozen=True)
class Command:
    name: str  # with the slash: "/start"
    weight: float  # relative share of traffic, > 0
    tier: str  # the lowest tier allowed to use it
    args: tuple[str, ...] = ()  # example arguments, in order
    description: str = ""


def _c(name: str, weight: float, tier: str, args: tuple[str, ...], description: str) -> Command:
    return Command(name, weight, tier, args, description)


# Weights as a consumer bot's traffic looks: /start and the everyday free commands
# dominate, paid features are a minority, admin commands are rare.
DEFAULT_CATALOG: tuple[Command, ...] = (
    _c("/start", 15.0, "free", (), "greeting and onboarding"),
    _c("/help", 8.0, "free", (), "list the commands"),
    _c("/settings", 4.0, "free", (), "settings menu (inline keyboard)"),
    _c("/language", 2.0, "free", ("de",), "choose the language (inline keyboard)"),
    _c("/profile", 5.0, "free", (), "show your profile"),
    _c("/balance", 6.0, "free", (), "show your balance"),
    _c("/subscribe", 2.0, "free", ("daily",), "subscribe to a digest"),
    _c("/unsubscribe", 1.0, "free", ("daily",), "unsubscribe from a digest"),
    _c("/search", 10.0, "free", ("pizza", "near", "me"), "search the catalogue"),
    _c("/echo", 8.0, "free", ("hello", "world"), "repeat the text"),
    _c("/weather", 9.0, "free", ("Berlin",), "current weather for a city"),
    _c("/remind", 5.0, "free", ("18:00", "call", "mom"), "set a reminder"),
    _c("/feedback", 1.0, "free", ("great", "bot"), "send feedback"),
    _c("/history", 4.0, "premium", (), "your last actions"),
    _c("/export", 1.5, "premium", ("csv",), "export your data"),
    _c("/premium_report", 2.0, "premium", ("month",), "usage report"),
    _c("/priority_support", 1.0, "premium", ("card", "declined"), "open a priority ticket"),
    _c("/ai_chat", 6.0, "premium", ("summarise", "my", "week"), "ask the assistant"),
    _c("/broadcast", 0.2, "admin", ("Service", "update", "tonight"), "message all users"),
    _c("/stats", 0.5, "admin", (), "bot statistics"),
    _c("/ban", 0.2, "admin", ("1000000042",), "ban a user by id"),
    _c("/maintenance", 0.1, "admin", ("on",), "toggle maintenance mode"),
)


def tier_of_id(user_id: int) -> str:
    """The tier of a Telegram user id; ids outside every range are "free"."""
    for tier in reversed(TIERS):
        base = TIER_BASE[tier]
        if base <= user_id < base + TIER_SPAN:
            return tier
    return "free"


def tier_user_id(tier: str, n: int = 0) -> int:
    """The n-th user id of a tier (n in [0, TIER_SPAN)): for generators and tests."""
    _check_tier(tier)
    if not 0 <= n < TIER_SPAN:
        raise ValueError(f"n must be in [0, {TIER_SPAN}), got {n}")
    return TIER_BASE[tier] + n


def _check_tier(tier: str) -> None:
    if tier not in _RANK:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")


def tier_allows(user_tier: str, required_tier: str) -> bool:
    """Whether a user of `user_tier` may use a command that requires `required_tier`."""
    _check_tier(user_tier)
    _check_tier(required_tier)
    return _RANK[user_tier] >= _RANK[required_tier]


def command_text(command: Command) -> str:
    """The message text a user sends for `command` with its example args."""
    return " ".join((command.name, *command.args))


def expected_reply(command: Command, user_tier: str) -> str:
    """"allowed" or "refused": what the bot answers `command` from a `user_tier` user."""
    return "allowed" if tier_allows(user_tier, command.tier) else "refused"


def refusal_text(command_name: str, required_tier: str, user_tier: str) -> str:
    """The demo bot's exact refusal text (starts with REFUSAL_PREFIX)."""
    return (f"{REFUSAL_PREFIX} {command_name} requires the {required_tier} tier "
            f"(you are {user_tier}).")


def reply_is_refusal(reply_json: dict[str, Any]) -> bool:
    """Whether a parsed reply is a refusal: its text starts with REFUSAL_PREFIX.

    Reads a Bot API call (`text`), a WhatsApp message object (`text.body`) or the
    demo's WhatsApp envelope (`reply.text.body`).
    """
    if not isinstance(reply_json, dict):
        return False
    inner = reply_json.get("reply")
    if isinstance(inner, dict):
        reply_json = inner
    text = reply_json.get("text")
    if isinstance(text, dict):
        text = text.get("body")
    return isinstance(text, str) and text.startswith(REFUSAL_PREFIX)


def find_command(name: str, catalog: tuple[Command, ...] = DEFAULT_CATALOG) -> Command | None:
    """The command called `name` ("/start"), or None."""
    for command in catalog:
        if command.name == name:
            return command
    return None


# --- user-provided catalogs ------------------------------------------------------

_FIELDS = ("name", "weight", "tier", "args", "description")


def _load_one(i: int, item: Any) -> Command:
    if not isinstance(item, dict):
        raise ValueError(f"catalog[{i}]: each command must be a mapping, "
                         f"got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"catalog[{i}]: name must be a slash command of 1-32 characters "
                         f"a-z, 0-9 or _ (like /start), got {name!r}")
    where = f"catalog[{i}] ({name})"
    unknown = sorted(set(item) - set(_FIELDS), key=str)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}; "
                         f"expected {', '.join(_FIELDS)}")
    weight = item.get("weight", 1.0)
    if (isinstance(weight, bool) or not isinstance(weight, (int, float))
            or not math.isfinite(weight) or weight <= 0):
        raise ValueError(f"{where}: weight must be a positive number, got {weight!r}")
    tier = item.get("tier", "free")
    if tier not in _RANK:
        raise ValueError(f"{where}: tier must be one of {', '.join(TIERS)}, got {tier!r}")
    args = item.get("args", ())
    if isinstance(args, str):
        args = args.split()
    if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
        raise ValueError(f"{where}: args must be a list of strings, got {args!r}")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{where}: description must be a string, got {description!r}")
    return Command(name, float(weight), tier, tuple(args), description)


def load_catalog(items: list[dict[str, Any]]) -> tuple[Command, ...]:
    """Validate a user-provided catalog (a list of mappings, as read from YAML).

    Each item: `name` (required, "/cmd"), `weight` (> 0, default 1), `tier` (default
    "free"), `args` (list of strings, or one space-separated string; default none),
    `description` (default ""). Raises ValueError naming the item and the problem.
    """
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"catalog must be a list of commands, got {type(items).__name__}")
    if not items:
        raise ValueError("catalog must have at least one command")
    commands = tuple(_load_one(i, item) for i, item in enumerate(items))
    seen: set[str] = set()
    for i, command in enumerate(commands):
        if command.name in seen:
            raise ValueError(f"catalog[{i}] ({command.name}): duplicate command name")
        seen.add(command.name)
    return commands
