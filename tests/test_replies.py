"""Reply correlation, pure: keys, the ring between a worker and the bot side, the
matcher, the reply rules."""
import numpy as np
import pytest

from driver.replies.correlate import Correlator, Update
from driver.replies.keys import key_of
from driver.replies.ring import (
    EXPECT_ALLOWED,
    EXPECT_ANY,
    EXPECT_REFUSED,
    RingReader,
    RingWriter,
    ring_length,
)
from driver.replies.rules import ReplyCheck, ReplyRules, expect_code, split_expect

MS = 1_000_000


# -- keys
@pytest.mark.parametrize("value, key", [
    (123, 123), ("123", 123), ("-100123", -100123), ("+4915112345678", 4915112345678),
    (None, 0), ("", 0), (True, 0), (1.5, 0), ("+1 (555) 010-2030", 15550102030),
])
def test_keys_of_whole_numbers_are_the_numbers(value, key):
    assert key_of(value) == key


def test_text_keys_are_stable_hashes():
    a = key_of("wamid.HBgLMTIzNDU2Nzg5MBUCABIYFDNB")
    assert a == key_of("wamid.HBgLMTIzNDU2Nzg5MBUCABIYFDNB") and a > 0
    assert a != key_of("wamid.HBgLMTIzNDU2Nzg5MBUCABIYFDNC")
    assert key_of("٣") != 3  # non-ASCII digits are text
    assert 0 < key_of(str(1 << 70)) < (1 << 63)  # too big for int64: hashed


# -- ring
def test_ring_hands_over_records_in_order_and_wraps():
    a = np.zeros(ring_length(4), dtype=np.int64)
    w, r = RingWriter(a, 4), RingReader(a, 4)
    assert len(r.take()) == 0
    for i in range(3):
        assert w.put(i, 10 + i, 100 + i, 7, EXPECT_REFUSED)
    got = r.take()
    assert got[:, 0].tolist() == [0, 1, 2] and got[:, 3].tolist() == [7] * 3
    for i in range(3, 7):  # wraps around the end
        assert w.put(i, 0, 0, 0)
    assert not w.put(99, 0, 0, 0)  # full: counted, not written
    assert r.overflow == 1
    assert r.take()[:, 0].tolist() == [3, 4, 5, 6]
    assert w.put(7, 0, 0, 0) and r.take()[:, 0].tolist() == [7]


def test_ring_rejects_a_wrong_size():
    with pytest.raises(ValueError):
        RingWriter(np.zeros(10, dtype=np.int64), 4)


# -- correlator
class Log:
    def __init__(self, timeout_ms=1000, settle_ms=100):
        self.first, self.closed, self.missing, self.unfinished = [], [], [], []
        self.c = Correlator(timeout_ms * MS, settle_ms * MS,
                            on_first=lambda u, lat: self.first.append((u.message, lat)),
                            on_close=lambda u: self.closed.append((u.message, u.messages, u.last_ns - u.intended_ns)),
                            on_missing=lambda u: self.missing.append(u.message),
                            on_unfinished=lambda u: self.unfinished.append(u.message))

    def send(self, chat, message, t_ms, sent_ms=None):
        self.c.add(Update("src", chat, message, t_ms * MS, (sent_ms if sent_ms is not None else t_ms) * MS, 0))

    def reply(self, chat, t_ms, reply_to=None, status=200, text="ok", **extra):
        return self.c.reply({"reply": True, "status": status, "chat_id": chat, "received_ns": t_ms * MS,
                             "reply_to_message_id": reply_to, "text": text, **extra})


def test_replies_match_by_message_id_across_chats_in_flight():
    log = Log()
    log.send(1, 10, 0)
    log.send(1, 11, 5)
    log.send(2, 10, 6)
    log.reply(1, 20, reply_to=11)  # the second update of chat 1 answered first
    log.reply(2, 21, reply_to="10")  # ids as text (form bodies)
    log.reply(1, 30, reply_to=10)
    assert log.first == [(11, 15 * MS), (10, 15 * MS), (10, 30 * MS)]


def test_replies_without_ids_match_by_chat_in_send_order():
    log = Log()
    log.send(1, 10, 0)
    log.send(1, 11, 1)
    log.reply(1, 5)
    log.reply(1, 6)
    log.reply(1, 7)  # every open update has a reply: another message of the newest
    assert log.first == [(10, 5 * MS), (11, 5 * MS)]
    log.c.tick(7 * MS + 100 * MS)
    assert sorted(log.closed) == [(10, 1, 5 * MS), (11, 2, 6 * MS)]


def test_a_reply_is_never_given_to_an_update_sent_after_it():
    log = Log()
    log.send(1, 10, 0, sent_ms=50)
    assert log.reply(1, 20) is None and log.c.unmatched == 1


