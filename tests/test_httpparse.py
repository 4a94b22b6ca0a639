"""ResponseParser: one test body, two implementations (driver._httpparse and driver.httpparse).

The fixture param "compiled" fails, not skips, under CI when driver._httpparse did not
import. The differential test at the bottom feeds the same random valid and
corrupted byte streams, split at random, to both and wants identical traces.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest

from driver import httpparse

try:
    from driver import _httpparse
    _HTTP_IMPORT_ERROR = None
except ImportError as exc:  # not built here
    _httpparse = None
    _HTTP_IMPORT_ERROR = exc

CLOSED = "connection closed before the response was complete"


def _compiled_or_skip():
    if _httpparse is None:
        if os.environ.get("CI"):
            pytest.fail(f"driver._httpparse did not import on CI: {_HTTP_IMPORT_ERROR}")
        pytest.skip(f"driver._httpparse not built ({_HTTP_IMPORT_ERROR})")
    return _httpparse.ResponseParser


@pytest.fixture(params=["reference", "compiled"])
def Parser(request):
    if request.param == "compiled":
        return _compiled_or_skip()
    return httpparse.ResponseParser


def snap(p):
    """Everything a caller can read."""
    return (p.status, p.nbytes, p.keep_alive, p.error, p.pending, p.body, p.headers)


def outcome(p, chunks, head=False, eof=False):
    """start(), feed the chunks until one answers non-zero, then feed_eof() if asked
    and nothing answered yet: (rc, status, nbytes, keep_alive, body, error)."""
    p.start(head)
    rc = 0
    for chunk in chunks:
        rc = p.feed(chunk)
        if rc != 0:
            break
    if rc == 0 and eof:
        rc = p.feed_eof()
    return (rc, p.status, p.nbytes, p.keep_alive, p.body, p.error)


def drive(p, chunks, heads, eof=True):
    """A client: start() per request in `heads` (each: is it HEAD), feed every
    chunk, on 1 start the next request and feed(b"") for what is pending.
    Returns the trace: every call's return code with everything readable after it."""
    queue = list(heads)
    p.start(queue.pop(0))
    trace = []
    for chunk in chunks:
        rc = p.feed(chunk)
        trace.append(("feed", rc, snap(p)))
        while rc == 1 and queue:
            p.start(queue.pop(0))
            rc = p.feed(b"")
            trace.append(("feed0", rc, snap(p)))
        if rc == -1:
            break
    if eof:
        trace.append(("eof", p.feed_eof(), snap(p)))
    return trace


def completed(trace):
    """The responses a trace completed, and how it ended."""
    done = [(s[0], s[1], s[2], s[5]) for _, rc, s in trace if rc == 1]
    return done, trace[-1][1], trace[-1][2][3]


# --- the table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    data: bytes
    rc: int
    status: int = 0
    keep_alive: bool = False
    body: bytes = b""
    error: str | None = None
    head: bool = False
    eof: bool = False
    nbytes: int | None = None  # None: len(data) when rc == 1, else 0
    max_head: int = 65536


def ok(data, status=200, keep_alive=True, body=b"", **kw):
    return Row(data, 1, status, keep_alive, body, **kw)


def bad(data, error, **kw):
    return Row(data, -1, error=error, **kw)


def more(data, **kw):
    return Row(data, 0, **kw)


NGINX_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: nginx/1.24.0\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: 27\r\n"
    b"Connection: keep-alive\r\n"
    b"ETag: \"65920f00-1b\"\r\n"
    b"Accept-Ranges: bytes\r\n\r\n"
)
NGINX = NGINX_HEAD + b'{"ok":true,"items":[1,2,3]}'
CL5 = b"Content-Length: 5\r\n"
TE = b"Transfer-Encoding: chunked\r\n"
CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"
BIG = 70_000

