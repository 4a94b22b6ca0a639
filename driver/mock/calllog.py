"""The mock's call log: how often each method was called, and the last calls.

Counts are kept for every method for the mock's lifetime; the calls themselves in a
ring of the last `maxlen` (memory stays fixed in a soak). Each call is a small dict:
method, HTTP status answered, chat_id, receive time as `time.monotonic_ns()` (the
same clock in every process of one machine, so driver's workers can correlate their
send times with it), and for send* calls what reply correlation needs: the message
replied to (`reply_to_message_id` or `reply_parameters.message_id`) and the text or
caption. Tokens are never recorded.
"""
from __future__ import annotations

from collections import Counter, deque
from typing import Any

__all__ = ["CallLog", "DEFAULT_MAXLEN"]

DEFAULT_MAXLEN = 10_000


class CallLog:
    def __init__(self, maxlen: int = DEFAULT_MAXLEN) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {maxlen}")
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.calls: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self.total = 0

    def record(self, method: str, status: int, received_ns: int,
               params: dict[str, Any] | None) -> dict[str, Any]:
        call: dict[str, Any] = {"method": method, "status": status, "received_ns": received_ns,
                                "chat_id": None}
        if params:
            call["chat_id"] = params.get("chat_id")
            if method.lower().startswith("send"):
                call["reply_to_message_id"] = reply_to(params)
                text = params.get("text", params.get("caption"))
                call["text"] = text if isinstance(text, str) else None
        self.counts[method] += 1
        self.statuses[status] += 1
        self.total += 1
        self.calls.append(call)
        return call

    def snapshot(self, limit: int | None = None) -> dict[str, Any]:
        calls = list(self.calls)
        if limit is not None:
            calls = calls[-limit:] if limit > 0 else []
        return {"total": self.total, "counts": dict(self.counts),
                "statuses": {str(k): v for k, v in self.statuses.items()}, "calls": calls}

    def clear(self) -> None:
        self.counts.clear()
        self.statuses.clear()
        self.calls.clear()
        self.total = 0


def reply_to(params: dict[str, Any]) -> int | None:
    """The message a send* call replies to, from either Bot API spelling."""
    rp = params.get("reply_parameters")
    if isinstance(rp, dict) and isinstance(rp.get("message_id"), int):
        return rp["message_id"]
    value = params.get("reply_to_message_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None
