"""What the scenario users of one worker share: the target, the recorder and the
endpoint names, the request encoder, and a cache for per-worker helpers.

It is the scenario layer's one door to the worker's shared-memory block: sessions,
YAML steps and built-in scenarios record through it (`slot`, `count`, `record`,
`checks`) and never reach into the engine's scheduler or another user.
"""
from __future__ import annotations

import asyncio

from driver.engine.client import Connection, connect, make_ssl_context
from driver.engine.endpoints import EndpointRegistry, record_checks
from driver.layout import C_ERR_OTHER
from driver.plan import Plan, __version__
from driver.replies.ring import RingReader, RingWriter
from driver.scenario.replies import ReplyTracker


_BODY_METHODS = ("POST", "PUT", "PATCH")  # Content-Length even when the body is empty
HEADS_CACHED = 4096  # distinct request heads kept per worker (paths with ids in them would grow it)


class ScenarioContext:
    def __init__(self, plan: Plan, index: int, n_workers: int, rec, names_table, address: str,
                 ring=None):
        self.plan = plan
        self.spec = plan.scenario
        self.index = index
        self.n_workers = n_workers
        self.rec = rec
        self.registry = EndpointRegistry(names_table, plan.endpoint_slots, plan.endpoints)
        self.address = address
        self.loop = asyncio.get_running_loop()
        self.ssl_ctx = make_ssl_context(plan.insecure) if plan.target.tls else None
        self.base_path = plan.base_path.rstrip("/")
        self.honour_retry_after = self.spec.retry_after == "honour"
        self.open_loop = plan.mode == "open"
        self.end_s = float("inf")  # loop time at which the run ends (set by the scheduler's kind)
        self.shared: dict = {}  # per-worker helpers made on first use (payload generators, catalogs)
        self._head = f"Host: {plan.target.host_header}\r\nUser-Agent: driver/{__version__}\r\n"
        self._heads: dict[tuple, bytes] = {}
        # updates whose replies the bot-side process follows (driver.runner.botside)
        self.replies = None if ring is None else ReplyTracker(
            RingWriter(ring[0]), plan.replies, RingReader(ring[1]))

    # -- recording
    def slot(self, name: str) -> int:
        return self.registry.slot(name)

    def count(self, slot: int, counter: int, n: int = 1) -> None:
        self.rec.count(slot, counter, n)

    def record(self, slot: int, hist: int, value_ns: int) -> None:
        self.rec.record(slot, hist, value_ns)

    def checks(self, slot: int, n_checks: int, failures) -> None:
        """Count `n_checks` evaluated checks of an endpoint, and each failure with its reason."""
        record_checks(self.rec, self.registry, slot, n_checks, failures)

    def user_error(self, exc: BaseException) -> None:
        """User code raised: counted under the endpoint `error:<Type>` with its message."""
        slot = self.registry.slot(f"error:{type(exc).__name__}")
        self.rec.count(slot, C_ERR_OTHER, 1)
        self.registry.check_failed(slot, str(exc)[:100] or type(exc).__name__)

    # -- requests
    def head(self, method: str, path: str, headers: dict, is_json: bool, with_length: bool) -> bytes:
        """A request head; with_length: ending in `Content-Length: %d` for `head % len(body)`
        (every other `%` escaped), else ready to send as it is."""
        lines = [f"{method} {self.base_path}{path} HTTP/1.1\r\n{self._head}"]
        lower = set()
        for k, v in headers.items():
            lines.append(f"{k}: {v}\r\n")
            lower.add(k.lower())
        if is_json and "content-type" not in lower:
            lines.append("Content-Type: application/json\r\n")
        raw = "".join(lines).encode("latin-1")
        if with_length:
            return raw.replace(b"%", b"%%") + b"Content-Length: %d\r\n\r\n"
        return raw + b"\r\n"

    def encode(self, method: str, path: str, headers: dict, body: bytes, is_json: bool) -> bytes:
        """The request as bytes: its head made once per distinct (method, path, headers) in
        this worker (up to HEADS_CACHED of them), the length and body per request."""
        with_length = bool(body) or method in _BODY_METHODS
        key = (method, path, is_json, with_length, *headers.items())
        head = self._heads.get(key)
        if head is None:
            head = self.head(method, path, headers, is_json, with_length)
            if len(self._heads) < HEADS_CACHED:
                self._heads[key] = head
        return head % len(body) + body if with_length else head

    async def open_connection(self, owner, slot: int) -> tuple[Connection | None, str | None]:
        """A new keep-alive connection for `owner` (a session): (connection, None), or
        (None, error kind) after counting the error on `slot`."""
        plan = self.plan
        return await connect(
            self.loop, lambda: Connection(owner, self.rec, slot, b"", False, self.open_loop, keep_body=True),
            self.address, plan.target.port, ssl_ctx=self.ssl_ctx, server_hostname=plan.target.host,
            timeout_s=plan.connect_timeout_s, rec=self.rec, ep=slot,
        )
