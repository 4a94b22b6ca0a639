"""The conversation manager under concurrency: every check a team runs on it, each one
a load in this test's own process (the `driver_load` fixture of driver.pytest_plugin).

    pytest -p driver.pytest_plugin examples/inproc/test_conversations.py
    CONVERSATION_MANAGER=broken pytest ...      # the broken variant: the suite must fail

Every load's figures (min, max, mean, p50, p95, p99, success rate, throughput, memory
before/after/peak/growth) are printed in the session's "driver loads" section.
"""
from __future__ import annotations

import asyncio
import itertools

from conversations import LimitReached

REFUSED = [LimitReached]  # a limit that holds is the expected answer, not an error


def test_fifty_users_against_twenty_slots(driver_load, manager_class):
    """50 simultaneous users, max_concurrent=20: exactly 20 start, 30 are refused."""
    manager = manager_class(max_concurrent=20)

    async def start(ctx):
        return await manager.start(f"user-{ctx.user}")  # and keep the conversation open

    result = driver_load(start, users=50, requests=50, rejected=REFUSED)
    result.assert_counts(success=20, rejected=30, errors=0)
    result.assert_p95_below(5.0)
    result.assert_memory_growth_below(50)
    assert manager.started == 20 and len(manager.active) == 20, manager.consistency()
    assert manager.rejected_global == 30
    assert manager.consistency() == []


def test_sustained_load(driver_load, manager_class, sustained_s):
    """Conversations for `sustained_s` seconds: more than one a second, memory stable."""
    manager = manager_class(max_concurrent=20)

    async def converse(ctx):
        return await manager.converse(f"user-{ctx.user}", complex_=ctx.n % 5 == 4)

    result = driver_load(converse, users=10, duration=sustained_s, think=0.05, rejected=REFUSED)
    result.assert_no_errors()
    result.assert_throughput_above(1.0)
    result.assert_memory_growth_below(1)
    assert manager.started == manager.stopped == result.success
    assert manager.consistency() == []


def test_five_bursts_of_twenty(driver_load, manager_class):
    """5 bursts of 20 users, one after the other: each fits the limit, and each leaves it free."""
    manager = manager_class(max_concurrent=20)

    async def converse(ctx):
        return await manager.converse(f"user-{ctx.user}")

    for burst in range(5):
        result = driver_load(converse, users=20, requests=20, rejected=REFUSED)
        result.assert_counts(success=20, rejected=0, errors=0)
        assert not manager.active, f"burst {burst}: {len(manager.active)} conversations left open"
    assert manager.started == manager.stopped == 100
    assert manager.consistency() == []


def test_mix_of_quick_and_complex(driver_load, manager_class):
    """Quick and complex conversations together (3:1), each with its own figures."""
    manager = manager_class(max_concurrent=20)

    async def quick(ctx):
        return await manager.converse(f"user-{ctx.user}")

    async def complex_(ctx):
        return await manager.converse(f"user-{ctx.user}", complex_=True)

    result = driver_load({"quick": (quick, 3), "complex": (complex_, 1)}, users=10, requests=200,
                         rejected=REFUSED)
    result.assert_no_errors()
    quick_stats, complex_stats = result.endpoint("quick"), result.endpoint("complex")
    assert quick_stats.calls > complex_stats.calls > 0
    assert complex_stats.p50 > quick_stats.p50  # a complex conversation talks longer
    assert manager.consistency() == []


def test_global_limit_enforcement(driver_load, manager_class):
    """Start 10 (the limit), the 11th is refused; free one slot, and the 11th gets in."""
    manager = manager_class(max_concurrent=10)
    ids = itertools.count()
    opened = []

    async def start(ctx):
        conv = await manager.start(f"user-{next(ids)}")
        opened.append(conv)
        return conv

    driver_load(start, users=10, requests=10, rejected=REFUSED).assert_counts(success=10, rejected=0)
    driver_load(start, users=1, requests=1, rejected=REFUSED).assert_counts(success=0, rejected=1)
    asyncio.run(manager.stop(opened[0]))
    driver_load(start, users=1, requests=1, rejected=REFUSED).assert_counts(success=1, rejected=0)
    assert len(manager.active) == 10 and manager.rejected_global == 1
    assert manager.consistency() == []


def test_per_user_limits(driver_load, manager_class):
    """5 users, each trying 5 conversations at once with max_per_user=3: 3 each get in."""
    manager = manager_class(max_concurrent=100, max_per_user=3)

    async def start(ctx):
        return await manager.start(f"user-{ctx.user % 5}")

    result = driver_load(start, users=25, requests=25, rejected=REFUSED)
    result.assert_counts(success=15, rejected=10, errors=0)
    assert manager.per_user == {f"user-{i}": 3 for i in range(5)}
    assert manager.rejected_user == 10
    assert manager.consistency() == []


def test_thousand_rapid_start_stop_cycles(driver_load, manager_class):
    """1,000 start/stop cycles: no leak, no race, counters consistent."""
    manager = manager_class(max_concurrent=20)

    async def cycle(ctx):
        conv = await manager.start(f"user-{ctx.user}")
        await manager.stop(conv)

    result = driver_load(cycle, users=10, requests=1000, rejected=REFUSED)
    result.assert_counts(success=1000, rejected=0, errors=0)
    result.assert_memory_growth_below(1)
    assert manager.started == manager.stopped == 1000 and not manager.active
    assert manager.consistency() == []
