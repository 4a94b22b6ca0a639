"""Real servers on loopback for the tests: a generic aiohttp server, raw-socket fault
servers, and nginx.

Every helper is a context manager that binds 127.0.0.1 (or ::1) on a port the OS
picks, yields a `ServerInfo` (`.host`, `.port`, `.url`), and on exit shuts the server
down within a few seconds, whatever the test did. The asyncio servers each run in a
daemon thread with their own event loop (plain asyncio, so the server side is the
reference, not the loop under test); nginx runs as a subprocess.

Faults are real: `reset_server` sends a TCP RST (SO_LINGER 0), `stall_server` never
answers, `hang_every_server` never answers every Nth request, `drip_server` sends its
response a byte at a time, `close_mid_body_server` sends a short body and a FIN,
`tls_server` serves HTTPS with a certificate from a CA nobody trusts, and so on.
"""
from __future__ import annotations

import asyncio
import contextlib
import http.client
import inspect
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator

import pytest

__all__ = [
    "ServerInfo",
    "NginxServer",
    "free_port",
    "refused_port",
    "aiohttp_server",
    "reset_server",
    "stall_server",
    "garbage_server",
    "close_mid_body_server",
    "chunked_server",
    "close_delimited_server",
    "slow_server",
    "hang_every_server",
    "drip_server",
    "tls_server",
    "find_nginx",
    "nginx_server",
    "OK_BODY",
    "DEFAULT_GARBAGE",
    "DEFAULT_CHUNKS",
]

START_TIMEOUT_S = 10.0  # a server that is not up by then fails the test
STOP_TIMEOUT_S = 5.0  # bound on every shutdown step

OK_BODY = b'{"ok":true}'
DEFAULT_GARBAGE = b"\x00\xffNOT HTTP AT ALL \x01\x02\x03\r\n\r\n"
DEFAULT_CHUNKS = (b'{"ok":', b"true,", b'"chunked":', b"true}")


@dataclass
class ServerInfo:
    """Where a test server listens, and what the raw servers saw.

    `connections` and `requests` are counted by the raw fault servers only (a request
    counts once its head and body were read); they stay 0 for aiohttp and nginx.
    """

    host: str
    port: int
    connections: int = 0
    requests: int = 0
    scheme: str = "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read it, close).

    Prefer letting a server bind port 0 itself; this is for servers (nginx) that
    must be told a port.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[ServerInfo]:
    """A port where connecting is refused (ECONNREFUSED).

    The socket stays bound but never listens while the context is open, so no other
    process can take the port in the meantime (a closed port could be reused).
    """
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        yield ServerInfo(host, sock.getsockname()[1])
    finally:
        sock.close()


# --- a loop in a thread ----------------------------------------------------------