ROWS = {
    # --- Content-Length
    "cl-basic": ok(b"HTTP/1.1 200 OK\r\n" + CL5 + b"\r\nhello", body=b"hello"),  # body in the same chunk
    "cl-nginx": ok(NGINX, body=b'{"ok":true,"items":[1,2,3]}'),  # the benchmark's response
    "cl-zero": ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),  # complete at the empty line
    "cl-ows": ok(b"HTTP/1.1 200 OK\r\nContent-Length: \t 5 \t\r\n\r\nhello", body=b"hello"),  # LWS around the value
    "cl-case": ok(b"HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 5\r\n\r\nhello", body=b"hello"),  # names are case-insensitive
    "cl-dup-equal": ok(b"HTTP/1.1 200 OK\r\n" + CL5 + CL5 + b"\r\nhello", body=b"hello"),  # equal duplicates agree
    "cl-leading-zeros": ok(b"HTTP/1.1 200 OK\r\nContent-Length: 005\r\n\r\nhello", body=b"hello"),  # still 5
    "cl-no-reason": ok(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),  # reason phrase omitted
    "cl-empty-reason": ok(b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"),  # SP then empty reason
    "cl-obs-text-reason": ok(b"HTTP/1.1 200 \xc3\xa9t\xc3\xa9 ok\r\nContent-Length: 0\r\n\r\n"),  # obs-text allowed
    "cl-status-999": ok(b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", status=999),  # any 3 digits >= 100
    "cl-404": ok(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop", status=404, body=b"nop"),  # errors frame alike
    "cl-empty-value-other": ok(b"HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"),  # empty values are fine
    "cl-incomplete-body": more(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"),  # needs 5 more bytes
    "cl-incomplete-head": more(b"HTTP/1.1 200 OK\r\nContent-Len"),  # mid-header
    # --- chunked
    "chunked-basic": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n" + CHUNKED_HELLO, body=b"hello"),  # one chunk
    "chunked-many": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n", body=b"abcd"),  # de-chunked
    "chunked-hex-upper": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\nA\r\n0123456789\r\n0\r\n\r\n", body=b"0123456789"),  # A = 10
    "chunked-hex-lower-zeros": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n000a\r\n0123456789\r\n0\r\n\r\n", body=b"0123456789"),  # leading zeros
    "chunked-extension": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5;name=value\r\nhello\r\n0;last\r\n\r\n", body=b"hello"),  # chunk-ext ignored
    "chunked-extension-bws": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5 \t; q=\"x y\"\r\nhello\r\n0\r\n\r\n", body=b"hello"),  # BWS before ';'
    "chunked-trailers": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n", body=b"hello"),  # trailers skipped
    "chunked-empty": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n0\r\n\r\n"),  # only the last chunk
    "chunked-wins-over-cl": ok(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n" + TE + b"\r\n" + CHUNKED_HELLO, keep_alive=False, body=b"hello"),  # both framings: chunked, then close
    "chunked-te-list": ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n" + CHUNKED_HELLO, body=b"hello"),  # last coding decides
    "chunked-te-two-headers": ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n" + TE + b"\r\n" + CHUNKED_HELLO, body=b"hello"),  # last header decides
    "chunked-incomplete": more(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5\r\nhello\r\n0\r\n"),  # trailer section not ended
    # --- close-delimited
    "close-11": ok(b"HTTP/1.1 200 OK\r\n\r\nuntil close", keep_alive=False, body=b"until close", eof=True),  # no framing header
    "close-10": ok(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nbody", keep_alive=False, body=b"body", eof=True),  # HTTP/1.0 style
    "close-te-not-chunked": ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz", keep_alive=False, body=b"zz", eof=True),  # chunked not last
    "close-te-over-cl": ok(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n" + CL5 + b"\r\nhello!", keep_alive=False, body=b"hello!", eof=True),  # TE present: CL ignored
    "close-empty-body": ok(b"HTTP/1.1 200 OK\r\n\r\n", keep_alive=False, eof=True),  # close right after the head
    "close-no-eof-yet": more(b"HTTP/1.1 200 OK\r\n\r\nsome"),  # still reading
    # --- no body: HEAD, 204, 304
    "head-cl": ok(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", head=True),  # CL describes the GET body
    "head-chunked": ok(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n", head=True),  # no chunks follow
    "head-no-framing": ok(b"HTTP/1.1 200 OK\r\n\r\n", head=True),  # not close-delimited either
    "204": ok(b"HTTP/1.1 204 No Content\r\n\r\n", status=204),  # no body
    "204-with-cl": ok(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", status=204),  # CL ignored
    "304": ok(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", status=304),  # no body
    "304-chunked": ok(b"HTTP/1.1 304 Not Modified\r\n" + TE + b"\r\n", status=304),  # TE ignored
    # --- 1xx skipped
    "100-then-200": ok(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + CL5 + b"\r\nhello", body=b"hello"),  # nbytes counts both
    "103-hints-then-204": ok(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nConnection: close\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", status=204),  # 1xx headers ignored
    "two-1xx": ok(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),  # several skipped
    "100-only": more(b"HTTP/1.1 100 Continue\r\n\r\n"),  # the final response is still to come
    "101-refused": bad(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "unexpected 101 Switching Protocols"),  # never asked to upgrade
    # --- keep-alive semantics
    "ka-11-default": ok(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),  # 1.1 keeps alive
    "ka-11-close": ok(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", keep_alive=False),  # explicit close
    "ka-11-close-case-list": ok(b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive , CLOSE\r\nContent-Length: 0\r\n\r\n", keep_alive=False),  # close wins
    "ka-11-closed-is-not-close": ok(b"HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n"),  # whole tokens only
    "ka-11-other-token": ok(b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n"),  # irrelevant token
    "ka-10-default": ok(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", keep_alive=False),  # 1.0 closes by default
    "ka-10-keep-alive": ok(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),  # 1.0 opt-in
    "ka-10-keep-alive-case": ok(b"HTTP/1.0 200 OK\r\nconnection:KEEP-ALIVE\r\nContent-Length: 0\r\n\r\n"),  # case-insensitive, no OWS
    "ka-10-both": ok(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", keep_alive=False),  # close wins
    "ka-12-is-11": ok(b"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n"),  # later 1.x minor: 1.1 semantics
    # --- garbage and non-responses
    "garbage-nul-ff": bad(b"\x00\xff\xfe\x80", "invalid status line"),  # binary
    "garbage-ssh": bad(b"SSH-2.0-OpenSSH_9.6\r\n", "invalid status line"),  # wrong port: refused at the first byte
    "garbage-json": bad(b'{"ok": true}', "invalid status line"),  # a body with no head
    "garbage-request": bad(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "invalid status line"),  # a request, not a response
    "garbage-lowercase-http": bad(b"http/1.1 200 OK\r\n\r\n", "invalid status line"),  # the name is case-sensitive
    "garbage-http2": bad(b"HTTP/2 200\r\n\r\n", "invalid status line"),  # not HTTP/1.x
    "garbage-leading-crlf": bad(b"\r\nHTTP/1.1 200 OK\r\n\r\n", "invalid status line"),  # no empty line before the status
    "status-two-digits": bad(b"HTTP/1.1 20 OK\r\n\r\n", "invalid status line"),  # 3 digits
    "status-four-digits": bad(b"HTTP/1.1 2000 OK\r\n\r\n", "invalid status line"),  # 3 digits
    "status-below-100": bad(b"HTTP/1.1 099 Low\r\n\r\n", "invalid status line"),  # 100-999
    "status-no-space": bad(b"HTTP/1.1 200OK\r\n\r\n", "invalid status line"),  # SP before the reason
    "status-double-space": bad(b"HTTP/1.1  200 OK\r\n\r\n", "invalid status line"),  # exactly one SP
    "status-minor-letter": bad(b"HTTP/1.x 200 OK\r\n\r\n", "invalid status line"),  # minor is a digit
    "status-fullwidth-digits": bad("HTTP/1.1 ２００ OK\r\n\r\n".encode(), "invalid status line"),  # non-ASCII digits
    "status-ctl-in-reason": bad(b"HTTP/1.1 200 O\x01K\r\n\r\n", "invalid status line"),  # control byte
    "status-cr-in-reason": bad(b"HTTP/1.1 200 O\rK\r\n\r\n", "invalid status line"),  # bare CR
    # --- line endings and header lines (strict CRLF, like llhttp)
    "bare-lf-status": bad(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", "invalid line ending"),  # LF without CR
    "bare-lf-end-of-head": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", "invalid line ending"),  # LF-only empty line
    "header-space-before-colon": bad(b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", "invalid header line"),  # RFC 9112 5.1
    "header-no-colon": bad(b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "invalid header line"),  # not name: value
    "header-empty-name": bad(b"HTTP/1.1 200 OK\r\n: x\r\n\r\n", "invalid header line"),  # empty token
    "header-obs-fold": bad(b"HTTP/1.1 200 OK\r\nX: a\r\n  b\r\n\r\n", "invalid header line"),  # obsolete line folding
    "header-nul-value": bad(b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", "invalid header line"),  # NUL
    "header-cr-value": bad(b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "invalid header line"),  # bare CR
    "header-del-value": bad(b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n", "invalid header line"),  # DEL is not a VCHAR
    "header-bad-name-char": bad(b"HTTP/1.1 200 OK\r\nX(y): 1\r\n\r\n", "invalid header line"),  # '(' is no tchar
    # --- bad Content-Length
    "cl-negative": bad(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid content-length"),  # sign
    "cl-plus": bad(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "invalid content-length"),  # sign
    "cl-letters": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 5a\r\n\r\nhello", "invalid content-length"),  # not digits
    "cl-empty": bad(b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "invalid content-length"),  # no digits
    "cl-hex": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "invalid content-length"),  # decimal only
    "cl-inner-space": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 1 0\r\n\r\n", "invalid content-length"),  # one number
    "cl-list": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", "invalid content-length"),  # lists refused
    "cl-fullwidth": bad("HTTP/1.1 200 OK\r\nContent-Length: ５\r\n\r\nhello".encode(), "invalid content-length"),  # non-ASCII digit
    "cl-too-big": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n", "invalid content-length"),  # 10**18
    "cl-5000-digits": bad(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", "invalid content-length"),  # no int() blowup
    "cl-conflict": bad(b"HTTP/1.1 200 OK\r\n" + CL5 + b"Content-Length: 6\r\n\r\nhello!", "conflicting content-length"),  # duplicates differ
    "cl-largest": more(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\nx"),  # 10**18 - 1 is fine
    # --- bad chunks
    "chunk-not-hex": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\ng\r\n", "invalid chunk size"),  # not a hex digit
    "chunk-negative": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n-5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),  # sign
    "chunk-empty-line": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n\r\n", "invalid chunk size"),  # no digits
    "chunk-0x": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),  # no 0x prefix
    "chunk-trailing-space": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5 \r\nhello\r\n0\r\n\r\n", "invalid chunk size"),  # BWS only before ';'
    "chunk-2-pow-60": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n1000000000000000\r\n", "invalid chunk size"),  # 2**60
    "chunk-many-digits": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n" + b"f" * 3000 + b"\r\n", "invalid chunk size"),  # overflow
    "chunk-ext-ctl": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5;a\x00\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),  # NUL in ext
    "chunk-data-too-long": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n3\r\nhello\r\n0\r\n\r\n", "missing CRLF after chunk data"),  # size lies
    "chunk-data-lf-only": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5\r\nhello\n0\r\n\r\n", "missing CRLF after chunk data"),  # bare LF
    "chunk-data-cr-only": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5\r\nhello\r0\r\n\r\n", "missing CRLF after chunk data"),  # CR then not LF
    "chunk-size-bare-lf": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5\nhello\r\n0\r\n\r\n", "invalid line ending"),  # strict CRLF
    "chunk-bad-trailer": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n0\r\nnot a header\r\n\r\n", "invalid trailer line"),  # trailer grammar
    # --- limits (max_head applies per head, per chunk-size line, to the trailer section)
    "head-exactly-max": ok(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 23 + b"\r\n\r\n", keep_alive=False, eof=True, max_head=47),  # 47 bytes fit
    "head-one-over-max": bad(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 24 + b"\r\n\r\n", "response head too large", max_head=47),  # 48 do not
    "head-huge-default": bad(b"HTTP/1.1 200 OK\r\nX: " + b"a" * BIG + b"\r\n\r\n", "response head too large"),  # > 64 KiB
    "head-huge-no-lf": bad(b"HTTP/1.1 200 OK\r\nX: " + b"a" * BIG, "response head too large"),  # refused before any LF
    "head-many-headers": bad(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20000, "response head too large"),  # 120 KB of headers
    "head-limit-per-1xx": ok(b"HTTP/1.1 100 Continue\r\nX: " + b"a" * 20 + b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", max_head=50),  # each head counts alone
    "chunk-line-too-long": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5;" + b"e" * 100 + b"\r\nhello\r\n0\r\n\r\n", "chunk size line too long", max_head=64),  # extensions count
    "trailers-too-large": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n0\r\n" + b"T: v\r\n" * 20 + b"\r\n", "trailer section too large", max_head=64),  # trailers count
    # --- end of stream
    "eof-mid-body": bad(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", CLOSED, eof=True),  # 5 of 10 bytes
    "eof-mid-head": bad(b"HTTP/1.1 200 OK\r\nContent-Le", CLOSED, eof=True),  # head cut
    "eof-mid-status": bad(b"HTT", CLOSED, eof=True),  # 3 bytes of a response
    "eof-mid-chunked": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5\r\nhel", CLOSED, eof=True),  # in chunk data
    "eof-in-trailers": bad(b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n0\r\n", CLOSED, eof=True),  # final CRLF missing
    "eof-after-100": bad(b"HTTP/1.1 100 Continue\r\n\r\n", CLOSED, eof=True),  # the final response never came
    "eof-head-request-mid-head": bad(b"HTTP/1.1 200 OK\r\n", CLOSED, head=True, eof=True),  # HEAD still needs its head
    "eof-nothing": Row(b"", 0, eof=True),  # the server closed an idle keep-alive connection
}


def _want(row):
    nbytes = row.nbytes if row.nbytes is not None else (len(row.data) if row.rc == 1 else 0)
    return (row.rc, row.status, nbytes, row.keep_alive, row.body, row.error)


@pytest.mark.parametrize("name", list(ROWS))
def test_table_one_chunk(Parser, name):
    row = ROWS[name]
    p = Parser(keep_body=True, max_head=row.max_head)
    assert outcome(p, [row.data], row.head, row.eof) == _want(row)
    if row.rc != 0:  # nothing left over (an unfinished line stays buffered while rc is 0)
        assert not p.pending


@pytest.mark.parametrize("name", list(ROWS))
def test_table_byte_at_a_time(Parser, name):
    row = ROWS[name]
    p = Parser(keep_body=True, max_head=row.max_head)
    chunks = [row.data[i:i + 1] for i in range(len(row.data))]
    assert outcome(p, chunks, row.head, row.eof) == _want(row)


@pytest.mark.parametrize("name", [n for n, r in ROWS.items() if len(r.data) < 4096])
def test_table_every_split_point(Parser, name):
    row = ROWS[name]
    p = Parser(keep_body=True, max_head=row.max_head)
    for i in range(len(row.data) + 1):
        p.reset()
        got = outcome(p, [row.data[:i], row.data[i:]], row.head, row.eof)
        assert got == _want(row), f"split at {i}"


def test_headers_with_keep_body(Parser):
    p = Parser(keep_body=True)
    p.start()
    data = (b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-TYPE:\t text/plain \r\nX-Empty:\r\n" + TE + b"\r\n"
            b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert p.feed(data) == 1
    assert p.headers == [
        (b"content-type", b"text/plain"),
        (b"x-empty", b""),
        (b"transfer-encoding", b"chunked"),
    ]
    assert p.body == b"hello"
    assert p.nbytes == len(data)


def test_no_body_or_headers_without_keep_body(Parser):
    p = Parser()
    p.start()
    assert p.feed(NGINX) == 1
    assert (p.status, p.nbytes, p.keep_alive, p.headers, p.body) == (200, len(NGINX), True, [], b"")


@pytest.mark.parametrize("keep_body", [False, True])
@pytest.mark.parametrize(
    "stream, want",
    [
        (b"HTTP/1.1 503 Busy\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 429 Slow\r\nretry-AFTER:120\r\nContent-Length: 0\r\n\r\n", True),  # any case, no space
        (b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 503 Busy\r\nRetry-After-X: 2\r\nContent-Length: 0\r\n\r\n", False),  # another name
        # an interim response's header is not the final response's
        (b"HTTP/1.1 100 Continue\r\nRetry-After: 1\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
         False),
    ],
)
def test_retry_after_is_seen_with_or_without_keep_body(Parser, keep_body, stream, want):
    # a 503 with Retry-After is throttling: the fast paths need to know without keeping headers
    p = Parser(keep_body=keep_body)
    p.start()
    assert p.feed(stream) == 1
    assert p.retry_after is want
    p.start()  # forgotten with the response
    assert p.retry_after is False


def test_attributes_before_completion(Parser):
    p = Parser(keep_body=True)
    assert (p.status, p.nbytes, p.keep_alive, p.error, p.pending, p.headers, p.body) == (0, 0, False, None, False, [], b"")
    p.start()
    assert p.feed(NGINX[:-3]) == 0
    assert (p.status, p.nbytes, p.keep_alive, p.headers, p.body) == (0, 0, False, [], b"")
    assert p.feed(NGINX[-3:]) == 1
    assert p.status == 200
    p.start()  # a new request: the last response is forgotten
    assert (p.status, p.nbytes, p.keep_alive, p.headers, p.body) == (0, 0, False, [], b"")


def test_unsolicited_data(Parser):
    p = Parser()
    assert p.feed(b"") == 0  # nothing is no error
    assert p.feed(b"HTTP/1.1 200 OK\r\n\r\n") == -1
    assert p.error == "unsolicited data"


def test_unsolicited_after_a_complete_response(Parser):
    p = Parser()
    p.start()
    assert p.feed(NGINX) == 1
    assert p.feed(b"X") == -1
    assert p.error == "unsolicited data"


def test_two_responses_in_one_chunk(Parser):
    second = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    p = Parser(keep_body=True)
    p.start()
    assert p.feed(NGINX + second) == 1
    assert (p.status, p.nbytes, p.pending) == (200, len(NGINX), True)
    assert p.feed(b"") == 0  # no request started: the leftover waits
    assert p.pending
    p.start()
    assert p.feed(b"") == 1
    assert (p.status, p.nbytes, p.body, p.pending) == (201, len(second), b"ok", False)


def test_feed_eof_parses_what_start_left_buffered(Parser):
    p = Parser(keep_body=True)
    p.start()
    assert p.feed(NGINX + b"HTTP/1.0 200 OK\r\n\r\ntail") == 1
    p.start()
    assert p.feed_eof() == 1
    assert (p.status, p.body, p.keep_alive) == (200, b"tail", False)


def test_eof_without_request_drops_leftover(Parser):
    p = Parser()
    p.start()
    assert p.feed(NGINX + b"HTTP/1.1") == 1
    assert p.feed_eof() == 0  # no request in flight


def test_eof_with_nothing(Parser):
    p = Parser()
    assert p.feed_eof() == 0  # never started
    p.start()
    assert p.feed_eof() == 0  # started, nothing arrived
    assert p.error is None


def test_error_sticks_until_reset(Parser):
    p = Parser()
    p.start()
    assert p.feed(b"SSH-2.0-OpenSSH\r\n") == -1
    p.start()  # does not leave the error state
    assert p.feed(NGINX) == -1
    assert p.feed_eof() == -1
    assert p.error == "invalid status line"
    assert not p.pending
    p.reset()
    assert p.error is None
    p.start()
    assert p.feed(NGINX) == 1


def test_large_body_is_counted_not_buffered(Parser):
    size = 10 * 1024 * 1024
    p = Parser()
    p.start()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size
    assert p.feed(head) == 0
    block = b"x" * 65536
    for _ in range(size // len(block) - 1):
        assert p.feed(block) == 0
        assert not p.pending
    assert p.feed(block) == 1
    assert p.nbytes == len(head) + size


@pytest.mark.parametrize("offset", [0, 1, 7, 8, 9, 15, 16, 23])
def test_every_byte_in_a_header_value(Parser, offset):
    # the compiled check reads 8 bytes at a time: put the byte at each lane and in the tail
    valid = {9} | set(range(0x20, 0x7F)) | set(range(0x80, 0x100))
    for byte in range(256):
        value = b"a" * offset + bytes([byte]) + b"b" * 9
        p = Parser()
        p.start()
        rc = p.feed(b"HTTP/1.1 200 OK\r\nX: " + value + b"\r\nContent-Length: 0\r\n\r\n")
        if byte in valid:
            assert rc == 1, byte
        else:
            assert rc == -1, byte
            assert p.error == ("invalid line ending" if byte == 10 else "invalid header line"), byte


def test_compiled_feed_allocates_nothing():
    # keep_body off: a whole response in one chunk creates no Python object
    Compiled = _compiled_or_skip()
    tracemalloc = pytest.importorskip("tracemalloc")

    def peak_of(fn):
        fn()  # warm up
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            fn()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak - before

    p = Compiled()
    chunked = b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n" + CHUNKED_HELLO

    def parse_both():
        p.start()
        p.feed(NGINX)
        p.start()
        p.feed(chunked)

    assert peak_of(parse_both) == peak_of(lambda: None)


def test_max_head_floor(Parser):
    with pytest.raises(ValueError):
        Parser(max_head=15)


def test_random_garbage_never_raises(Parser):
    rng = random.Random(20240101)
    for i in range(400):
        junk = rng.randbytes(rng.randint(1, 300))
        if i % 2:
            junk = b"HTTP/1.1 200 OK\r\n" + junk  # get past the status line
        p = Parser(keep_body=bool(i % 3), max_head=rng.choice([16, 64, 65536]))
        p.start(rng.random() < 0.2)
        rc = 0
        for chunk in _random_splits(rng, junk):
            rc = p.feed(chunk)
            assert rc in (-1, 0, 1)
            if rc:
                break
        if rc == 0:
            assert p.feed_eof() in (-1, 0, 1)
        if junk[:7] != b"HTTP/1."[:len(junk[:7])]:  # refused at the first wrong byte
            assert rc == -1 and p.error == "invalid status line"


# --- two responses at every split point ------------------------------------------------

PAIRS = {
    "cl+cl": ([NGINX, b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"], [False, False]),  # back to back
    "chunked+cl": ([b"HTTP/1.1 200 OK\r\n" + TE + b"\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n", NGINX], [False, False]),  # trailers then next
    "100+200,204": ([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + CL5 + b"\r\nhello", b"HTTP/1.1 204 No Content\r\n\r\n"], [False, False]),  # 1xx inside
    "head+close": ([b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\nrest"], [True, False]),  # HEAD then close-delimited
    "cl+garbage": ([NGINX, b"SSH-2.0-x\r\n"], [False, False]),  # the second is refused
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_two_responses_every_split_point(Parser, name):
    parts, heads = PAIRS[name]
    data = b"".join(parts)
    whole = completed(drive(Parser(keep_body=True), [data], heads))
    assert len(whole[0]) >= 1
    for i in range(len(data) + 1):
        got = completed(drive(Parser(keep_body=True), [data[:i], data[i:]], heads))
        assert got == whole, f"split at {i}"
    got = completed(drive(Parser(keep_body=True), [data[i:i + 1] for i in range(len(data))], heads))
    assert got == whole, "byte at a time"


# --- differential: compiled vs reference --------------------------------------------------


def _random_splits(rng, data):
    chunks, i = [], 0
    while i < len(data):
        n = rng.choice([0, 1, 1, 2, 3, 7, 16, 64, 1000])
        chunks.append(data[i:i + n])
        i += n
    return chunks


def _random_headers(rng):
    out = []
    for _ in range(rng.randint(0, 4)):
        name = rng.choice([b"Server", b"X-Id", b"Content-Type", b"Vary", b"Date", b"A"])
        ows = rng.choice([b"", b" ", b"  ", b"\t "])
        out.append(name + b":" + ows + rng.choice([b"v", b"text/plain", b"", b"a b c"]) + rng.choice([b"", b" "]) + b"\r\n")
    return out


# Values that are valid but easy to get wrong: token lists, case, near misses.
CONNECTION_VALUES = [b"close", b"keep-alive", b"Keep-Alive, close", b"closed", b"closx", b"clos",
                     b"keep-alivx", b" upgrade ,CLOSE ", b"keep-alive,", b",", b""]
TE_VALUES = [b"chunked", b"gzip, Chunked", b"chunked , ,", b"chunked,", b"x chunked", b"chunked;q=1",
             b"chunkes", b"gzip", b",chunked", b"gzip,\tchunked"]


def _random_response(rng, last):
    """(bytes, is_head_request) of one random response, mostly well-formed."""
    version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"])
    status = rng.choice([200, 200, 201, 204, 304, 404, 500])
    body = rng.randbytes(rng.choice([0, 1, 5, 100, 3000]))
    head_req = rng.random() < 0.1
    headers = _random_headers(rng)
    if rng.random() < 0.3:
        headers.append(b"Connection: " + rng.choice(CONNECTION_VALUES) + b"\r\n")
    framing = rng.choice(["cl", "cl", "chunked"] + (["close"] if last else []))
    if framing == "cl":
        headers.append(b"Content-Length: %d\r\n" % len(body))
        if rng.random() < 0.05:  # a duplicate, usually agreeing
            headers.append(b"content-length: 0%d\r\n" % (len(body) + (rng.random() < 0.3)))
        payload = body
    elif framing == "chunked":
        headers.append(TE if rng.random() < 0.7 else b"transfer-encoding: " + rng.choice(TE_VALUES) + b"\r\n")
        if rng.random() < 0.1:  # both framings
            headers.append(b"Content-Length: %d\r\n" % rng.randint(0, 9))
        payload, i = b"", 0
        while i < len(body):
            n = rng.randint(1, 1200)
            ext = rng.choice([b"", b";a=b", b" ; x"])
            size = rng.choice([b"%x", b"%X", b"00%x"]) % len(body[i:i + n])
            end = b"\r\n" if rng.random() < 0.97 else rng.choice([b"\r\r", b"\n\n", b"\rx", b"x\n"])
            payload += b"%s%s\r\n%s%s" % (size, ext, body[i:i + n], end)
            i += n
        payload += b"0\r\n" + rng.choice([b"", b"T: 1\r\n"]) + b"\r\n"
    else:
        payload = body
    rng.shuffle(headers)
    if head_req or status in (204, 304):
        payload = b""
    interim = rng.choice([b"", b"", b"", b"", b"", b"HTTP/1.1 100 Continue\r\n\r\n",
                          b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
                          b"HTTP/1.1 101 Switching Protocols\r\n\r\n"])
    return interim + version + b" %d OK\r\n" % status + b"".join(headers) + b"\r\n" + payload, head_req


def _corrupt(rng, data):
    how = rng.choice(["flip", "insert", "delete", "truncate", "splice"])
    i = rng.randrange(len(data) + 1)
    if how == "flip" and i < len(data):
        return data[:i] + bytes([rng.choice(b"\x00\n\r \t0:;,-9afg\xff" + bytes([rng.randrange(256)]))]) + data[i + 1:]
    if how == "insert":
        return data[:i] + rng.choice([b"\r\n", b"\n", b"0", b" ", b"\x00", b"HTTP/1.1 200 OK\r\n"]) + data[i:]
    if how == "delete" and i < len(data):
        return data[:i] + data[i + 1:]
    if how == "truncate":
        return data[:i]
    return data[:i] + rng.randbytes(rng.randint(1, 20)) + data[i:]


def test_differential_compiled_vs_reference():
    Compiled = _compiled_or_skip()
    rng = random.Random(7)
    for case in range(4000):
        n = rng.randint(1, 3)
        responses = [_random_response(rng, last=i == n - 1) for i in range(n)]
        data = b"".join(r for r, _ in responses)
        heads = [h for _, h in responses]
        if case % 2:
            for _ in range(rng.randint(1, 3)):
                data = _corrupt(rng, data)
        chunks = _random_splits(rng, data)
        keep_body = rng.random() < 0.7
        max_head = 65536 if rng.random() < 0.85 else rng.choice([16, 64, 200])
        ref = drive(httpparse.ResponseParser(keep_body, max_head), chunks, heads)
        com = drive(Compiled(keep_body, max_head), chunks, heads)
        assert com == ref, f"case {case}: {data!r} split {[len(c) for c in chunks]}"
