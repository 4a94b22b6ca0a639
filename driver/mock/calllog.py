"""The mock's call log: how often each method was called, and the last calls.

Counts are kept for every method for the mock's lifetime; the calls themselves in a
ring of the last `maxlen` (memory stays fixed in a soak). Each call is a small dict:
method, HTTP status answered (0: no HTTP answer, an outage that reset or hung),
chat_id, receive time as `time.monotonic_ns()` (the same clock in every process of
one machine, so driver's workers can correlate their send times with it), and for
calls that send a message (`reply`: True) what reply correlation needs: the message
replied to (`reply_to_message_id`), the text or caption, and whether it carries
buttons. Tokens are never recorded.

`add` is the platform-neutral entry (the WhatsApp mock passes `to`, `context.message_id`
...); `record` reads a Telegram call's parameters. `listener`, when set, is called with
every call dict as it is logged (reply correlation in a run: driver.runner.botside).
"""
from __future__ import annotations

from collections import Counter, deque
from typing import Any, Callable

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
        self.listener: Callable[[dict[str, Any]], None] | None = None

    def add(self, method: str, status: int, received_ns: int, *, chat_id: Any = None,
            reply: bool = False, reply_to: Any = None, text: str | None = None,
            buttons: bool = False) -> dict[str, Any]:
        """Log one call. `reply`: the call sends a message to `chat_id` (a reply candidate)."""
        call: dict[str, Any] = {"method": method, "status": status, "received_ns": received_ns,
                                "chat_id": chat_id}
        if reply:
            call["reply"] = True
            call["reply_to_message_id"] = reply_to
            call["text"] = text
            call["buttons"] = buttons
        self.counts[method] += 1
        self.statuses[status] += 1
        self.total += 1
        self.calls.append(call)
        if self.listener is not None:
            self.listener(call)
        return call

    def record(self, method: str, status: int, received_ns: int,
               params: dict[str, Any] | None) -> dict[str, Any]:
        """Log one Bot API call from its decoded parameters."""
        if not params:
            return self.add(method, status, received_ns)
        chat_id = params.get("chat_id")
        lower = method.lower()
        if not lower.startswith("send") or lower == "sendchataction":  # "typing...": no message
            return self.add(method, status, received_ns, chat_id=chat_id)
        text = params.get("text", params.get("caption"))
        return self.add(method, status, received_ns, chat_id=chat_id, reply=True,
                        reply_to=reply_to(params), text=text if isinstance(text, str) else None,
                        buttons=has_buttons(params.get("reply_markup")))

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


def has_buttons(markup: Any) -> bool:
    """Whether a Bot API reply_markup shows buttons (inline or reply keyboard)."""
    if isinstance(markup, str):  # form and multipart bodies carry it as JSON text
        import json
        try:
            markup = json.loads(markup)
        except ValueError:
            return False
    if not isinstance(markup, dict):
        return False
    rows = markup.get("inline_keyboard") or markup.get("keyboard")
    return isinstance(rows, list) and any(isinstance(r, list) and r for r in rows)
