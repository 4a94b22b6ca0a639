"""A WebSocket message as a scenario sees it (driver.scenario.ws): its data, JSON,
checks counted on its endpoint, and the error when none came; and the helpers the
connection uses on messages (an id put into a request, a timestamp in any unit)."""
from __future__ import annotations

import orjson

from driver.scenario.session import CheckFailed, json_path

__all__ = ["MISSING", "NOT_JSON", "WsMessage", "wall_ns_of", "with_id"]

MISSING = object()  # nothing at a JSON path; a message not parsed yet
NOT_JSON = object()  # a message that is not JSON


def wall_ns_of(ts) -> int:
    """A wall-clock timestamp in s, ms, µs or ns, told apart by its size -> ns."""
    size = abs(ts)
    if size < 1e11:
        return int(ts * 1_000_000_000)
    if size < 1e14:
        return int(ts * 1_000_000)
    if size < 1e17:
        return int(ts * 1_000)
    return int(ts)


def with_id(obj: dict, path: str, value) -> dict:
    """A copy of `obj` with `value` at the dotted `path` (dicts copied along the way)."""
    head, _, rest = path.partition(".")
    out = dict(obj)
    out[head] = with_id(out.get(head) or {}, rest, value) if rest else value
    return out


class WsMessage:
    """A message received (or, with `.error`, the lack of one)."""

    __slots__ = ("data", "binary", "error", "elapsed_ns", "slot", "_context", "_doc")

    def __init__(self, context, slot: int, data: bytes = b"", binary: bool = False, error: str | None = None,
                 elapsed_ns: int = 0, doc=MISSING):
        self._context = context
        self.slot = slot  # the endpoint its checks count on
        self.data = data
        self.binary = binary
        self.error = error  # None, or why nothing came ("request_timeout", "timeout", "closed", ...)
        self.elapsed_ns = elapsed_ns  # a request's round trip
        self._doc = doc

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def json(self):
        """The message as JSON (orjson.JSONDecodeError when it is not)."""
        if self._doc is MISSING or self._doc is NOT_JSON:
            self._doc = orjson.loads(self.data)
        return self._doc

    def _json_or_none(self):
        try:
            return self.json()
        except orjson.JSONDecodeError:
            return NOT_JSON

    def expect(self, json=None, contains=None, stop: bool = False) -> bool:
        """Check the message: json {dotted.path: value}, contains (a substring of its text);
        each failure is counted with a short reason, and raises CheckFailed with stop=True.
        A missing message fails every check."""
        failures = []
        n_checks = (len(json) if json else 0) + bool(contains)
        if self.error is not None:
            failures = [f"no message: {self.error}"] if n_checks else []
        else:
            doc = self._json_or_none() if json else None
            for path, want in (json or {}).items():
                if doc is NOT_JSON:
                    failures.append(f"json {path}: message is not JSON")
                elif json_path(doc, path, MISSING) != want:
                    failures.append(f"json {path} == {want!r}")
            if contains and contains.encode() not in self.data:
                failures.append(f"message contains {contains!r}")
        return self._checked(failures, stop, max(n_checks, len(failures)))

    def check(self, ok: bool, reason: str, stop: bool = False) -> bool:
        """A check of your own, counted on the message's endpoint."""
        return self._checked([] if ok else [reason], stop, 1)

    def _checked(self, failures: list, stop: bool, n_checks: int) -> bool:
        if n_checks:
            self._context.checks(self.slot, n_checks, failures)
        if failures and stop:
            raise CheckFailed(failures[0])
        return not failures
