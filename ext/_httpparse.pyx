# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""HTTP/1.1 response framing for the fast client: `driver._httpparse.ResponseParser`.

The pure-Python reference with the same API and the same result on every input is
`driver.httpparse`; its module docstring is the specification (grammar, limits,
error reasons, when each error fires). This file follows it state for state.

Speed: bytes are parsed in place with pointer arithmetic. A response that arrives
whole in one `feed()` is one pass over the head (memchr per line, then one scan of
the line) and allocates no Python object unless keep_body is on. Only a response
split across feeds copies bytes, and then only the unfinished line (head, chunk-size
or trailer line) or the bytes after a complete response: body bytes are counted,
never buffered.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcmp, memcpy, memmove

ctypedef unsigned char uchar

cdef enum:
    S_IDLE = 0        # no request in flight; bytes here are unsolicited
    S_HEAD = 1        # status line / header lines (also of skipped 1xx heads)
    S_BODY_CL = 2     # Content-Length body: _remaining bytes to go
    S_BODY_CLOSE = 3  # body delimited by connection close
    S_CHUNK_SIZE = 4  # chunk-size line
    S_CHUNK_DATA = 5  # chunk data: _remaining bytes to go
    S_CHUNK_CRLF = 6  # the CRLF after chunk data: _crlf of 2 bytes seen
    S_TRAILER = 7     # trailer lines up to the empty line
    S_ERROR = 8       # until reset()

cdef enum:
    C_TCHAR = 1  # token character (header names)
    C_VCHAR = 2  # field-vchar / obs-text / SP / HTAB (values, reasons, chunk-ext)
    C_HEX = 4

# Content-Length must be < 10**18 and a chunk size < 2**60: checking the value
# before each multiply keeps the arithmetic inside int64 (see driver.httpparse).
cdef long long _CL_STEP_MAX = 100000000000000000  # 10**17
cdef long long _CHUNK_STEP_MAX = 1LL << 56
cdef Py_ssize_t _MIN_MAX_HEAD = 16

cdef uchar _CLS[256]


cdef void _init_classes() noexcept:
    cdef int c
    cdef bytes extra = b"!#$%&'*+-.^_`|~"
    for c in range(256):
        _CLS[c] = 0
        if c == 9 or 32 <= c <= 126 or c >= 128:
            _CLS[c] |= C_VCHAR
        if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122:
            _CLS[c] |= C_TCHAR
        if 48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102:
            _CLS[c] |= C_HEX
    for c in extra:
        _CLS[c] |= C_TCHAR


_init_classes()


cdef inline bint _ows(uchar c) noexcept nogil:
    return c == 32 or c == 9


cdef inline bint _ieq(const uchar* s, const char* lit, Py_ssize_t n) noexcept nogil:
    # ASCII case-insensitive compare with a lowercase literal of letters and '-';
    # safe because the only other byte that maps onto one with |0x20 is CR (0x0d ->
    # '-'), and CR never reaches here (rejected by the line checks).
    cdef Py_ssize_t i
    for i in range(n):
        if (s[i] | 0x20) != <uchar>lit[i]:
            return False
    return True


cdef inline bint _vchars(const uchar* s, Py_ssize_t n) noexcept nogil:
    """All of s[0:n] are HTAB, SP, VCHAR or obs-text (no CTL but HTAB, no DEL).

    Eight bytes at a time: a word with no byte < 0x20 and no 0x7f is clean (the
    classic exact "has byte less than" / "has zero byte" tests); a word that may
    hold one (a TAB, say) is checked byte by byte."""
    cdef uint64_t w, d
    cdef Py_ssize_t i = 0, j
    while i + 8 <= n:
        memcpy(&w, s + i, 8)
        d = w ^ 0x7f7f7f7f7f7f7f7fULL
        if (((w - 0x2020202020202020ULL) & ~w) | ((d - 0x0101010101010101ULL) & ~d)) & 0x8080808080808080ULL:
            for j in range(i, i + 8):
                if not (_CLS[s[j]] & C_VCHAR):
                    return False
        i += 8
    while i < n:
        if not (_CLS[s[i]] & C_VCHAR):
            return False
        i += 1
    return True


