"""A token bucket per key: the demo target's per-chat rate limit."""
from __future__ import annotations

import time
from typing import Any, Callable

from driver.targets.whatsapp_bot import DEFAULT_MAX_CONVERSATIONS, LRU

__all__ = ["RateLimiter"]


class RateLimiter:
    """A token bucket per key: `rate` requests per second, bursts of up to
    max(1, rate). Buckets live in an LRU of `max_keys`; `clock` is in seconds."""

    __slots__ = ("rate", "capacity", "_clock", "_buckets")

    def __init__(self, rate: float, max_keys: int = DEFAULT_MAX_CONVERSATIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 \
                or rate == float("inf"):
            raise ValueError(f"rate_limit must be a positive number, got {rate!r}")
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)
        self._clock = clock
        self._buckets: LRU[Any, list[float]] = LRU(max_keys)  # key -> [tokens, at]

    def allow(self, key: Any) -> bool:
        """Take a token for `key`; False (nothing taken) when its bucket is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [self.capacity, now]
            self._buckets.put(key, bucket)
        tokens = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True
