"""Serving the web UI: in the foreground (`driver ui`) or in a thread beside a run the
CLI carries out (`driver run --ui`). The token rule is here: none on loopback, a
random one (printed once, like Jupyter's) on any other address."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from aiohttp import web

from driver.errors import PlanError
from driver.ui.manager import RunManager
from driver.ui.server import is_loopback, make_app, new_token

__all__ = ["UiServer", "make_server", "url_of"]


def url_of(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


class UiServer:
    """One UI server: `start()` listens (in a thread of its own), `url` says where, `close()`
    stops it. `token`: None on loopback; generated otherwise unless given."""

    def __init__(self, manager: RunManager, host: str = "127.0.0.1", port: int = 8089, token: str | None = None):
        self.manager = manager
        self.host = host
        self.port = port
        self.token = None if is_loopback(host) else (token or new_token())
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.runner: web.AppRunner | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return url_of(self.host, self.port, self.token)

    def start(self) -> "UiServer":
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), name="driver-ui", daemon=True)
        self.thread.start()
        ready.wait(30)
        if self.error is not None:
            raise PlanError(f"the web UI cannot listen on {self.host}:{self.port}: "
                            f"{getattr(self.error, 'strerror', None) or self.error}", flag="--port")
        return self

    def _serve(self, ready: threading.Event) -> None:
        self.loop = loop = asyncio.new_event_loop()
        try:
            self.runner = web.AppRunner(make_app(self.manager, self.token), access_log=None,
                                        handle_signals=False, shutdown_timeout=1.0)
            loop.run_until_complete(self.runner.setup())
            loop.run_until_complete(web.TCPSite(self.runner, self.host, self.port).start())
            self.port = self.runner.addresses[0][1]
        except BaseException as exc:
            self.error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self.runner.cleanup())
        loop.close()

    def close(self) -> None:
        if self.loop is not None and self.thread is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def __enter__(self) -> "UiServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def make_server(host: str, port: int, workdir: str | Path = ".", output: str | Path = "driver-results") -> UiServer:
    workdir = Path(workdir).resolve()
    output = Path(output)
    output = (output if output.is_absolute() else workdir / output)
    return UiServer(RunManager(workdir, output), host, port)