cdef inline Py_ssize_t _header_span(const uchar* s, Py_ssize_t L, Py_ssize_t* vs, Py_ssize_t* ve) noexcept nogil:
    """name ':' OWS value OWS. Returns the name length (0: invalid line);
    vs/ve: the value without surrounding OWS."""
    cdef Py_ssize_t i = 0, e, name_len
    while i < L and (_CLS[s[i]] & C_TCHAR):
        i += 1
    if i == 0 or i == L or s[i] != 58:  # ':'
        return 0
    name_len = i
    i += 1
    while i < L and _ows(s[i]):
        i += 1
    if not _vchars(s + i, L - i):
        return 0
    vs[0] = i
    e = L
    while e > i and _ows(s[e - 1]):
        e -= 1
    ve[0] = e
    return name_len


cdef inline int _hexval(uchar c) noexcept nogil:
    if c <= 57:
        return c - 48
    return (c | 0x20) - 87


cdef class ResponseParser:
    """Frames one HTTP/1.1 response per `start()`; see driver.httpparse for the spec."""

    cdef:
        bint _keep_body
        Py_ssize_t _max_head
        int _state
        # unconsumed bytes: an unfinished line, or what followed a complete response
        uchar* _buf
        Py_ssize_t _buf_len
        Py_ssize_t _buf_cap
        Py_ssize_t _scan        # bytes of the buffered unfinished line known to hold no LF
        # the response being parsed
        bint _head_req
        bint _status_line       # the next line in S_HEAD is a status line
        int _w_status
        int _minor
        bint _cl_seen
        bint _te_seen
        bint _te_chunked
        bint _conn_close
        bint _conn_ka
        bint _w_retry_after     # the response carries a Retry-After header
        long long _cl
        long long _remaining
        long long _w_nbytes
        Py_ssize_t _section     # bytes of the current limited section (head, chunk line, trailers)
        int _crlf
        list _w_headers
        list _w_body
        # the last complete response
        list _headers
        bytes _body
        readonly int status
        readonly long long nbytes
        readonly bint keep_alive
        readonly bint retry_after
        readonly object error

    def __cinit__(self):
        self._buf = NULL
        self._buf_len = 0
        self._buf_cap = 0

    def __dealloc__(self):
        free(self._buf)
        self._buf = NULL

    def __init__(self, bint keep_body=False, Py_ssize_t max_head=65536):
        if max_head < _MIN_MAX_HEAD:
            raise ValueError(f"max_head must be at least {_MIN_MAX_HEAD}, got {max_head}")
        self._keep_body = keep_body
        self._max_head = max_head
        self.reset()

    # --- public API -------------------------------------------------------------

    def reset(self):
        """Forget everything (buffer and error included): a fresh connection."""
        self._state = S_IDLE
        self._buf_len = 0
        self._scan = 0
        self.error = None
        self._clear_response()

    def start(self, bint head=False):
        """A request was sent; head=True: it was a HEAD request (no body).

        Buffered bytes are kept and parsed by the next feed() (feed(b"") will do).
        In the error state this does nothing: only reset() leaves it.
        """
        if self._state == S_ERROR:
            return
        self._state = S_HEAD
        self._head_req = head
        self._status_line = True
        self._section = 0
        self._scan = 0
        self._w_nbytes = 0
        self._w_status = 0
        self._clear_response()

    def feed(self, bytes data not None):
        """0: need more; 1: a response is complete; -1: protocol error (see error)."""
        return self._feed(<const uchar*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))

    def feed_eof(self):
        """The peer closed. 1: that completed a close-delimited response; 0: no
        response in progress and none of one arrived; -1: a response was cut short."""
        cdef int rc
        if self._state == S_ERROR:
            return -1
        if self._state == S_IDLE:
            return 0
        rc = self._feed(NULL, 0)  # parse what start() left buffered
        if rc != 0:
            return rc
        if self._state == S_BODY_CLOSE:
            self._complete(True)
            return 1
        if self._state == S_HEAD and self._w_nbytes == 0 and self._buf_len == 0:
            return 0
        return self._fail("connection closed before the response was complete")

    @property
    def headers(self):
        """[(lowercased name, value)] of the last complete response (keep_body only)."""
        return self._headers if self._keep_body else []

    @property
    def body(self):
        """De-chunked body of the last complete response (keep_body only)."""
        return self._body

    @property
    def pending(self):
        """True while unconsumed bytes are buffered."""
        return self._buf_len > 0

    # --- internals --------------------------------------------------------------

    cdef void _clear_response(self):
        self.status = 0
        self.nbytes = 0
        self.keep_alive = False
        self.retry_after = False
        self._body = b""
        if self._keep_body:
            self._headers = []
            self._w_headers = []
            self._w_body = []

    cdef int _fail(self, str reason) except -2:
        self._state = S_ERROR
        self.error = reason
        self._buf_len = 0
        self._scan = 0
        return -1

    cdef int _append(self, const uchar* data, Py_ssize_t n) except -1:
        cdef Py_ssize_t need = self._buf_len + n
        cdef Py_ssize_t cap
        cdef uchar* nb
        if need > self._buf_cap:
            cap = self._buf_cap * 2
            if cap < need:
                cap = need
            if cap < 256:
                cap = 256
            nb = <uchar*>realloc(self._buf, cap)
            if nb == NULL:
                raise MemoryError()
            self._buf = nb
            self._buf_cap = cap
        memcpy(self._buf + self._buf_len, data, n)
        self._buf_len = need
        return 0

    cdef int _feed(self, const uchar* data, Py_ssize_t n) except -2:
        cdef Py_ssize_t consumed = 0
        cdef int rc
        if self._state == S_ERROR:
            return -1
        if self._state == S_IDLE:
            if n == 0:
                return 0
            return self._fail("unsolicited data")
        if self._buf_len == 0:
            if n == 0:
                return 0  # no state completes on zero new bytes
            # common case: parse the caller's bytes in place, keep only the rest
            rc = self._run(data, n, &consumed)
            if rc >= 0 and consumed < n:
                self._append(data + consumed, n - consumed)
        else:
            if n > 0:
                self._append(data, n)
            rc = self._run(self._buf, self._buf_len, &consumed)
            if rc >= 0 and consumed > 0:
                self._buf_len -= consumed
                memmove(self._buf, self._buf + consumed, self._buf_len)
        return rc

    cdef void _complete(self, bint close_delimited):
        self._state = S_IDLE
        self.status = self._w_status
        self.nbytes = self._w_nbytes
        self.retry_after = self._w_retry_after
        # Both framings present is a smuggling signature (RFC 9112 6.1): use the
        # response, then close.
        self.keep_alive = (not close_delimited and not self._conn_close
                           and (self._minor >= 1 or self._conn_ka)
                           and not (self._te_seen and self._cl_seen))
        if self._keep_body:
            self._headers = self._w_headers
            self._body = b"".join(self._w_body)

    cdef int _run(self, const uchar* p, Py_ssize_t n, Py_ssize_t* consumed) except -2:
        """Parse p[0:n] from the current state. Returns -1/0/1; sets consumed[0]
        (the caller keeps p[consumed:]) unless it returns -1."""
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t avail, take, L, k
        cdef const uchar* q
        cdef int st, r
        cdef uchar c
        while True:
            avail = n - pos
            st = self._state
            if st == S_HEAD or st == S_CHUNK_SIZE or st == S_TRAILER:
                if st == S_HEAD and self._status_line:
                    # early reject of non-HTTP peers (SSH banners, requests, JSON)
                    k = avail if avail < 7 else 7
                    if memcmp(p + pos, b"HTTP/1.", k) != 0:
                        return self._fail("invalid status line")
                q = <const uchar*>memchr(p + pos + self._scan, 10, avail - self._scan)
                if q == NULL:
                    if self._section + avail > self._max_head:
                        return self._fail(self._too_large(st))
                    self._scan = avail
                    consumed[0] = pos
                    return 0
                self._scan = 0
                L = (q - (p + pos)) + 1
                if self._section + L > self._max_head:
                    return self._fail(self._too_large(st))
                if L < 2 or p[pos + L - 2] != 13:
                    return self._fail("invalid line ending")
                self._section += L
                self._w_nbytes += L
                if st == S_HEAD:
                    if self._status_line:
                        r = self._parse_status(p + pos, L - 2)
                    elif L == 2:
                        r = self._end_of_head()
                    else:
                        r = self._parse_header(p + pos, L - 2)
                elif st == S_CHUNK_SIZE:
                    r = self._chunk_line(p + pos, L - 2)
                else:
                    r = self._trailer_line(p + pos, L - 2)
                if r < 0:
                    return -1
                pos += L
            elif st == S_BODY_CL or st == S_CHUNK_DATA:
                if avail == 0:
                    consumed[0] = pos
                    return 0
                take = avail if avail < self._remaining else self._remaining
                if self._keep_body:
                    self._w_body.append(PyBytes_FromStringAndSize(<const char*>p + pos, take))
                pos += take
                self._remaining -= take
                self._w_nbytes += take
                if self._remaining == 0:
                    if st == S_BODY_CL:
                        self._complete(False)
                    else:
                        self._state = S_CHUNK_CRLF
                        self._crlf = 0
            elif st == S_CHUNK_CRLF:
                if avail == 0:
                    consumed[0] = pos
                    return 0
                c = p[pos]
                if c != (13 if self._crlf == 0 else 10):
                    return self._fail("missing CRLF after chunk data")
                pos += 1
                self._w_nbytes += 1
                self._crlf += 1
                if self._crlf == 2:
                    self._state = S_CHUNK_SIZE
                    self._section = 0
            elif st == S_BODY_CLOSE:
                if avail > 0:
                    if self._keep_body:
                        self._w_body.append(PyBytes_FromStringAndSize(<const char*>p + pos, avail))
                    self._w_nbytes += avail
                consumed[0] = n
                return 0
            else:  # S_IDLE after a completed response: the rest stays buffered
                consumed[0] = pos
                return 1

    cdef str _too_large(self, int st):
        if st == S_HEAD:
            return "response head too large"
        if st == S_CHUNK_SIZE:
            return "chunk size line too long"
        return "trailer section too large"

    cdef int _parse_status(self, const uchar* s, Py_ssize_t L) except -2:
        # HTTP/1.<d> SP <3 digits> [SP reason]
        cdef int status
        if (L < 12 or memcmp(s, b"HTTP/1.", 7) != 0
                or s[7] < 48 or s[7] > 57 or s[8] != 32
                or s[9] < 49 or s[9] > 57 or s[10] < 48 or s[10] > 57
                or s[11] < 48 or s[11] > 57):
            return self._fail("invalid status line")
        if L > 12 and (s[12] != 32 or not _vchars(s + 13, L - 13)):
            return self._fail("invalid status line")
        status = (s[9] - 48) * 100 + (s[10] - 48) * 10 + (s[11] - 48)
        if status == 101:
            return self._fail("unexpected 101 Switching Protocols")
        self._w_status = status
        self._minor = s[7] - 48
        self._status_line = False
        self._cl_seen = False
        self._te_seen = False
        self._te_chunked = False
        self._w_retry_after = False
        self._conn_close = False
        self._conn_ka = False
        return 0

    cdef int _parse_header(self, const uchar* s, Py_ssize_t L) except -2:
        cdef Py_ssize_t vs = 0, ve = 0, i
        cdef Py_ssize_t name_len = _header_span(s, L, &vs, &ve)
        cdef bytes name
        cdef char* w
        cdef uchar c0
        if name_len == 0:
            return self._fail("invalid header line")
        c0 = s[0] | 0x20
        if name_len == 14 and c0 == 99 and _ieq(s, b"content-length", 14):
            if self._content_length(s + vs, ve - vs) < 0:
                return -1
        elif name_len == 10 and c0 == 99 and _ieq(s, b"connection", 10):
            self._connection(s + vs, ve - vs)
        elif name_len == 17 and c0 == 116 and _ieq(s, b"transfer-encoding", 17):
            self._transfer_encoding(s + vs, ve - vs)
        elif name_len == 11 and c0 == 114 and _ieq(s, b"retry-after", 11):
            self._w_retry_after = True
        if self._keep_body and not (100 <= self._w_status < 200):
            name = PyBytes_FromStringAndSize(NULL, name_len)
            w = PyBytes_AS_STRING(name)
            for i in range(name_len):
                w[i] = s[i] + 32 if 65 <= s[i] <= 90 else s[i]
            self._w_headers.append(
                (name, PyBytes_FromStringAndSize(<const char*>s + vs, ve - vs)))
        return 0

    cdef int _content_length(self, const uchar* v, Py_ssize_t n) except -2:
        cdef long long x = 0
        cdef Py_ssize_t i
        if n == 0:
            return self._fail("invalid content-length")
        for i in range(n):
            if v[i] < 48 or v[i] > 57 or x >= _CL_STEP_MAX:
                return self._fail("invalid content-length")
            x = x * 10 + (v[i] - 48)
        if self._cl_seen and x != self._cl:
            return self._fail("conflicting content-length")
        self._cl_seen = True
        self._cl = x
        return 0

    cdef void _connection(self, const uchar* v, Py_ssize_t n) noexcept:
        # comma-separated tokens; "close" and "keep-alive" matter
        cdef Py_ssize_t i = 0, j, a, b
        while i <= n:
            j = i
            while j < n and v[j] != 44:
                j += 1
            a = i
            b = j
            while a < b and _ows(v[a]):
                a += 1
            while b > a and _ows(v[b - 1]):
                b -= 1
            if b - a == 5 and _ieq(v + a, b"close", 5):
                self._conn_close = True
            elif b - a == 10 and _ieq(v + a, b"keep-alive", 10):
                self._conn_ka = True
            i = j + 1

    cdef void _transfer_encoding(self, const uchar* v, Py_ssize_t n) noexcept:
        # the last transfer-coding decides: chunked, or read until close
        cdef Py_ssize_t e = n, b
        self._te_seen = True
        while e > 0 and (_ows(v[e - 1]) or v[e - 1] == 44):
            e -= 1
        if e == 0:
            return
        b = e
        while b > 0 and v[b - 1] != 44:
            b -= 1
        while b < e and _ows(v[b]):
            b += 1
        self._te_chunked = e - b == 7 and _ieq(v + b, b"chunked", 7)

    cdef int _end_of_head(self) except -2:
        cdef int status = self._w_status
        if status < 200:  # 1xx (101 was refused at its status line): skip it
            self._status_line = True
            self._section = 0
            if self._keep_body:
                self._w_headers = []
            return 0
        if self._head_req or status == 204 or status == 304:
            self._complete(False)
        elif self._te_seen:
            if self._te_chunked:
                self._state = S_CHUNK_SIZE
                self._section = 0
            else:
                self._state = S_BODY_CLOSE
        elif self._cl_seen:
            if self._cl == 0:
                self._complete(False)
            else:
                self._state = S_BODY_CL
                self._remaining = self._cl
        else:
            self._state = S_BODY_CLOSE
        return 0

    cdef int _chunk_line(self, const uchar* s, Py_ssize_t L) except -2:
        # 1*HEXDIG [ *OWS ";" chunk-ext ]
        cdef Py_ssize_t i = 0
        cdef long long x = 0
        while i < L and (_CLS[s[i]] & C_HEX):
            if x >= _CHUNK_STEP_MAX:
                return self._fail("invalid chunk size")
            x = x * 16 + _hexval(s[i])
            i += 1
        if i == 0:
            return self._fail("invalid chunk size")
        if i < L:
            while i < L and _ows(s[i]):
                i += 1
            if i == L or s[i] != 59 or not _vchars(s + i, L - i):  # ';' ext
                return self._fail("invalid chunk size")
        if x == 0:
            self._state = S_TRAILER
            self._section = 0
        else:
            self._state = S_CHUNK_DATA
            self._remaining = x
        return 0

    cdef int _trailer_line(self, const uchar* s, Py_ssize_t L) except -2:
        cdef Py_ssize_t vs = 0, ve = 0
        if L == 0:
            self._complete(False)
            return 0
        if _header_span(s, L, &vs, &ve) == 0:
            return self._fail("invalid trailer line")
        return 0
