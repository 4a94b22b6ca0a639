# C declarations and the inline hot path of the compiled core (driver._recorder).
#
# Header-only on purpose: everything here is a constant or a `cdef inline`
# function, so another .pyx (driver._httpparse) may `from _recorder cimport ...` them and
# get a copy compiled into itself, with no import of driver._recorder at run time.
# (A plain cdef function or a cdef class cimported from a .pxd outside the
# package would need `import _recorder`, which fails: the module is driver._recorder.)
#
# The constants mirror driver/layout.py; _recorder.pyx compares them with it at import
# and refuses to load (ImportError) on any difference.
#
# Units: every value is nanoseconds on CLOCK_MONOTONIC.

from libc.stdint cimport int64_t, uint64_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef extern from *:
    """
    #ifndef DRIVER_CORE_H
    #define DRIVER_CORE_H
    #include <stdint.h>
    #define DRIVER_HIGHEST_NS ((int64_t)3600000000000LL)
    #define DRIVER_LAT_MIN_UNSET ((int64_t)INT64_MAX)
    /* v != 0 here (callers or in SUB_BUCKET_MASK), so the builtin is defined. */
    static inline int driver_clz64(uint64_t v) { return __builtin_clzll(v); }
    #endif
    """
    const int64_t HIGHEST_NS "DRIVER_HIGHEST_NS"
    const int64_t LAT_MIN_UNSET "DRIVER_LAT_MIN_UNSET"
    int driver_clz64(uint64_t v) noexcept nogil

cdef enum:
    # histogram geometry (HdrHistogram: lowest 1 ns, highest 1 h, 3 digits)
    UNIT_MAGNITUDE = 0
    SUB_BUCKET_HALF_COUNT_MAGNITUDE = 10
    SUB_BUCKET_HALF_COUNT = 1024
    SUB_BUCKET_MASK = 2047
    LEADING_ZERO_COUNT_BASE = 53
    COUNTS_LEN = 33792
    # block geometry
    STATUS_LEN = 16
    N_COUNTERS = 32
    N_HISTS = 2
    H_LATENCY = 0
    H_SERVICE = 1
    # counters used by the recorder
    C_REQUESTS = 0
    C_BYTES_IN = 1
    C_STATUS_1XX = 3
    C_ERR_PROTOCOL = 12
    C_LAT_SUM_NS = 14
    C_LAT_MIN_NS = 15
    C_LAT_MAX_NS = 16
    C_CLAMPED = 17


cdef inline void c_add(int64_t* slot, int64_t n) noexcept nogil:
    """slot += n, wrapping at 2**64 like the reference (signed overflow is UB in C).

    Counters that could ever get near 2**63 are sums of ns or bytes (292 years of
    latency, 8 EiB); wrapping keeps both implementations equal and defined there.
    """
    slot[0] = <int64_t>(<uint64_t>slot[0] + <uint64_t>n)


cdef inline int64_t c_now_ns() noexcept nogil:
    """CLOCK_MONOTONIC in ns: the clock of time.monotonic_ns()."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline Py_ssize_t c_counts_index(int64_t v) noexcept nogil:
    """HdrHistogram counts index of v (0 <= v <= HIGHEST_NS): < COUNTS_LEN."""
    cdef int bucket = LEADING_ZERO_COUNT_BASE - driver_clz64(<uint64_t>(v | SUB_BUCKET_MASK))
    cdef Py_ssize_t sub_bucket = <Py_ssize_t>(v >> (bucket + UNIT_MAGNITUDE))
    return ((<Py_ssize_t>bucket + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + (sub_bucket - SUB_BUCKET_HALF_COUNT)


cdef inline void c_record(int64_t* counts, int64_t* counters, int64_t v) noexcept nogil:
    """Record v (ns) in one histogram `counts`; `counters` are its endpoint's.

    Negative records as 0; above HIGHEST_NS records as HIGHEST_NS and counts
    C_CLAMPED, so the index is always inside counts.
    """
    if v > HIGHEST_NS:
        v = HIGHEST_NS
        counters[C_CLAMPED] += 1
    elif v < 0:
        v = 0
    counts[c_counts_index(v)] += 1
