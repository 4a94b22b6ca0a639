"""HTTP/1.1 response framing: the pure-Python reference `ResponseParser`.

`driver._httpparse.ResponseParser` (ext/_httpparse.pyx) is the compiled twin; both give the
same return codes and attributes on every input and every way of splitting it
(tests/test_httpparse.py checks this differentially). This docstring is the spec.

Use, one request in flight per connection::

    p.start(head=False)          # after writing a request
    rc = p.feed(chunk)           # for each chunk read: 0 more, 1 done, -1 error
    rc = p.feed_eof()            # when the peer closed
    p.reset()                    # after -1: the caller closed the connection

After 1, `status`, `nbytes` (head + body bytes, chunk framing and skipped 1xx heads
included) and `keep_alive` describe the response, and with keep_body=True also
`headers` ([(lowercased name, value)], trailers not included) and `body`
(de-chunked). Until a response completes they read 0 / False / [] / b"". Bytes after
a complete response stay buffered (`pending`) and are parsed by the next feed()
after start() (feed(b"") will do). After -1, `error` holds the reason and every call
but reset() keeps answering -1 (start() included). The parser never raises on data.

Grammar (strict, like llhttp):
- Lines end in CRLF. A bare LF is an error ("invalid line ending"); a CR elsewhere
  is an invalid character of its line.
- Status line: ``HTTP/1.<digit> SP <3 digits, 100-999> [SP reason]``; the reason
  may be empty and holds HTAB, SP, VCHAR or obs-text (0x80-0xff). HTTP/1.0 has
  1.0 semantics, HTTP/1.1-1.9 those of 1.1. 1xx heads are skipped (their headers
  are validated but ignored), except 101, an error: the client never asks to
  upgrade. The first bytes of a head are checked against ``HTTP/1.`` as they
  arrive, so an SSH banner or a request is refused at once.
- Header line: ``token ":" OWS value OWS``; no space before the colon, no
  obs-fold; value bytes HTAB, SP, VCHAR or obs-text. Names are case-insensitive.
- Content-Length: 1+ ASCII digits, value < 10**18; duplicates must agree.
- Transfer-Encoding: the last coding of the last such header decides: "chunked"
  (case-insensitive) means chunked, anything else means read until close.
  Chunked wins over Content-Length.
- Chunk-size line: ``1*HEXDIG [*OWS ";" ext]`` (ext: HTAB/SP/VCHAR/obs-text),
  size < 2**60; chunk data is followed by exactly CRLF; after the 0-size chunk,
  trailer lines (header grammar) up to an empty line.
- No body for HEAD, 204 and 304; 1xx are skipped. Otherwise chunked, else
  Content-Length, else the body runs until the connection closes.

keep_alive is False if the response was close-delimited, carried ``Connection:
close``, is HTTP/1.0 without ``Connection: keep-alive`` or carried both
Transfer-Encoding and Content-Length (RFC 9112 6.1: close after such a message).

Limits: each head (status line to empty line, CRLFs included) <= max_head bytes,
each chunk-size line <= max_head bytes, the trailer section <= max_head bytes.
max_head >= 16.

When an error fires (so that every split of the same bytes gives the same answer
at the same byte): the ``HTTP/1.`` prefix check on each byte of it; the size limit
on the first byte past it; everything else about a line on its LF (size first,
then the CRLF, then the content); the CRLF after chunk data on each of its bytes.
Errors, by reason:

    unsolicited data                     bytes fed with no request started
    invalid status line                  not HTTP/1.x NNN [reason]
    unexpected 101 Switching Protocols
    invalid line ending                  LF without CR
    response head too large              over max_head
    invalid header line
    invalid content-length               empty, not digits, >= 10**18
    conflicting content-length
    invalid chunk size                   no hex digits, >= 2**60, bad extension
    chunk size line too long             over max_head
    missing CRLF after chunk data
    invalid trailer line
    trailer section too large            over max_head
    connection closed before the response was complete     (feed_eof)

feed_eof(): 1 if the response was close-delimited (complete now); 0 if no request
was started, or one was but not one byte of its response arrived (a keep-alive
connection the server closed: the request can be retried); -1 otherwise. It first
parses bytes start() left buffered, and returns that result if it is not 0.
Bytes left buffered with no request started are dropped silently by feed_eof().
"""
from __future__ import annotations

import re

__all__ = ["ResponseParser"]

_IDLE, _HEAD, _BODY_CL, _BODY_CLOSE, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER, _ERROR = range(9)

