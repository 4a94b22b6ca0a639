"""Following a Server-Sent Events stream from a scenario (a job's progress events).

The fast client (driver.engine.client) reads whole bodies; a stream that stays open is
read with aiohttp's client instead, beside it. Each stream opened is one request of its
endpoint: sent, then its answer's status and the time to its head recorded; a refused
connect or a reset before the head is counted as that error kind. Each stream answered
200 is one check: it passes when `on_doc` said "enough" (a terminal state), and fails
with the reason STREAM_CUT when the stream ended or dropped before; it is then opened
again after `retry_s`.
"""
from __future__ import annotations

import asyncio

import aiohttp
import orjson

from driver._speedups import now_ns
from driver.layout import C_ERR_CONN_RESET, C_ERR_CONNECT_REFUSED, C_ERR_OTHER, C_SENT

__all__ = ["STREAM_CUT", "client", "follow", "events"]

STREAM_CUT = "stream ended before a terminal state"


def client(ctx) -> aiohttp.ClientSession:
    """An aiohttp session to the run's target (its resolved address; Host as the plan says)."""
    plan = ctx.plan
    host = f"[{ctx.address}]" if ":" in ctx.address else ctx.address
    base = f"{'https' if plan.target.tls else 'http'}://{host}:{plan.target.port}"
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=plan.connect_timeout_s)
    return aiohttp.ClientSession(base, timeout=timeout, headers={"Host": plan.target.host_header},
                                 connector=aiohttp.TCPConnector(ssl=ctx.ssl_ctx if plan.target.tls else False))


async def events(content: aiohttp.StreamReader):
    """The `data:` payloads of an SSE stream, one per event (multi-line data joined by \\n)."""
    data: list[bytes] = []
    async for line in content:
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
        elif line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" ") if line[5:6] == b" " else line[5:])
    if data:
        yield b"\n".join(data)


async def follow(session: aiohttp.ClientSession, ctx, path: str, name: str, on_doc, retry_s: float = 0.1,
                 headers: dict | None = None) -> None:
    """Read the stream at `path` (with `headers`) and hand each event's JSON document to
    `on_doc` until it returns True, reopening the stream when it ends or drops (the caller
    bounds the time)."""
    slot = ctx.slot(name)
    rec = ctx.rec
    url = ctx.base_path + path
    ssl_host = ctx.plan.target.host if ctx.plan.target.tls else None
    want = {**(headers or {}), "Accept": "text/event-stream"}
    while True:
        rec.count(slot, C_SENT, 1)
        sent = now_ns()
        answered = False
        try:
            async with session.get(url, headers=want, server_hostname=ssl_host) as resp:
                rec.response(slot, resp.status, 0, now_ns() - sent)
                answered = True
                if resp.status == 200:
                    async for data in events(resp.content):
                        try:
                            doc = orjson.loads(data)
                        except orjson.JSONDecodeError:
                            continue
                        if on_doc(doc):
                            ctx.checks(slot, 1, ())
                            return
                    ctx.checks(slot, 1, [STREAM_CUT])
        except aiohttp.ClientConnectorError:
            rec.count(slot, C_ERR_CONNECT_REFUSED, 1)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError):
            if answered:  # its answer was counted: the cut is the check's failure
                ctx.checks(slot, 1, [STREAM_CUT])
            else:
                rec.count(slot, C_ERR_CONN_RESET, 1)
        except aiohttp.ClientError:
            if not answered:
                rec.count(slot, C_ERR_OTHER, 1)
        await asyncio.sleep(retry_s)
