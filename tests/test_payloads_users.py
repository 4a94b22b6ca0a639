"""UserPool: deterministic from the seed, partitioned across workers, tier encoded in the id."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from driver.payloads.catalog import TIER_BASE, tier_of_id
from driver.payloads.users import SyntheticUser, UserPool, worker_share
from driver.plan import UserPoolSpec

E164 = re.compile(r"\+[1-9]\d{7,14}")
TELEGRAM_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


def pool(size=50, worker_index=0, n_workers=1, **spec):
    return UserPool(UserPoolSpec(**spec), worker_index, n_workers, size)


def test_same_seed_same_users_however_often_built_or_iterated():
    a, b = pool(200, seed=7), pool(200, seed=7)
    assert a.users == b.users
    assert list(a) == list(a) == a.users
    assert [a.user(i) for i in range(len(a))] == b.users


def test_other_seed_other_users():
    a, b = pool(200, seed=1), pool(200, seed=2)
    assert [u.phone for u in a] != [u.phone for u in b]
    assert [(u.first_name, u.last_name) for u in a] != [(u.first_name, u.last_name) for u in b]


@pytest.mark.parametrize("n_workers", [1, 2, 3, 8])
def test_a_user_is_the_same_whatever_the_number_of_workers(n_workers):
    total = 240
    whole = {u.index: u for u in pool(total)}
    parts = [pool(worker_share(total, w, n_workers), w, n_workers) for w in range(n_workers)]
    merged = [u for p in parts for u in p]
    assert sorted(u.index for u in merged) == list(range(total))
    for u in merged:
        assert u == whole[u.index]


def test_ids_and_phones_never_collide_across_workers():
    n_workers = 4
    users = [u for w in range(n_workers) for u in pool(500, w, n_workers)]
    assert len({u.id for u in users}) == len(users)
    assert len({u.phone for u in users}) == len(users)
    assert len({u.username for u in users}) == len(users)


def test_id_encodes_the_tier():
    for u in pool(2000):
        assert tier_of_id(u.id) == u.tier
        assert u.id == TIER_BASE[u.tier] + u.index


def test_tiers_follow_the_weights():
    counts = Counter(u.tier for u in pool(20_000))
    assert counts["free"] / 20_000 == pytest.approx(0.80, abs=0.02)
    assert counts["premium"] / 20_000 == pytest.approx(0.15, abs=0.02)
    assert counts["admin"] / 20_000 == pytest.approx(0.05, abs=0.01)


def test_zero_weight_tier_is_never_drawn():
    users = pool(5000, tiers=(("free", 1.0), ("premium", 0.0), ("admin", 0.0)))
    assert {u.tier for u in users} == {"free"}
    users = pool(500, tiers=(("admin", 2.0),))
    assert {u.tier for u in users} == {"admin"}


def test_user_fields():
    languages = ("en", "de", "ru")
    for u in pool(300, languages=languages):
        assert E164.fullmatch(u.phone) and u.phone.startswith("+1555")
        assert u.wa_id == u.phone[1:] and u.wa_id.isdigit()
        assert u.chat_id == u.id
        assert TELEGRAM_USERNAME.fullmatch(u.username)
        assert u.language_code in languages
        assert u.first_name and u.last_name and u.full_name == f"{u.first_name} {u.last_name}"


def test_phones_past_ten_million_users_stay_unique_e164():
    # worker 10**7 of 10**7 + 1 holds global indices 10**7 and 2 * 10**7 + 1: long numbers
    far = pool(2, 10**7, 10**7 + 1)
    near = pool(10)
    phones = [u.phone for u in far] + [u.phone for u in near]
    assert len(set(phones)) == len(phones)
    assert all(E164.fullmatch(p) for p in phones)


def test_seq_is_a_counter_outside_equality():
    a, b = pool(3), pool(3)
    u = a.user(0)
    assert (u.next_seq(), u.next_seq(), u.seq) == (1, 2, 2)
    assert u == b.user(0)


def test_synthetic_user_is_a_slots_dataclass():
    u = pool(1).user(0)
    assert isinstance(u, SyntheticUser)
    with pytest.raises(AttributeError):
        u.extra = 1


def test_worker_share_splits_the_whole_pool():
    for total in (0, 1, 7, 100):
        for n in (1, 3, 4):
            shares = [worker_share(total, w, n) for w in range(n)]
            assert sum(shares) == total and max(shares) - min(shares) <= 1


@pytest.mark.parametrize(
    "kwargs, spec, message",
    [
        # a tier the id convention has no range for
        (dict(size=1), dict(tiers=(("gold", 1.0),)), "tier 'gold' has no id range"),
        # weights must be usable
        (dict(size=1), dict(tiers=(("free", 0.0),)), "must not all be 0"),
        (dict(size=1), dict(tiers=(("free", -1.0),)), "weight must be a number >= 0"),
        (dict(size=1), dict(tiers=()), "tiers must not be empty"),
        (dict(size=1), dict(languages=()), "languages must not be empty"),
        # worker index outside [0, n_workers)
        (dict(size=1, worker_index=2, n_workers=2), {}, "worker_index must be in"),
        (dict(size=1, worker_index=0, n_workers=0), {}, "n_workers must be >= 1"),
        (dict(size=-1), {}, "size must be >= 0"),
        # more users than one tier's id range holds
        (dict(size=2, worker_index=0, n_workers=10**9), {}, "user pool too large"),
    ],
)
def test_bad_pools_are_refused(kwargs, spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pool(**kwargs, **spec)