_MIN_MAX_HEAD = 16
_PREFIX = b"HTTP/1."
_STATUS_RE = re.compile(rb"HTTP/1\.([0-9]) ([1-9][0-9][0-9])(?: [\t\x20-\x7e\x80-\xff]*)?")
_HEADER_RE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t\x20-\x7e\x80-\xff]*)")
_DIGITS_RE = re.compile(rb"[0-9]+")
_CHUNK_RE = re.compile(rb"([0-9A-Fa-f]+)(?:[ \t]*;[\t\x20-\x7e\x80-\xff]*)?")
_OWS = b" \t"
_CL_DIGITS = 18  # Content-Length < 10**18
_CHUNK_LIMIT = 1 << 60
_TOO_LARGE = {
    _HEAD: "response head too large",
    _CHUNK_SIZE: "chunk size line too long",
    _TRAILER: "trailer section too large",
}


class ResponseParser:
    """Frames one HTTP/1.1 response per start(); see the module docstring."""

    def __init__(self, keep_body: bool = False, max_head: int = 65536) -> None:
        if max_head < _MIN_MAX_HEAD:
            raise ValueError(f"max_head must be at least {_MIN_MAX_HEAD}, got {max_head}")
        self._keep_body = bool(keep_body)
        self._max_head = max_head
        self._buf = bytearray()
        self.reset()

    # --- public API -------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (buffer and error included): a fresh connection."""
        self._state = _IDLE
        self._buf.clear()
        self.error: str | None = None
        self._clear_response()

    def start(self, head: bool = False) -> None:
        """A request was sent; head=True: it was a HEAD request (no body)."""
        if self._state == _ERROR:
            return
        self._state = _HEAD
        self._head_req = bool(head)
        self._status_line = True  # the next line in _HEAD is a status line
        self._section = 0  # bytes of the current limited section
        self._w_nbytes = 0
        self._w_status = 0
        self._clear_response()

    def feed(self, data: bytes) -> int:
        """0: need more; 1: a response is complete; -1: protocol error (see error)."""
        if self._state == _ERROR:
            return -1
        if self._state == _IDLE:
            if not data:
                return 0
            return self._fail("unsolicited data")
        self._buf += data
        rc, consumed = self._run()
        if rc >= 0:
            del self._buf[:consumed]
        return rc

    def feed_eof(self) -> int:
        """1: completed a close-delimited response; 0: nothing of one arrived; -1: cut short."""
        if self._state == _ERROR:
            return -1
        if self._state == _IDLE:
            return 0
        rc = self.feed(b"")
        if rc != 0:
            return rc
        if self._state == _BODY_CLOSE:
            self._complete(close_delimited=True)
            return 1
        if self._state == _HEAD and self._w_nbytes == 0 and not self._buf:
            return 0
        return self._fail("connection closed before the response was complete")

    @property
    def status(self) -> int:
        return self._status

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def keep_alive(self) -> bool:
        return self._keep_alive

    @property
    def retry_after(self) -> bool:
        """The last complete response carried a Retry-After header (kept without keep_body:
        a 503 with it is throttling, not an error)."""
        return self._retry_after

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return self._headers if self._keep_body else []

    @property
    def body(self) -> bytes:
        return self._body

    @property
    def pending(self) -> bool:
        return len(self._buf) > 0

    # --- internals --------------------------------------------------------------

    def _clear_response(self) -> None:
        self._retry_after = False
        self._status = 0
        self._nbytes = 0
        self._keep_alive = False
        self._headers: list[tuple[bytes, bytes]] = []
        self._body = b""
        self._w_headers: list[tuple[bytes, bytes]] = []
        self._w_body: list[bytes] = []

    def _fail(self, reason: str) -> int:
        self._state = _ERROR
        self.error = reason
        self._buf.clear()
        return -1

    def _complete(self, close_delimited: bool) -> None:
        self._state = _IDLE
        self._status = self._w_status
        self._nbytes = self._w_nbytes
        self._retry_after = self._w_retry_after
        self._keep_alive = (
            not close_delimited
            and not self._conn_close
            and (self._minor >= 1 or self._conn_ka)
            and not (self._te_seen and self._cl_seen)
        )
        if self._keep_body:
            self._headers = self._w_headers
            self._body = b"".join(self._w_body)

    def _run(self) -> tuple[int, int]:
        """Parse the buffer from the current state: (rc, bytes consumed)."""
        buf = self._buf
        n = len(buf)
        pos = 0
        while True:
            avail = n - pos
            st = self._state
            if st in (_HEAD, _CHUNK_SIZE, _TRAILER):
                if st == _HEAD and self._status_line:
                    k = min(avail, len(_PREFIX))
                    if buf[pos:pos + k] != _PREFIX[:k]:
                        return self._fail("invalid status line"), 0
                lf = buf.find(b"\n", pos)
                if lf < 0:
                    if self._section + avail > self._max_head:
                        return self._fail(_TOO_LARGE[st]), 0
                    return 0, pos
                size = lf + 1 - pos
                if self._section + size > self._max_head:
                    return self._fail(_TOO_LARGE[st]), 0
                if size < 2 or buf[lf - 1] != 0x0D:
                    return self._fail("invalid line ending"), 0
                self._section += size
                self._w_nbytes += size
                line = bytes(buf[pos:lf - 1])
                if st == _HEAD:
                    ok = self._head_line(line)
                elif st == _CHUNK_SIZE:
                    ok = self._chunk_line(line)
                else:
                    ok = self._trailer_line(line)
                if not ok:
                    return -1, 0
                pos += size
            elif st in (_BODY_CL, _CHUNK_DATA):
                if avail == 0:
                    return 0, pos
                take = min(avail, self._remaining)
                if self._keep_body:
                    self._w_body.append(bytes(buf[pos:pos + take]))
                pos += take
                self._remaining -= take
                self._w_nbytes += take
                if self._remaining == 0:
                    if st == _BODY_CL:
                        self._complete(close_delimited=False)
                    else:
                        self._state = _CHUNK_CRLF
                        self._crlf = 0
            elif st == _CHUNK_CRLF:
                if avail == 0:
                    return 0, pos
                if buf[pos] != (0x0D if self._crlf == 0 else 0x0A):
                    return self._fail("missing CRLF after chunk data"), 0
                pos += 1
                self._w_nbytes += 1
                self._crlf += 1
                if self._crlf == 2:
                    self._state = _CHUNK_SIZE
                    self._section = 0
            elif st == _BODY_CLOSE:
                if avail:
                    if self._keep_body:
                        self._w_body.append(bytes(buf[pos:]))
                    self._w_nbytes += avail
                return 0, n
            else:  # _IDLE after a completed response: the rest stays buffered
                return 1, pos

    def _head_line(self, line: bytes) -> bool:
        if self._status_line:
            return self._status_line_parsed(line)
        if not line:
            self._end_of_head()
            return True
        return self._header(line)

    def _status_line_parsed(self, line: bytes) -> bool:
        m = _STATUS_RE.fullmatch(line)
        if m is None:
            self._fail("invalid status line")
            return False
        status = int(m.group(2))
        if status == 101:
            self._fail("unexpected 101 Switching Protocols")
            return False
        self._w_status = status
        self._minor = int(m.group(1))
        self._status_line = False
        self._cl_seen = self._te_seen = self._te_chunked = False
        self._conn_close = self._conn_ka = False
        self._w_retry_after = False
        return True

    def _header(self, line: bytes) -> bool:
        m = _HEADER_RE.fullmatch(line)
        if m is None:
            self._fail("invalid header line")
            return False
        name = m.group(1).lower()
        value = m.group(2).strip(_OWS)
        if name == b"content-length":
            # length first: int() refuses strings over 4300 digits
            if _DIGITS_RE.fullmatch(value) is None or len(value.lstrip(b"0")) > _CL_DIGITS:
                self._fail("invalid content-length")
                return False
            cl = int(value)
            if self._cl_seen and cl != self._cl:
                self._fail("conflicting content-length")
                return False
            self._cl_seen = True
            self._cl = cl
        elif name == b"connection":
            for token in value.split(b","):
                token = token.strip(_OWS).lower()
                if token == b"close":
                    self._conn_close = True
                elif token == b"keep-alive":
                    self._conn_ka = True
        elif name == b"retry-after":
            self._w_retry_after = True
        elif name == b"transfer-encoding":
            self._te_seen = True
            codings = value.rstrip(b" \t,")
            if codings:
                last = codings.rsplit(b",", 1)[-1].strip(_OWS)
                self._te_chunked = last.lower() == b"chunked"
        if self._keep_body and not 100 <= self._w_status < 200:
            self._w_headers.append((name, value))
        return True

    def _end_of_head(self) -> None:
        status = self._w_status
        if status < 200:  # 1xx (101 was refused at its status line): skip it
            self._status_line = True
            self._section = 0
            self._w_headers = []
        elif self._head_req or status in (204, 304):
            self._complete(close_delimited=False)
        elif self._te_seen:
            if self._te_chunked:
                self._state = _CHUNK_SIZE
                self._section = 0
            else:
                self._state = _BODY_CLOSE
        elif self._cl_seen:
            if self._cl == 0:
                self._complete(close_delimited=False)
            else:
                self._state = _BODY_CL
                self._remaining = self._cl
        else:
            self._state = _BODY_CLOSE

    def _chunk_line(self, line: bytes) -> bool:
        m = _CHUNK_RE.fullmatch(line)
        if m is None or int(m.group(1), 16) >= _CHUNK_LIMIT:
            self._fail("invalid chunk size")
            return False
        size = int(m.group(1), 16)
        if size == 0:
            self._state = _TRAILER
            self._section = 0
        else:
            self._state = _CHUNK_DATA
            self._remaining = size
        return True

    def _trailer_line(self, line: bytes) -> bool:
        if not line:
            self._complete(close_delimited=False)
            return True
        if _HEADER_RE.fullmatch(line) is None:
            self._fail("invalid trailer line")
            return False
        return True
