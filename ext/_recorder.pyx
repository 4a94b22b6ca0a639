# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""driver._recorder: the compiled recorder and clock.

Same API and behaviour as the pure-Python reference in driver/recorder.py (the
tests run one body over both). Import them through driver._speedups.

Safety without bounds checks: every public method checks its endpoint, hist,
counter or slot index against the block's layout (one unsigned compare each) and
raises IndexError, and c_record clamps values into the histogram, so nothing is
ever written outside the block. Units: ns on CLOCK_MONOTONIC.
"""
cimport cython
from libc.stdint cimport int64_t

# ext/_recorder.pxd is header-only (constants and cdef inline functions). Built as
# driver._recorder, Cython would look for driver/_recorder.pxd, so cimport it by name.
from _recorder cimport *

from driver import layout as _layout
from driver.recorder import check_block as _check_block

__all__ = ["Recorder", "now_ns"]


def _check_layout():
    # The constants in _recorder.pxd are compiled in; a changed layout.py must not
    # silently disagree with them.
    expected = {
        "UNIT_MAGNITUDE": UNIT_MAGNITUDE,
        "SUB_BUCKET_HALF_COUNT_MAGNITUDE": SUB_BUCKET_HALF_COUNT_MAGNITUDE,
        "SUB_BUCKET_HALF_COUNT": SUB_BUCKET_HALF_COUNT,
        "SUB_BUCKET_MASK": SUB_BUCKET_MASK,
        "LEADING_ZERO_COUNT_BASE": LEADING_ZERO_COUNT_BASE,
        "COUNTS_LEN": COUNTS_LEN,
        "HIGHEST_NS": HIGHEST_NS,
        "LAT_MIN_UNSET": LAT_MIN_UNSET,
        "STATUS_LEN": STATUS_LEN,
        "N_COUNTERS": N_COUNTERS,
        "N_HISTS": N_HISTS,
        "H_LATENCY": H_LATENCY,
        "H_SERVICE": H_SERVICE,
        "C_REQUESTS": C_REQUESTS,
        "C_BYTES_IN": C_BYTES_IN,
        "C_STATUS_1XX": C_STATUS_1XX,
        "C_ERR_PROTOCOL": C_ERR_PROTOCOL,
        "C_LAT_SUM_NS": C_LAT_SUM_NS,
        "C_LAT_MIN_NS": C_LAT_MIN_NS,
        "C_LAT_MAX_NS": C_LAT_MAX_NS,
        "C_CLAMPED": C_CLAMPED,
    }
    wrong = [f"{k}={v} (layout.py: {getattr(_layout, k)})"
             for k, v in expected.items() if getattr(_layout, k) != v]
    if _layout.C_STATUS_5XX != C_STATUS_1XX + 4:
        wrong.append("C_STATUS_1XX..C_STATUS_5XX not consecutive")
    if wrong:
        raise ImportError("driver._recorder was built for another layout: " + ", ".join(wrong))


_check_layout()


def now_ns():
    """CLOCK_MONOTONIC in ns (the clock of time.monotonic_ns)."""
    return c_now_ns()


cdef int _index_error(str what, Py_ssize_t value, Py_ssize_t limit) except -1:
    raise IndexError(f"{what} {value} outside 0..{limit - 1}")


@cython.final
cdef class Recorder:
    """Increments counters, histograms and status slots of one worker block.

    block: writable 1-D C-contiguous int64 array of exactly
    BlockLayout(n_endpoints).length slots, initialised by BlockLayout.initialise.
    The recorder keeps a reference (and a buffer export) until close().
    """

    cdef object _block          # the array: keeps the memory alive
    cdef int64_t[::1] _view     # the buffer export behind the pointers below
    cdef int64_t* _status       # STATUS_LEN slots
    cdef int64_t* _counters     # [n_endpoints][N_COUNTERS]
    cdef int64_t* _hists        # [n_endpoints][N_HISTS][COUNTS_LEN]
    cdef int _n                 # endpoints; 0 after close, so every check fails
    cdef int _n_status          # STATUS_LEN; 0 after close

    def __init__(self, block, n_endpoints):
        layout = _check_block(block, n_endpoints)
        self._view = block
        self._block = block
        self._status = &self._view[0]
        self._counters = self._status + <Py_ssize_t>layout.counters_offset
        self._hists = self._status + <Py_ssize_t>layout.hists_offset
        self._n = layout.n_endpoints
        self._n_status = STATUS_LEN

    @property
    def block(self):
        """The int64 array this recorder writes (None after close)."""
        return self._block

    @property
    def n_endpoints(self):
        return self._n

    def close(self):
        """Drop the block and its buffer export (so shared memory can be
        closed); every later write raises IndexError."""
        self._n = 0
        self._n_status = 0
        self._status = self._counters = self._hists = NULL
        self._view = None
        self._block = None

    def __reduce__(self):
        # Pickling would copy the block and write to the copy: a recorder is made
        # in the process that owns the block, from the attached shared memory.
        raise TypeError("a Recorder cannot be pickled: create it in the worker from its attached block")

    cdef inline int64_t* _hist(self, int endpoint, int hist) except NULL:
        if <unsigned int>endpoint >= <unsigned int>self._n:
            _index_error("endpoint", endpoint, self._n)
        if <unsigned int>hist >= <unsigned int>N_HISTS:
            _index_error("hist", hist, N_HISTS)
        return self._hists + (<Py_ssize_t>endpoint * N_HISTS + hist) * COUNTS_LEN

    def record(self, int endpoint, int hist, int64_t value_ns):
        """Record one value (ns) in histogram `hist` of `endpoint`.

        Negative values record as 0; above HIGHEST_NS record as HIGHEST_NS and
        count C_CLAMPED.
        """
        cdef int64_t* counts = self._hist(endpoint, hist)
        c_record(counts, self._counters + <Py_ssize_t>endpoint * N_COUNTERS, value_ns)

    def record_array(self, int endpoint, int hist, const int64_t[::1] values not None):
        """Record every value (ns) of a 1-D C-contiguous int64 array, as `record` each."""
        cdef int64_t* counts = self._hist(endpoint, hist)
        cdef int64_t* counters = self._counters + <Py_ssize_t>endpoint * N_COUNTERS
        cdef Py_ssize_t i
        with nogil:  # the block has one writer (this process); values is read-only here
            for i in range(values.shape[0]):
                c_record(counts, counters, values[i])

    def response(self, int endpoint, int status, int64_t nbytes, int64_t latency_ns,
                 int64_t service_ns=-1):
        """Count one complete response of `endpoint`.

        status: HTTP status; 100..599 counts its class, anything else counts
        C_ERR_PROTOCOL. nbytes: response bytes (>= 0). latency_ns: the reported
        latency, recorded in H_LATENCY and summed/min/maxed in the counters
        (negative counts as 0; min/max keep values above HIGHEST_NS exact).
        service_ns: recorded in H_SERVICE when >= 0 (open loop), else ignored.
        """
        cdef int64_t* latency = self._hist(endpoint, H_LATENCY)
        cdef int64_t* c = self._counters + <Py_ssize_t>endpoint * N_COUNTERS
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, not {nbytes}")
        c[C_REQUESTS] += 1
        c_add(&c[C_BYTES_IN], nbytes)
        if 100 <= status < 600:
            c[C_STATUS_1XX + status // 100 - 1] += 1
        else:
            c[C_ERR_PROTOCOL] += 1
        if latency_ns < 0:
            latency_ns = 0
        c_add(&c[C_LAT_SUM_NS], latency_ns)
        if latency_ns < c[C_LAT_MIN_NS]:
            c[C_LAT_MIN_NS] = latency_ns
        if latency_ns > c[C_LAT_MAX_NS]:
            c[C_LAT_MAX_NS] = latency_ns
        c_record(latency, c, latency_ns)
        if service_ns >= 0:
            c_record(latency + (H_SERVICE - H_LATENCY) * COUNTS_LEN, c, service_ns)

    def count(self, int endpoint, int counter, int64_t n=1):
        """counters[endpoint, counter] += n (n >= 0: counters only grow)."""
        if <unsigned int>endpoint >= <unsigned int>self._n:
            _index_error("endpoint", endpoint, self._n)
        if <unsigned int>counter >= <unsigned int>N_COUNTERS:
            _index_error("counter", counter, N_COUNTERS)
        if n < 0:
            raise ValueError(f"counters only grow: n must be >= 0, not {n}")
        c_add(&self._counters[<Py_ssize_t>endpoint * N_COUNTERS + counter], n)

    def set_status(self, int slot, int64_t value):
        """status[slot] = value."""
        if <unsigned int>slot >= <unsigned int>self._n_status:
            _index_error("status slot", slot, STATUS_LEN)
        self._status[slot] = value

    def add_status(self, int slot, int64_t n=1):
        """status[slot] += n (n may be negative: users, in-flight, connections)."""
        if <unsigned int>slot >= <unsigned int>self._n_status:
            _index_error("status slot", slot, STATUS_LEN)
        c_add(&self._status[slot], n)

    def max_status(self, int slot, int64_t value):
        """status[slot] = max(status[slot], value)."""
        if <unsigned int>slot >= <unsigned int>self._n_status:
            _index_error("status slot", slot, STATUS_LEN)
        if value > self._status[slot]:
            self._status[slot] = value