class _LoopThread:
    """A daemon thread running its own asyncio event loop."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Awaitable[Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self.loop.close()


@contextlib.contextmanager
def _in_thread(name: str, start: Callable[[], Awaitable[Any]],
               stop: Callable[[Any], Awaitable[None]]) -> Iterator[Any]:
    """Run `start()` in a fresh loop thread, yield its result, then `stop(result)`."""
    lt = _LoopThread(name)
    try:
        handle = lt.call(start(), START_TIMEOUT_S)
        try:
            yield handle
        finally:
            lt.call(stop(handle), STOP_TIMEOUT_S * 2)
    finally:
        lt.close()


# --- raw HTTP/1.1 over asyncio streams ---------------------------------------------


@dataclass
class _Request:
    head: bytes
    body: bytes
    keep_alive: bool


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return body
        body += (await reader.readexactly(size + 2))[:-2]


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One request (head and body), or None at a clean EOF between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.split(b"\r\n")
    keep_alive = not lines[0].rstrip().endswith(b"HTTP/1.0")
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
        elif name == b"connection":
            keep_alive = value == b"keep-alive" or (keep_alive and value != b"close")
    if chunked:
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(length) if length else b""
    return _Request(head, body, keep_alive)


def _response(body: bytes = OK_BODY, keep_alive: bool = True) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: %s\r\n\r\n%s"
        % (len(body), b"keep-alive" if keep_alive else b"close", body)
    )


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN: SO_LINGER on with a zero timeout."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _requests(reader: asyncio.StreamReader, info: ServerInfo):
    """Yield the requests of one connection, counting them, until EOF."""
    while True:
        request = await _read_request(reader)
        if request is None:
            return
        info.requests += 1
        yield request


_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, ServerInfo], Awaitable[None]]


@contextlib.contextmanager
def _stream_server(handler: _Handler, host: str, name: str) -> Iterator[ServerInfo]:
    """An asyncio.start_server in a thread; every connection runs `handler`."""
    tasks: set[asyncio.Task[Any]] = set()
    writers: set[asyncio.StreamWriter] = set()
    info = ServerInfo(host, 0)

    closing = False

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if closing:  # accepted just before the listening socket closed
            writer.transport.abort()
            return
        info.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(writer)
        try:
            await handler(reader, writer, info)
        except asyncio.CancelledError:
            pass  # stop() cancelled it; ending normally keeps asyncio from logging it
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            pass  # the client went away or sent something unparsable: drop it
        finally:
            writers.discard(writer)
            tasks.discard(task)
            writer.close()

    async def start() -> asyncio.Server:
        server = await asyncio.start_server(on_connect, host, 0, family=_family(host))
        info.port = server.sockets[0].getsockname()[1]
        return server

    async def stop(server: asyncio.Server) -> None:
        nonlocal closing
        closing = True
        loop = asyncio.get_running_loop()
        # Stop accepting, but close the Server only once the connections already
        # accepted were handed over (each in a task of its own): a task that runs
        # after Server.close() fails an assert in Server._attach (CPython 3.11) and
        # strands its socket open until the next gc.
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())
        deadline = loop.time() + STOP_TIMEOUT_S
        while True:
            for writer in list(writers):
                writer.transport.abort()
            for task in list(tasks):
                task.cancel()
            pending = asyncio.all_tasks() - {asyncio.current_task()}
            if not pending or loop.time() >= deadline:
                break
            await asyncio.wait(pending, timeout=0.1)
        server.close()  # the listening socket: connections still queued get an RST
        await asyncio.sleep(0)  # abort() closes the socket in a callback: let it run

    with _in_thread(name, start, stop):
        yield info


# --- fault servers ---------------------------------------------------------------


def reset_server(after_requests: int = 1, host: str = "127.0.0.1"):
    """Each connection gets `after_requests` good answers; its next request is read
    and answered with a TCP RST (the client sees ECONNRESET). 0 resets at once."""
    if after_requests < 0:
        raise ValueError("after_requests must be >= 0")

    async def handler(reader, writer, info: ServerInfo) -> None:
        answered = 0
        async for request in _requests(reader, info):
            if answered >= after_requests:
                _reset(writer)
                return
            writer.write(_response(keep_alive=request.keep_alive))
            await writer.drain()
            answered += 1
            if not request.keep_alive:
                return

    return _stream_server(handler, host, "reset_server")


def stall_server(host: str = "127.0.0.1"):
    """Accepts and reads requests but never answers (the client's read times out)."""

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for _ in _requests(reader, info):
            pass

    return _stream_server(handler, host, "stall_server")


def garbage_server(payload: bytes = DEFAULT_GARBAGE, close: bool = True,
                   host: str = "127.0.0.1"):
    """Answers every request with `payload` instead of HTTP, then closes the
    connection (or, with close=False, waits for the next request)."""

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for _ in _requests(reader, info):
            writer.write(payload)
            await writer.drain()
            if close:
                return

    return _stream_server(handler, host, "garbage_server")


def close_mid_body_server(content_length: int = 1000, sent: int = 10,
                          host: str = "127.0.0.1"):
    """Answers with `Content-Length: content_length` but only `sent` body bytes,
    then closes cleanly (FIN): a truncated response."""
    if not 0 <= sent < content_length:
        raise ValueError("need 0 <= sent < content_length")

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for _ in _requests(reader, info):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % content_length + b"x" * sent
            )
            await writer.drain()
            return

    return _stream_server(handler, host, "close_mid_body_server")


def chunked_server(chunks: tuple[bytes, ...] = DEFAULT_CHUNKS, host: str = "127.0.0.1"):
    """Valid `Transfer-Encoding: chunked` responses, one write per chunk, on
    keep-alive connections. The body is b"".join(chunks) (valid JSON by default)."""
    if not all(chunks):
        raise ValueError("chunks must be non-empty (an empty chunk ends the body)")

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for request in _requests(reader, info):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: %s\r\n\r\n"
                % (b"keep-alive" if request.keep_alive else b"close")
            )
            for chunk in chunks:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            if not request.keep_alive:
                return

    return _stream_server(handler, host, "chunked_server")


