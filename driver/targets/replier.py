"""How the demo bot sends replies through a platform API: in the background, through a
circuit breaker, with every lost reply counted.

A bot in API mode answers its webhook at once and hands the calls of its answer to
`Replier.submit`, which runs them in a background task, in order, over one pooled
aiohttp session (created by `start`, at app start-up). Each call goes through the
platform's `CircuitBreaker`; the breaker counts as failures only what says "the
platform is unavailable" (`ApiUnavailable`: a connection error, a timeout, a 5xx
answer). A 4xx answer (`ApiRejected`) proves the platform is up and fails only that
call, except a 429 carrying a retry time (Telegram's `parameters.retry_after`, or a
`Retry-After` header): the call is retried once after that time when it is at most
`retry_after_cap_s`, as a well-behaved bot does; otherwise it is failed.

When a call of a multi-call answer is lost, the rest of that answer is not sent
(`skipped`): a bot's handler stops at its first exception. At most `max_in_flight`
answers are in progress at once; beyond that a new answer is dropped (`dropped`), so a
platform that hangs cannot make the bot's memory grow without bound.

Counters (`snapshot`, shown by /health): sent, failed, rejected_by_breaker, retried,
skipped, dropped, in_flight, the failures by cause, and the breaker's own.
Nothing here logs or reports a URL: Bot API URLs carry the bot's token.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import aiohttp
import orjson

from driver.targets.breaker import BreakerOpen, CircuitBreaker

__all__ = ["ApiCall", "ApiRejected", "ApiUnavailable", "Replier",
           "DEFAULT_TIMEOUT_S", "DEFAULT_MAX_IN_FLIGHT", "DEFAULT_RETRY_AFTER_CAP_S"]

DEFAULT_TIMEOUT_S = 5.0  # per call, connect to last byte
DEFAULT_MAX_IN_FLIGHT = 10_000  # answers in progress at once
DEFAULT_RETRY_AFTER_CAP_S = 10.0  # the longest retry_after a reply waits for
_POOL = 100  # connections kept to the platform


@dataclass(frozen=True)
class ApiCall:
    """One platform API call: POST `body` as JSON to `url`. `name` (the method) is what
    counters and errors show; the URL never is."""
    name: str
    url: str
    body: dict[str, Any]
    headers: dict[str, str] | None = None


class ApiUnavailable(Exception):
    """The platform did not answer, or answered 5xx: counts against the breaker."""


class ApiRejected(Exception):
    """The platform answered 4xx: it is up, this call failed. `retry_after` in seconds
    when the answer was a 429 that says when to retry."""

    def __init__(self, status: int, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _retry_after(status: int, headers: Any, data: bytes) -> float | None:
    if status != 429:
        return None
    try:
        body = orjson.loads(data)
        value = body["parameters"]["retry_after"]  # Telegram's error shape
    except (orjson.JSONDecodeError, KeyError, TypeError):
        value = headers.get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds < float("inf") else None


class Replier:
    """Sends answers (lists of ApiCall) in the background. See the module docstring."""

    def __init__(self, breaker: CircuitBreaker, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S, delay_s: float = 0.0,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if not 0 < timeout_s < float("inf"):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        if not 0 <= retry_after_cap_s < float("inf"):
            raise ValueError(f"retry_after_cap_s must be >= 0, got {retry_after_cap_s!r}")
        self.breaker = breaker
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.retry_after_cap_s = retry_after_cap_s
        self.delay_s = delay_s  # simulated processing time before the first call
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = self.failed = self.rejected = self.retried = 0
        self.skipped = self.dropped = 0
        self.causes: Counter[str] = Counter()  # why calls failed: "HTTP 503", "timeout"

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_POOL),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))

    async def close(self) -> None:
        """Cancel the answers in progress (they are neither sent nor counted) and close
        the session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def submit(self, calls: list[ApiCall]) -> bool:
        """Send `calls` in order, in the background; False (dropped) when
        `max_in_flight` answers are in progress already. An empty answer is a no-op."""
        if not calls:
            return True
        if len(self._tasks) >= self.max_in_flight:
            self.dropped += 1
            return False
        task = asyncio.get_running_loop().create_task(self._answer(calls))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _answer(self, calls: list[ApiCall]) -> None:
        if self.delay_s > 0:
            await self._sleep(self.delay_s)
        for i, call in enumerate(calls):
            if not await self.send(call):
                self.skipped += len(calls) - i - 1
                return

    async def send(self, call: ApiCall) -> bool:
        """One call through the breaker (a 429 retried once); True when it was sent."""
        for attempt in (0, 1):
            try:
                await self.breaker.call(self._post, call)
            except BreakerOpen:
                self.rejected += 1
                return False
            except ApiUnavailable as exc:
                self._fail(str(exc))
                return False
            except ApiRejected as exc:
                wait = exc.retry_after
                if attempt == 0 and wait is not None and wait <= self.retry_after_cap_s:
                    self.retried += 1
                    await self._sleep(wait)
                    continue
                self._fail(str(exc))
                return False
            self.sent += 1
            return True
        return False  # not reached: the second attempt returns

    def _fail(self, cause: str) -> None:
        self.failed += 1
        self.causes[cause] += 1

    async def _post(self, call: ApiCall) -> Any:
        if self._session is None:
            raise RuntimeError("Replier.start() was not awaited")
        headers = {"Content-Type": "application/json", **(call.headers or {})}
        try:
            async with self._session.post(call.url, data=orjson.dumps(call.body),
                                          headers=headers) as response:
                data = await response.read()
                status, resp_headers = response.status, response.headers
        except asyncio.TimeoutError:
            raise ApiUnavailable("timeout") from None
        except aiohttp.ClientError as exc:
            # the class only: aiohttp's messages name the URL, and with it the token
            raise ApiUnavailable(type(exc).__name__) from None
        if status >= 500:
            raise ApiUnavailable(f"HTTP {status}")
        if status >= 400:
            raise ApiRejected(status, _retry_after(status, resp_headers, data))
        return data

    def snapshot(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed,
                "rejected_by_breaker": self.rejected, "retried": self.retried,
                "skipped": self.skipped, "dropped": self.dropped,
                "in_flight": self.in_flight, "failure_causes": dict(self.causes),
                "breaker": self.breaker.snapshot()}
