"""The updates a worker sent, handed to the bot-side process through shared memory.

One ring per worker, a flat int64 array: a single writer (the worker, as it sends an
update that expects a reply) and a single reader (the bot-side process, which matches
replies to updates: driver.replies.correlate). No locks: the writer fills a record,
then advances `head`; the reader reads up to `head`, then advances `tail`. Both only
ever grow, so `head - tail` is the backlog. A full ring drops the update and counts it
(`overflow`): with CAPACITY records and the reader draining every few milliseconds
that takes millions of updates per second.

    [ head | tail | overflow | (pad) | records: CAPACITY x RECORD ]

A record: chat key, message key (driver.replies.keys), intended send time (monotonic
ns, the clock of every process on the machine), the worker's endpoint slot of the
update (its name is in the worker's name table), the expected outcome (EXPECT_*, with
the tier: driver.replies.rules.expect_code) and the actual send time.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CAPACITY", "RECORD", "ring_length", "RingWriter", "RingReader",
           "EXPECT_ANY", "EXPECT_ALLOWED", "EXPECT_REFUSED"]

CAPACITY = 1 << 16
RECORD = 6
_HEAD, _TAIL, _OVERFLOW = 0, 1, 2
_HEADER = 4
F_CHAT, F_MESSAGE, F_INTENDED, F_SLOT, F_EXPECT, F_SENT = range(RECORD)

EXPECT_ANY = 0  # no tier rule: any reply will do
EXPECT_ALLOWED = 1  # the user's tier allows the command: the reply must not be a refusal
EXPECT_REFUSED = 2  # the tier does not: the reply must be a refusal


def ring_length(capacity: int = CAPACITY) -> int:
    return _HEADER + capacity * RECORD


class _End:
    __slots__ = ("array", "records", "capacity")

    def __init__(self, array: np.ndarray, capacity: int = CAPACITY):
        if len(array) != ring_length(capacity):
            raise ValueError(f"a ring of {capacity} records is {ring_length(capacity)} slots, got {len(array)}")
        self.array = array
        self.records = array[_HEADER:].reshape(capacity, RECORD)
        self.capacity = capacity


class RingWriter(_End):
    """The worker's end."""

    __slots__ = ()

    def put(self, chat: int, message: int, intended_ns: int, slot: int, expect: int = EXPECT_ANY,
            sent_ns: int = 0) -> bool:
        """Hand one update over (call it before the update is sent: a reply can come before
        the send returns); False (and counted) when the reader is a full ring behind."""
        a = self.array
        head = int(a[_HEAD])
        if head - int(a[_TAIL]) >= self.capacity:
            a[_OVERFLOW] += 1
            return False
        self.records[head % self.capacity] = (chat, message, intended_ns, slot, expect, sent_ns)
        a[_HEAD] = head + 1  # last: the record is complete before the reader can see it
        return True


class RingReader(_End):
    """The bot-side process's end."""

    __slots__ = ()

    @property
    def overflow(self) -> int:
        return int(self.array[_OVERFLOW])

    def take(self) -> np.ndarray:
        """Every record written since the last take, oldest first (a copy, shape (n, RECORD))."""
        a = self.array
        tail, head = int(a[_TAIL]), int(a[_HEAD])
        if head == tail:
            return self.records[:0].copy()
        start, end = tail % self.capacity, head % self.capacity
        if start < end:
            out = self.records[start:end].copy()
        else:  # wrapped (or exactly full)
            out = np.concatenate((self.records[start:], self.records[:end]))
        a[_TAIL] = head
        return out