def close_delimited_server(body: bytes = OK_BODY, http_version: str = "1.0",
                           host: str = "127.0.0.1"):
    """Answers with neither Content-Length nor chunking: the body ends when the
    server closes the connection (HTTP/1.0 style)."""
    status = b"HTTP/%s 200 OK\r\n" % http_version.encode()

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for _ in _requests(reader, info):
            writer.write(status + b"Content-Type: application/json\r\n"
                                  b"Connection: close\r\n\r\n")
            writer.write(body)
            await writer.drain()
            return

    return _stream_server(handler, host, "close_delimited_server")


def slow_server(delay_s: float, body: bytes = OK_BODY, host: str = "127.0.0.1"):
    """Answers every request correctly, `delay_s` seconds after reading it."""

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for request in _requests(reader, info):
            await asyncio.sleep(delay_s)
            writer.write(_response(body, keep_alive=request.keep_alive))
            await writer.drain()
            if not request.keep_alive:
                return

    return _stream_server(handler, host, "slow_server")


def hang_every_server(every: int = 10, host: str = "127.0.0.1"):
    """Answers every request correctly except each `every`-th one (counted over the
    server), which it reads and never answers: that connection hangs until closed.
    `info.hung` counts the requests it sat on."""
    if every < 1:
        raise ValueError("every must be >= 1")

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for request in _requests(reader, info):
            if info.requests % every == 0:
                info.hung = getattr(info, "hung", 0) + 1
                await asyncio.Event().wait()  # never set: stop() cancels it
            writer.write(_response(keep_alive=request.keep_alive))
            await writer.drain()
            if not request.keep_alive:
                return

    return _stream_server(handler, host, "hang_every_server")


def drip_server(interval_s: float = 1.0, host: str = "127.0.0.1"):
    """Answers every request correctly, one byte every `interval_s` seconds (a 1 byte/s
    drip by default: the response is never late enough for a read timeout per byte)."""

    async def handler(reader, writer, info: ServerInfo) -> None:
        async for request in _requests(reader, info):
            for i in range(len(response := _response(keep_alive=request.keep_alive))):
                writer.write(response[i:i + 1])
                await writer.drain()
                await asyncio.sleep(interval_s)
            if not request.keep_alive:
                return

    return _stream_server(handler, host, "drip_server")


# --- aiohttp ---------------------------------------------------------------------


@contextlib.contextmanager
def aiohttp_server(app_factory: Any, host: str = "127.0.0.1", ssl_context: Any = None) -> Iterator[ServerInfo]:
    """Serve an aiohttp app in a thread. `app_factory`: an Application, or a
    callable (sync or async) returning one; called inside the server's loop.
    With `ssl_context` (a server-side ssl.SSLContext) it serves HTTPS."""
    from aiohttp import web

    info = ServerInfo(host, 0, scheme="https" if ssl_context is not None else "http")

    async def start() -> web.AppRunner:
        app = app_factory
        if not isinstance(app, web.Application):
            app = app_factory()
            if inspect.isawaitable(app):
                app = await app
        # shutdown_timeout bounds how long cleanup waits for in-flight handlers.
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, 0, ssl_context=ssl_context).start()
        info.port = runner.addresses[0][1]
        return runner

    async def stop(runner: web.AppRunner) -> None:
        await runner.cleanup()

    with _in_thread("aiohttp_server", start, stop):
        yield info