def test_failed_and_non_message_calls_are_not_replies():
    log = Log()
    log.send(1, 10, 0)
    assert log.reply(1, 5, status=503) is None
    assert log.c.reply({"method": "getMe", "status": 200, "chat_id": None, "received_ns": 1}) is None
    assert log.reply(1, 5, status=0) is None  # a reset or hung call
    assert log.first == []


def test_missing_after_the_timeout_and_late_replies_do_not_count():
    log = Log(timeout_ms=100)
    log.send(1, 10, 0)
    log.send(1, 11, 50)
    log.c.tick(99 * MS)
    assert log.missing == []
    log.c.tick(100 * MS)
    assert log.missing == [10]
    assert log.reply(1, 120, reply_to=10) is None  # late: counted unmatched, not a reply
    assert log.c.unmatched == 1
    log.reply(1, 130)
    assert log.first == [(11, 80 * MS)]
    assert log.c.open == 1


def test_multi_message_answers_close_after_the_settle_time():
    log = Log(settle_ms=100)
    log.send(1, 10, 0)
    log.reply(1, 10, reply_to=10, text="working...")
    log.reply(1, 60, reply_to=10, text="done", buttons=True)
    log.c.tick(150 * MS)
    assert log.closed == []  # 100 ms after the last message, not the first
    log.c.tick(160 * MS)
    assert log.closed == [(10, 2, 60 * MS)] and log.c.open == 0


def test_finish_closes_answered_and_returns_the_unanswered():
    log = Log()
    log.send(1, 10, 0)
    log.send(2, 10, 0)
    log.reply(1, 5, reply_to=10)
    left = log.c.finish()
    assert [u.chat for u in left] == [2] and log.unfinished == [10]
    assert log.closed == [(10, 1, 5 * MS)] and log.c.open == 0
    assert not log.c.by_chat and not log.c.by_message


def test_sent_counts_relation_holds_under_random_traffic():
    import random
    rng = random.Random(7)
    log = Log(timeout_ms=50, settle_ms=5)
    sent = 0
    for t in range(0, 2000):
        if rng.random() < 0.5:
            sent += 1
            log.send(rng.randrange(20), sent, t)
        if rng.random() < 0.4:
            log.reply(rng.randrange(20), t, reply_to=rng.choice([None, rng.randrange(1, sent + 2)]))
        log.c.tick(t * MS)
    log.c.finish()
    assert len(log.first) + len(log.missing) + len(log.unfinished) == sent
    assert len(log.closed) == len(log.first)


def test_open_updates_are_bounded():
    log = Log()
    log.c.max_open = 2
    for m in range(5):
        log.send(1, m, 0)
    assert log.c.open == 2 and log.c.untracked == 3


# -- rules
def test_expect_codes_round_trip():
    assert split_expect(expect_code("refused", 3)) == (EXPECT_REFUSED, 3)
    assert split_expect(expect_code("allowed", 0)) == (EXPECT_ALLOWED, 0)
    assert split_expect(expect_code(None, 5)) == (EXPECT_ANY, 0)


@pytest.mark.parametrize("want, text, failures", [
    ("allowed", "Here is your report", []),
    ("allowed", "⛔ premium only", ["tier rule: free user should be allowed"]),
    ("refused", "⛔ premium only", []),
    ("refused", "Here is your report", ["tier rule: free user should be refused"]),
    (None, "⛔ anything", []),
])
def test_tier_rules_judge_the_first_message(want, text, failures):
    rules = ReplyRules(tiers=("free", "premium"))
    n, got = rules.judge("/report", expect_code(want, 0), [text], False, 1)
    assert got == failures and n == (0 if want is None else 1)


def test_refusal_pattern_and_checks_are_configurable():
    rules = ReplyRules(refusal=r"(?i)not allowed", tiers=("free",),
                       checks={"/settings": ReplyCheck(text="Settings", buttons=True, min_messages=2)})
    n, got = rules.judge("/settings", expect_code("allowed", 0), ["Sorry, NOT ALLOWED"], False, 1)
    assert n == 4
    assert got == ["tier rule: free user should be allowed", "reply text does not match 'Settings'",
                   "reply has no buttons", "reply has fewer than 2 messages"]
    assert rules.judge("/settings", 0, ["x", "Settings:"], True, 2) == (3, [])
    assert rules.judge("/other", 0, [], False, 1) == (0, [])


def test_updates_of_a_quoting_endpoint_are_not_given_replies_that_quote_nothing():
    log = Log()
    c = log.c
    for m in range(1, 6):  # the "report" endpoint's replies always quote
        c.add(Update("report", 1, m, m * MS, m * MS, 0))
        log.reply(1, m + 0.5, reply_to=m)
    c.add(Update("report", 1, 10, 20 * MS, 20 * MS, 0))  # in flight, its reply will quote it
    c.add(Update("start", 1, 11, 21 * MS, 21 * MS, 0))  # a command answered without quoting
    got = log.reply(1, 30)
    assert got.message == 11  # not the older report update
    assert log.reply(1, 31, reply_to=10).message == 10
