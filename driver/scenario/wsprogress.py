"""Following a job's progress over a WebSocket (a job task's `ws:` track): the third way
beside polling and Server-Sent Events (driver.scenario.sse), with the same rules.

The stream is read with aiohttp's WebSocket client on the session the SSE track uses
(driver.scenario.sse.client: the run's resolved address, the target's Host and TLS).
Each stream opened is one request of its endpoint (`job:NAME:events`): sent, then the
handshake's answer recorded — 101 and the time to it, or the status of a refused
upgrade (a 404 for an unknown job); a refused connect or a reset before the answer is
counted as that error kind. Each stream that opened is one check: it passes when
`on_doc` said "enough" (a terminal state), and fails with the reason STREAM_CUT when
the server closed it or it dropped before; it is then opened again after `retry_s`.
Every text or binary message is a JSON document of the job (others are skipped).
"""
from __future__ import annotations

import asyncio

import aiohttp
import orjson

from driver._speedups import now_ns
from driver.layout import C_ERR_CONN_RESET, C_ERR_CONNECT_REFUSED, C_ERR_OTHER, C_SENT
from driver.scenario.sse import STREAM_CUT

__all__ = ["follow_ws", "HANDSHAKE_OK"]

HANDSHAKE_OK = 101
_DATA = (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)


async def follow_ws(session: aiohttp.ClientSession, ctx, path: str, name: str, on_doc, retry_s: float = 0.1,
                    headers: dict | None = None) -> None:
    """Read the WebSocket at `path` (with `headers` on its handshake) and hand each
    message's JSON document to `on_doc` until it returns True, opening it again when it
    ends or drops (the caller bounds the time)."""
    slot = ctx.slot(name)
    rec = ctx.rec
    url = ctx.base_path + path
    ssl_host = ctx.plan.target.host if ctx.plan.target.tls else None
    while True:
        rec.count(slot, C_SENT, 1)
        sent = now_ns()
        try:
            ws = await session.ws_connect(url, headers=headers or None, server_hostname=ssl_host, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:  # answered, not upgraded
            rec.response(slot, exc.status, 0, now_ns() - sent)
            await asyncio.sleep(retry_s)
            continue
        except aiohttp.ClientConnectorError:
            rec.count(slot, C_ERR_CONNECT_REFUSED, 1)
            await asyncio.sleep(retry_s)
            continue
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            rec.count(slot, C_ERR_CONN_RESET, 1)
            await asyncio.sleep(retry_s)
            continue
        except aiohttp.ClientError:
            rec.count(slot, C_ERR_OTHER, 1)
            await asyncio.sleep(retry_s)
            continue
        rec.response(slot, HANDSHAKE_OK, 0, now_ns() - sent)
        try:
            if await _read(ws, on_doc):
                ctx.checks(slot, 1, ())
                return
            ctx.checks(slot, 1, [STREAM_CUT])
        finally:
            await ws.close()
        await asyncio.sleep(retry_s)


async def _read(ws: aiohttp.ClientWebSocketResponse, on_doc) -> bool:
    """True when a document ended the job; False when the stream ended first."""
    try:
        async for msg in ws:
            if msg.type not in _DATA:
                continue
            try:
                doc = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue
            if on_doc(doc):
                return True
    except (aiohttp.ClientError, ConnectionError):
        pass
    return False
