"""A client exception as a transport error kind (a key of driver.layout.ERROR_COUNTERS)."""
from __future__ import annotations

import asyncio
import ssl

import aiohttp

__all__ = ["error_kind"]


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, aiohttp.ServerTimeoutError)):
        return "request_timeout"
    if isinstance(exc, (ssl.SSLError, aiohttp.ClientSSLError)):
        return "tls"
    if isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ConnectionRefusedError)):
        return "connect_refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, aiohttp.ServerDisconnectedError,
                        aiohttp.ClientOSError)):
        return "connection_reset"
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return "protocol_error"
    return "other"
