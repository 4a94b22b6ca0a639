"""The scenario client: what `self.http` is inside a virtual user.

It rides on the same `client.Connection` as the fast path (same parser, same
recorder call per response), with the body kept and one future per request — the
rich path costs a little more and only scenarios pay for it. One keep-alive
connection per virtual user, as a bot's user or a browser tab would have.

Every request records under an endpoint name: `name=` if given, else the method and
the path with ids replaced (`GET /orders/{id}`). Transport errors do not raise: the
Response comes back with `.error` set (and the error was counted), so a scenario
decides what to do. 429, and 503 with Retry-After, are counted as throttled.
"""
from __future__ import annotations

import asyncio
import re
from email.utils import parsedate_to_datetime
from time import time as wall_time

import orjson

from driver.engine.client import Connection
from driver.engine.endpoints import default_name
from driver.layout import C_THROTTLED

MAX_RETRY_AFTER_S = 60.0


class CheckFailed(Exception):
    """Raised by `expect(..., stop=True)`: ends the current iteration of the user."""


class RunOver(CheckFailed):
    """Raised by a request that would start after the end of the run (for example after
    a Retry-After backoff): the iteration ends there, nothing is sent or counted."""


class Response:
    __slots__ = ("status", "_raw_headers", "_headers", "body", "error", "name", "elapsed_ns", "_session", "slot")

    def __init__(self, session, slot, name, status=0, headers=(), body=b"", error=None, elapsed_ns=0):
        self._session = session
        self.slot = slot  # the endpoint slot this request recorded into
        self.name = name
        self.status = status
        self._raw_headers = headers
        self._headers = None
        self.body = body
        self.error = error  # None, or the transport error kind (e.g. "request_timeout")
        self.elapsed_ns = elapsed_ns

    @property
    def headers(self) -> dict[str, str]:
        """Response headers, names lowercased (decoded on first use: most checks never look)."""
        if self._headers is None:
            self._headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self._raw_headers}
        return self._headers

    @property
    def ok(self) -> bool:
        return self.error is None and 0 < self.status < 400

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return orjson.loads(self.body)

    def header(self, name: str, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def throttled(self) -> bool:
        return self.status == 429 or (self.status == 503 and "retry-after" in self.headers)

    def retry_after_s(self) -> float | None:
        value = self.headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - wall_time()
            except (TypeError, ValueError):
                return None
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)

    def expect(self, status=None, json=None, contains=None, headers=None, stop=False) -> bool:
        """Check the response; each failed check is counted with a short reason.

        status: an int, a collection of ints, or a class like "2xx" (or a list mixing them).
        json: {dotted.path: expected value}; contains: a substring of the body;
        headers: {name: expected value}. With stop=True a failure raises CheckFailed.
        """
        failures = []
        if status is not None:
            ok = self.status == status if type(status) is int else status_matches(self.status, status)
            if not ok:
                failures.append(f"status {describe_status(status)}")
        if json:
            try:
                doc = self.json()
            except orjson.JSONDecodeError:
                doc = _NOT_JSON
            for path, want in json.items():
                if doc is _NOT_JSON:
                    failures.append(f"json {path}: body is not JSON")
                elif json_path(doc, path, _MISSING) != want:
                    failures.append(f"json {path} == {want!r}")
        if contains and contains.encode() not in self.body:
            failures.append(f"body contains {contains!r}")
        if headers:
            for name, want in headers.items():
                if self.header(name) != want:
                    failures.append(f"header {name} == {want!r}")
        n_checks = (status is not None) + (len(json) if json else 0) + bool(contains) + (len(headers) if headers else 0)
        return self._checked(failures, stop, n_checks)

    def check(self, ok: bool, reason: str, stop: bool = False) -> bool:
        """A check of your own: counted, and when it fails, counted with `reason`."""
        return self._checked([] if ok else [reason], stop, 1)

    def _checked(self, failures: list[str], stop: bool, n_checks: int) -> bool:
        if n_checks:
            self._session.context.checks(self.slot, n_checks, failures)
        if failures and stop:
            raise CheckFailed(f"{self.name}: {failures[0]}")
        return not failures


