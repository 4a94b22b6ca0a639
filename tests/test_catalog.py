"""The command catalog: tiers, the reply rule, and validation of user catalogs."""
from __future__ import annotations

import pytest

from driver.payloads.catalog import (
    DEFAULT_CATALOG,
    REFUSAL_PREFIX,
    TIER_BASE,
    TIERS,
    Command,
    command_text,
    expected_reply,
    find_command,
    load_catalog,
    refusal_text,
    reply_is_refusal,
    tier_allows,
    tier_of_id,
    tier_user_id,
)


def test_tiers_are_ordered_with_their_id_bases():
    assert TIERS == ("free", "premium", "admin")
    assert TIER_BASE == {"free": 1_000_000_000, "premium": 2_000_000_000,
                         "admin": 3_000_000_000}


# (user id, its tier)
IDS = [
    (1_000_000_000, "free"),
    (1_999_999_999, "free"),
    (2_000_000_000, "premium"),  # first premium id
    (2_999_999_999, "premium"),
    (3_000_000_000, "admin"),
    (3_999_999_999, "admin"),
    (4_000_000_000, "free"),  # past every range
    (528143976, "free"),  # SAMPLE_UPDATE's sender: below every range
    (0, "free"),
    (-5, "free"),
]


@pytest.mark.parametrize("user_id,tier", IDS)
def test_tier_of_id(user_id, tier):
    assert tier_of_id(user_id) == tier


def test_tier_user_id_round_trips():
    for tier in TIERS:
        assert tier_of_id(tier_user_id(tier)) == tier
        assert tier_of_id(tier_user_id(tier, 999_999_999)) == tier
    with pytest.raises(ValueError):
        tier_user_id("premium", 1_000_000_000)
    with pytest.raises(ValueError, match="unknown tier"):
        tier_user_id("gold")


# (user tier, required tier, allowed)
ALLOWS = [
    ("free", "free", True),
    ("free", "premium", False),
    ("free", "admin", False),
    ("premium", "free", True),
    ("premium", "premium", True),
    ("premium", "admin", False),
    ("admin", "free", True),
    ("admin", "premium", True),
    ("admin", "admin", True),
]


@pytest.mark.parametrize("user,required,allowed", ALLOWS)
def test_tier_allows_each_tier_and_the_ones_before_it(user, required, allowed):
    assert tier_allows(user, required) is allowed
    command = Command("/x", 1.0, required)
    assert expected_reply(command, user) == ("allowed" if allowed else "refused")


def test_unknown_tiers_are_refused_loudly():
    with pytest.raises(ValueError, match="unknown tier 'gold'"):
        tier_allows("gold", "free")
    with pytest.raises(ValueError, match="unknown tier"):
        expected_reply(DEFAULT_CATALOG[0], "root")


def test_default_catalog_is_a_realistic_bot():
    names = [c.name for c in DEFAULT_CATALOG]
    assert len(names) == 22 and len(set(names)) == 22
    for name in ("/start", "/help", "/settings", "/language", "/echo", "/ai_chat",
                 "/broadcast", "/maintenance"):
        assert name in names
    by_tier = {t: [c for c in DEFAULT_CATALOG if c.tier == t] for t in TIERS}
    assert len(by_tier["free"]) > len(by_tier["premium"]) > len(by_tier["admin"]) >= 3
    assert all(c.weight > 0 and c.description for c in DEFAULT_CATALOG)
    assert max(DEFAULT_CATALOG, key=lambda c: c.weight).name == "/start"
    # Admin commands are rare traffic; free ones are most of it.
    total = sum(c.weight for c in DEFAULT_CATALOG)
    assert sum(c.weight for c in by_tier["admin"]) / total < 0.02
    assert sum(c.weight for c in by_tier["free"]) / total > 0.7
    # Same validation as a user catalog: the default passes its own loader.
    as_dicts = [{"name": c.name, "weight": c.weight, "tier": c.tier, "args": list(c.args),
                 "description": c.description} for c in DEFAULT_CATALOG]
    assert load_catalog(as_dicts) == DEFAULT_CATALOG


def test_command_text_and_lookup():
    assert command_text(find_command("/remind")) == "/remind 18:00 call mom"
    assert command_text(find_command("/start")) == "/start"
    assert find_command("/nope") is None


# (reply, is a refusal)
REPLIES = [
    ({"method": "sendMessage", "chat_id": 1, "text": refusal_text("/ban", "admin", "free")},
     True),
    ({"method": "sendMessage", "chat_id": 1, "text": "User 5 banned."}, False),
    ({"method": "sendMessage", "chat_id": 1, "text": "echo: \u26d4"}, False),  # mark inside
    ({"type": "text", "text": {"body": "\u26d4 no"}}, True),  # a WhatsApp message object
    ({"to": "1", "reply": {"type": "text", "text": {"body": "\u26d4 no"}}}, True),  # envelope
    ({"to": "1", "reply": {"type": "interactive", "interactive": {}}}, False),
    ({"method": "answerCallbackQuery", "callback_query_id": "q"}, False),
    ({}, False),
]


@pytest.mark.parametrize("reply,refused", REPLIES)
def test_reply_is_refusal(reply, refused):
    assert reply_is_refusal(reply) is refused


def test_refusal_text_names_command_and_tiers():
    text = refusal_text("/stats", "admin", "premium")
    assert text == "\u26d4 /stats requires the admin tier (you are premium)."
    assert text.startswith(REFUSAL_PREFIX)


def test_load_catalog_fills_defaults():
    catalog = load_catalog([{"name": "/go"},
                            {"name": "/vip", "weight": 2, "tier": "premium",
                             "args": "a b", "description": "d"}])
    assert catalog == (Command("/go", 1.0, "free", (), ""),
                       Command("/vip", 2.0, "premium", ("a", "b"), "d"))
    assert isinstance(catalog[1].weight, float)


# (items, words the error must contain)
BAD_CATALOGS = [
    ({"name": "/a"}, "must be a list"),
    ([], "at least one command"),
    (["/start"], "catalog[0]: each command must be a mapping"),
    ([{"weight": 1}], "catalog[0]: name must be a slash command"),
    ([{"name": "start"}], "name must be a slash command"),
    ([{"name": "/Start"}], "name must be a slash command"),
    ([{"name": "/" + "a" * 33}], "name must be a slash command"),
    ([{"name": "/a", "weight": 0}], "catalog[0] (/a): weight must be a positive number"),
    ([{"name": "/a", "weight": -1}], "weight must be a positive number"),
    ([{"name": "/a", "weight": "1"}], "weight must be a positive number"),
    ([{"name": "/a", "weight": True}], "weight must be a positive number"),
    ([{"name": "/a", "weight": float("nan")}], "weight must be a positive number"),
    ([{"name": "/a", "tier": "gold"}], "tier must be one of free, premium, admin"),
    ([{"name": "/a", "args": [1]}], "args must be a list of strings"),
    ([{"name": "/a", "description": 3}], "description must be a string"),
    ([{"name": "/a", "wieght": 3}], "unknown field(s) wieght"),
    ([{"name": "/a"}, {"name": "/b"}, {"name": "/a"}], "catalog[2] (/a): duplicate"),
]


@pytest.mark.parametrize("items,why", BAD_CATALOGS)
def test_load_catalog_rejects_with_a_clear_message(items, why):
    with pytest.raises(ValueError) as info:
        load_catalog(items)
    assert why in str(info.value)