def ok_app():
    """An aiohttp app that answers 200 {"ok":true} on every path and method."""
    from aiohttp import web

    async def ok(request):
        await request.read()
        return web.Response(body=OK_BODY, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


@contextlib.contextmanager
def recording_server(host: str = "127.0.0.1") -> Iterator[ServerInfo]:
    """aiohttp on loopback answering 200 "ok" to everything; `info.calls` is every request
    as (method, path, headers, body), in arrival order (for tests that read back what was sent)."""
    import threading

    from aiohttp import web

    calls: list = []
    lock = threading.Lock()

    async def record(request):
        body = await request.read()
        with lock:
            calls.append((request.method, request.path, dict(request.headers), body))
        return web.Response(text="ok")

    def app():
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", record)
        return application

    with aiohttp_server(app, host) as info:
        info.calls = calls
        yield info


@contextlib.contextmanager
def tls_server(app_factory: Any = None, host: str = "127.0.0.1") -> Iterator[ServerInfo]:
    """HTTPS on loopback with a certificate for `host` issued by a fresh trustme CA that
    nothing trusts (a self-signed setup: verification fails unless the client skips it).
    `app_factory` as for aiohttp_server (default: 200 {"ok":true} on every path).
    The yielded ServerInfo has `.ca` (the trustme.CA) for a client that wants to trust it."""
    import ssl

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(ctx)
    with aiohttp_server(app_factory or ok_app, host, ssl_context=ctx) as info:
        info.ca = ca
        yield info


# --- nginx -----------------------------------------------------------------------


def find_nginx() -> str | None:
    path = shutil.which("nginx")
    if path is None and os.access("/usr/sbin/nginx", os.X_OK):
        path = "/usr/sbin/nginx"
    return path


_NGINX_CONF = """\
daemon off;
master_process {master};
{user}worker_processes 1;
pid {dir}/nginx.pid;
lock_file {dir}/nginx.lock;
error_log {dir}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_buffer_size 1m;
    client_max_body_size 64m;
    server {{
        listen {listen} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
        location = /nginx_status {{
            stub_status;
        }}
    }}
}}
"""


@dataclass
class NginxServer(ServerInfo):
    """A running nginx; `stub_status()` reads its request counters."""

    status_path: str = "/nginx_status"
    workdir: str = ""
    pid: int = 0

    @property
    def status_url(self) -> str:
        return self.url + self.status_path

    def stub_status(self) -> dict[str, int]:
        """nginx's counters: active, accepts, handled, requests, reading, writing,
        waiting. Reading them is itself one request (and one connection)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=STOP_TIMEOUT_S)
        try:
            conn.request("GET", self.status_path, headers={"Connection": "close"})
            response = conn.getresponse()
            text = response.read().decode()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"nginx stub_status answered {response.status}: {text!r}")
        lines = text.split("\n")
        accepts, handled, requests = (int(n) for n in lines[2].split())
        words = lines[3].split()
        return {
            "active": int(lines[0].split(":")[1]),
            "accepts": accepts,
            "handled": handled,
            "requests": requests,
            "reading": int(words[1]),
            "writing": int(words[3]),
            "waiting": int(words[5]),
        }


def _nginx_missing() -> None:
    if os.environ.get("CI"):
        pytest.fail("nginx is not installed, and CI must run the nginx tests: "
                    "install it (apt-get install -y nginx-light or nginx)", pytrace=False)
    pytest.skip("nginx is not installed")


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes],
                    deadline: float) -> bool:
    """True once host:port accepts; False when `proc` exited first."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def nginx_server(tmpdir: Any, host: str = "127.0.0.1", *, body: str = '{"ok":true}',
                 master_process: bool = False,
                 worker_connections: int = 4096) -> Iterator[NginxServer]:
    """nginx in the foreground with every file it writes under `tmpdir`.

    `GET|POST /...` -> 200 `body` (application/json); `/nginx_status` -> stub_status.
    Skips the test when nginx is missing (fails instead when $CI is set).
    """
    nginx = find_nginx()
    if nginx is None:
        _nginx_missing()
    if "'" in body or "\\" in body:
        raise ValueError("body must not contain quotes or backslashes")
    workdir = tempfile.mkdtemp(prefix="nginx-", dir=str(tmpdir))
    # Root's workers would switch to `nobody`, who cannot enter a 0700 tmpdir.
    user = "user root;\n" if master_process and os.geteuid() == 0 else ""
    last_error = ""
    for _attempt in range(5):  # the port can be taken between free_port and bind
        port = free_port(host)
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(workdir, name))
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(_NGINX_CONF.format(
                master="on" if master_process else "off", user=user, dir=workdir,
                worker_connections=worker_connections, listen=listen, body=body))
        # -p: prefix, so nothing is resolved under /usr/share/nginx; -e: the error log
        # nginx opens before it has read the config (else /var/log/nginx or stderr).
        log = open(os.path.join(workdir, "stderr.log"), "ab")
        proc = subprocess.Popen(
            [nginx, "-p", workdir + "/", "-c", conf, "-e", os.path.join(workdir, "error.log")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        try:
            if _wait_listening(host, port, proc, time.monotonic() + START_TIMEOUT_S):
                server = NginxServer(host, port, workdir=workdir, pid=proc.pid)
                yield server
                return
            last_error = _nginx_log(workdir)
            if proc.poll() is not None and "in use" in last_error:
                continue
            raise RuntimeError(f"nginx did not start on {listen}:\n{last_error}")
        finally:
            _stop(proc)
    raise RuntimeError(f"nginx could not bind a free port:\n{last_error}")


def _nginx_log(workdir: str) -> str:
    text = ""
    for name in ("stderr.log", "error.log"):
        with contextlib.suppress(OSError), open(os.path.join(workdir, name)) as f:
            text += f.read()
    return text[-4000:]