_MISSING = object()
_NOT_JSON = object()
_INDEX = re.compile(r"^(\w*)\[(-?\d+)\]$")


def json_path(doc, path: str, default=None):
    """`a.b[0].c` into a parsed JSON document; `default` when any step is missing."""
    node = doc
    for part in path.split("."):
        m = _INDEX.match(part)
        key, index = (m.group(1), int(m.group(2))) if m else (part, None)
        try:
            if key:
                node = node[key]
            if index is not None:
                node = node[index]
        except (KeyError, IndexError, TypeError):
            return default
    return node


def status_matches(status: int, want) -> bool:
    if isinstance(want, (list, tuple, set, frozenset)):
        return any(status_matches(status, w) for w in want)
    if isinstance(want, str):
        return len(want) == 3 and want[1:].lower() == "xx" and str(status)[0] == want[0]
    return status == want


def describe_status(want) -> str:
    if isinstance(want, (list, tuple, set, frozenset)):
        return " or ".join(str(w) for w in want)
    return str(want)


class HttpSession:
    """Per virtual user: requests over one keep-alive connection, recorded per endpoint."""

    def __init__(self, context):
        self.context = context  # the worker's ScenarioContext
        self.conn: Connection | None = None
        self.waiter: asyncio.Future | None = None
        self.headers: dict[str, str] = {}  # sent with every request of this user
        self.backoff_until = 0.0  # honour Retry-After: no request before this loop time
        self.ws = None  # the user's WebSocket client (driver.scenario.ws), made on first use of `User.ws`

    # -- owner callbacks of client.Connection
    def on_response(self, conn: Connection, now: int) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            p = conn.parser
            waiter.set_result((p.status, p.headers, p.body, None, now - conn.sent_ns))

    def on_closed(self, conn: Connection) -> None:
        if self.conn is conn:
            self.conn = None
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((0, (), b"", conn.error or "connection_reset", 0))

    async def request(self, method: str, path: str, *, json=None, body=None, headers=None, name=None,
                      expect=None) -> Response:
        ctx = self.context
        method = method.upper()
        name = name or default_name(method, path)
        slot = ctx.registry.slot(name)
        if self.backoff_until:
            delay = self.backoff_until - ctx.loop.time()
            self.backoff_until = 0.0
            if delay > 0:
                await asyncio.sleep(delay)
                if ctx.loop.time() >= ctx.end_s:
                    raise RunOver(name)
        if json is not None:
            body = orjson.dumps(json)
        elif isinstance(body, str):
            body = body.encode()
        if self.headers:
            headers = {**self.headers, **headers} if headers else self.headers
        data = ctx.encode(method, path, headers or {}, body or b"", json is not None)
        conn = self.conn
        if conn is None or not conn.alive:
            conn, error = await ctx.open_connection(self, slot)
            if conn is None:
                return Response(self, slot, name, error=error)
            self.conn = conn
        self.waiter = ctx.loop.create_future()
        conn.send_request(slot, data, method == "HEAD", 0)
        status, hdrs, rbody, error, elapsed = await self.waiter
        resp = Response(self, slot, name, status, hdrs, rbody, error, elapsed)
        if resp.throttled:
            ctx.rec.count(slot, C_THROTTLED, 1)
            if ctx.honour_retry_after:
                wait = resp.retry_after_s()
                if wait:
                    self.backoff_until = ctx.loop.time() + wait
        if expect:
            resp.expect(**expect)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def record_checks(self, slot: int, n_checks: int, failures: list[str]) -> None:
        self.context.checks(slot, n_checks, failures)

    # -- what the user's unit asks at the heartbeat and at the end
    @property
    def busy(self) -> bool:
        return self.conn is not None and self.conn.busy

    def sweep(self, now: int, limit_ns: int) -> None:
        conn = self.conn
        if conn is not None and conn.busy and now - conn.sent_ns > limit_ns:
            conn.timed_out()

    def abandon(self, now: int) -> None:
        if self.conn is not None:
            self.conn.abandon(now)
        if self.ws is not None:
            self.ws.abandon(now)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.ws is not None:
            self.ws.close()


__all__ = ["HttpSession", "Response", "CheckFailed", "json_path", "status_matches"]
