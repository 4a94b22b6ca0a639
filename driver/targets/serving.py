"""Serving a demo target: bind, say where on stdout, run until SIGTERM/SIGINT.

Every demo target prints the same line once bound (`demo target listening on URL`,
flushed): with port 0 the OS picks the port, and the line is how a parent process
(driver.targets.process) learns it.
"""
from __future__ import annotations

import asyncio
import signal

from aiohttp import web

__all__ = ["LISTENING_PREFIX", "url_of", "serve_app"]

LISTENING_PREFIX = "demo target listening on "


def url_of(host: str, port: int, scheme: str = "http") -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def serve_app(host: str, port: int, app: web.Application, *, backlog: int = 1024,
                    scheme: str = "http") -> None:
    """Serve `app` until SIGTERM/SIGINT (or cancellation, off the main thread)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=backlog).start()
        print(LISTENING_PREFIX + url_of(host, runner.addresses[0][1], scheme), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (ValueError, RuntimeError, NotImplementedError):
                pass  # not the main thread, or no signals here: run until cancelled
        await stop.wait()
    finally:
        await runner.cleanup()
