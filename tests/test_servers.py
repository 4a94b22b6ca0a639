"""The test servers themselves: each one really produces its fault."""
from __future__ import annotations

import asyncio
import os
import socket

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests import servers
from tests.servers import (
    DEFAULT_CHUNKS,
    DEFAULT_GARBAGE,
    aiohttp_server,
    chunked_server,
    close_delimited_server,
    close_mid_body_server,
    free_port,
    garbage_server,
    nginx_server,
    refused_port,
    reset_server,
    slow_server,
    stall_server,
)

GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


def connect(server, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(server.addr, timeout=timeout)


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One Content-Length response from a keep-alive connection: (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"EOF inside the head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "EOF inside the body"
        body += chunk
    assert len(body) == length, "more bytes than Content-Length"
    return head, body


def read_to_eof(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def aiohttp_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    async def go():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(url) as response:
                return response.status, await response.read()

    return asyncio.run(go())


def assert_closed(server) -> None:
    """After its context exits, nothing listens on the server's port."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.addr, timeout=2).close()


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_refused_port_refuses():
    with refused_port() as server:
        with pytest.raises(ConnectionRefusedError):
            connect(server)
        with pytest.raises(aiohttp.ClientConnectorError):
            aiohttp_get(server.url)


def test_aiohttp_server_serves_a_factory_an_app_and_an_async_factory():
    async def hello(request):
        return web.json_response({"hello": request.path})

    def factory():
        app = web.Application()
        app.router.add_get("/{tail:.*}", hello)
        return app

    async def async_factory():
        return factory()

    for make in (factory, factory(), async_factory):
        with aiohttp_server(make) as server:
            status, body = aiohttp_get(server.url + "/x")
            assert (status, orjson.loads(body)) == (200, {"hello": "/x"})
        assert_closed(server)


@pytest.mark.parametrize("after", [0, 1, 3])
def test_reset_server_resets_the_request_after_n(after):
    with reset_server(after_requests=after) as server:
        with connect(server) as sock:
            for _ in range(after):
                sock.sendall(GET)
                head, body = read_response(sock)
                assert head.startswith(b"HTTP/1.1 200") and body == servers.OK_BODY
            sock.sendall(GET)
            with pytest.raises(ConnectionResetError):
                sock.recv(65536)
        # The count is per connection: a new one gets `after` good answers again.
        if after:
            with connect(server) as sock:
                sock.sendall(GET)
                assert read_response(sock)[0].startswith(b"HTTP/1.1 200")
        assert server.connections == (2 if after else 1)
    assert_closed(server)


def test_reset_server_is_a_client_error_for_aiohttp():
    with reset_server(after_requests=0) as server:
        with pytest.raises(aiohttp.ClientOSError):  # ECONNRESET surfaces as ClientOSError
            aiohttp_get(server.url)


def test_stall_server_reads_but_never_answers():
    with stall_server() as server:
        with connect(server, timeout=0.2) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
            with pytest.raises(TimeoutError):
                sock.recv(65536)
        with pytest.raises(asyncio.TimeoutError):
            aiohttp_get(server.url, timeout=0.2)
        assert server.requests == 2  # both were read in full
    assert_closed(server)


def test_garbage_server_answers_garbage():
    with garbage_server() as server:
        with connect(server) as sock:
            sock.sendall(GET)
            assert read_to_eof(sock) == DEFAULT_GARBAGE
        with pytest.raises(aiohttp.ClientResponseError):  # "Invalid response status"
            aiohttp_get(server.url)
    assert_closed(server)


def test_garbage_server_can_keep_the_connection():
    with garbage_server(payload=b"junk\n", close=False) as server:
        with connect(server) as sock:
            for _ in range(3):
                sock.sendall(GET)
                assert sock.recv(65536) == b"junk\n"


def test_close_mid_body_server_truncates_the_body():
    with close_mid_body_server() as server:
        with connect(server) as sock:
            sock.sendall(GET)
            head, _, body = read_to_eof(sock).partition(b"\r\n\r\n")
            assert b"Content-Length: 1000" in head
            assert body == b"x" * 10  # then a clean FIN, not an RST
        with pytest.raises(aiohttp.ClientPayloadError):
            aiohttp_get(server.url)
    assert_closed(server)


def test_chunked_server_sends_several_valid_chunks_with_keep_alive():
    with chunked_server() as server:
        with connect(server) as sock:
            for _ in range(2):  # two responses on one connection
                sock.sendall(GET)
                data = b""
                while not data.endswith(b"0\r\n\r\n"):
                    chunk = sock.recv(65536)
                    assert chunk
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
                expected = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in DEFAULT_CHUNKS)
                assert body == expected + b"0\r\n\r\n"
        assert server.connections == 1
        status, body = aiohttp_get(server.url)
        assert status == 200 and orjson.loads(body) == {"ok": True, "chunked": True}
    assert_closed(server)


def test_close_delimited_server_ends_the_body_with_close():
    with close_delimited_server(body=b'{"ok":true,"n":1}') as server:
        with connect(server) as sock:
            sock.sendall(GET)
            head, _, body = read_to_eof(sock).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.0 200 OK")
            assert b"Content-Length" not in head and b"chunked" not in head
            assert body == b'{"ok":true,"n":1}'
        assert aiohttp_get(server.url) == (200, b'{"ok":true,"n":1}')
    assert_closed(server)


def test_slow_server_answers_after_its_delay():
    with slow_server(0.4) as server:
        with connect(server, timeout=0.1) as sock:
            sock.sendall(GET)
            with pytest.raises(TimeoutError):  # nothing can arrive before the delay
                sock.recv(65536)
            sock.settimeout(10)
            head, body = read_response(sock)
            assert head.startswith(b"HTTP/1.1 200") and body == servers.OK_BODY
    assert_closed(server)


def test_servers_on_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1")
    with slow_server(0, host="::1") as server:
        assert server.url == f"http://[::1]:{server.port}"
        assert aiohttp_get(server.url) == (200, servers.OK_BODY)


def test_leaving_with_open_connections_still_shuts_down():
    with stall_server() as server:
        socks = [connect(server) for _ in range(5)]
        for sock in socks:
            sock.sendall(GET)
    for sock in socks:
        try:  # closed from the server side: a FIN, or an RST where data was unread
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass
        sock.close()
    assert_closed(server)


# --- nginx ------------------------------------------------------------------------


def test_nginx_answers_get_and_post(nginx):
    with connect(nginx) as sock:
        sock.sendall(GET)
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and b"application/json" in head
        assert body == b'{"ok":true}'
        big = b"x" * 200_000  # larger than client_body_buffer_size is fine too
        sock.sendall(b"POST /anything HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(big), big))
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == b'{"ok":true}'


def test_nginx_stub_status_counts_requests(nginx):
    before = nginx.stub_status()
    with connect(nginx) as sock:  # 10 requests on one keep-alive connection
        for _ in range(10):
            sock.sendall(GET)
            read_response(sock)
    after = nginx.stub_status()
    assert after["requests"] - before["requests"] == 11  # 10 + the status read itself
    assert after["accepts"] - before["accepts"] == 2


def test_nginx_with_master_process_and_shutdown(tmp_path):
    with nginx_server(tmp_path, master_process=True) as server:
        assert aiohttp_get(server.url) == (200, b'{"ok":true}')
        pid = server.pid
    assert_closed(server)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_nginx_missing_skips_or_fails_on_ci(tmp_path, monkeypatch):
    monkeypatch.setattr(servers, "find_nginx", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        with nginx_server(tmp_path):
            pass
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the nginx tests"):
        with nginx_server(tmp_path):
            pass
