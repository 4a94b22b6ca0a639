"""Recorder: writes one worker's measurements into its shared-memory block.

This is the pure-Python reference of the compiled `driver._recorder.Recorder`: same
API, same behaviour, same exceptions; the tests run one body over both. Import
`Recorder` from `driver._speedups`, which picks the compiled one when built.

The block is a 1-D C-contiguous writable int64 array of exactly
`BlockLayout(n_endpoints).length` slots, initialised by `BlockLayout.initialise`
(zeros, and C_LAT_MIN_NS = LAT_MIN_UNSET). The recorder never writes outside it:
every endpoint, histogram, counter and status index is checked (IndexError).
One recorder per block, in the one process that owns the block.

Arguments convert as the compiled signature's C integers do: endpoint, hist,
counter, slot and status are C ints (OverflowError past 32 bits), values, counts
and bytes are int64 (OverflowError past 64 bits); objects that are not ints go
through __int__, so floats truncate toward zero; anything else is a TypeError.

Units: every *_ns argument is nanoseconds on the monotonic clock (`now_ns`).
"""
from __future__ import annotations

import operator
import time

import numpy as np

from driver import histogram
from driver.layout import (
    C_BYTES_IN,
    C_CLAMPED,
    C_ERR_PROTOCOL,
    C_LAT_MAX_NS,
    C_LAT_MIN_NS,
    C_LAT_SUM_NS,
    C_REQUESTS,
    C_STATUS_1XX,
    COUNTS_LEN,
    H_LATENCY,
    H_SERVICE,
    HIGHEST_NS,
    N_COUNTERS,
    N_HISTS,
    STATUS_LEN,
    BlockLayout,
)

__all__ = ["Recorder", "now_ns"]

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC, ns: the clock of every *_ns value


def _int(value, bits: int) -> int:
    # Mirrors how Cython converts an argument to a C integer: ints as they are,
    # other objects through __int__ (so floats truncate toward zero, as in the
    # compiled core), TypeError without one, OverflowError outside a signed
    # `bits`-bit integer.
    if not isinstance(value, int):
        to_int = getattr(type(value), "__int__", None)
        if to_int is None:
            raise TypeError(f"an integer is required, not {type(value).__name__}")
        value = to_int(value)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise OverflowError(f"{value} does not fit in int{bits}")
    return value


def _int32(value) -> int:  # the compiled `int` arguments: endpoint, hist, counter, slot, status
    return _int(value, 32)


def _int64(value) -> int:  # the compiled `int64_t` arguments: values, counts, bytes
    return _int(value, 64)


def _add(block: np.ndarray, i: int, n: int) -> None:
    # block[i] += n, wrapping at 2**64 as the compiled c_add does (and without
    # numpy's overflow warning). Only sums of ns or bytes could ever get there.
    total = (int(block[i]) + n) & 0xFFFF_FFFF_FFFF_FFFF
    block[i] = total - (1 << 64) if total >= 1 << 63 else total


def _int64_vector(values) -> np.ndarray:
    # Mirrors the compiled `const int64_t[::1]` argument: a buffer of int64.
    if not isinstance(values, np.ndarray):
        values = np.asarray(memoryview(values))  # TypeError when not a buffer
    if values.dtype != np.int64 or values.ndim != 1 or not values.flags.c_contiguous:
        raise ValueError("values must be a 1-D C-contiguous int64 array")
    return values


def check_block(block, n_endpoints: int) -> BlockLayout:
    """The layout of `block`, after checking it is what the recorder may write.

    Raises ValueError (or TypeError) when it is not a writable 1-D C-contiguous
    int64 array of exactly BlockLayout(n_endpoints).length slots.
    """
    n_endpoints = operator.index(n_endpoints)
    if n_endpoints < 1:
        raise ValueError(f"n_endpoints must be >= 1, not {n_endpoints}")
    if not isinstance(block, np.ndarray):
        raise TypeError(f"block must be a numpy array, not {type(block).__name__}")
    layout = BlockLayout(n_endpoints)
    if block.dtype != np.int64 or block.ndim != 1 or not block.flags.c_contiguous:
        raise ValueError("block must be a 1-D C-contiguous int64 array")
    if not block.flags.writeable:
        raise ValueError("block must be writable")
    if block.shape[0] != layout.length:
        raise ValueError(f"block has {block.shape[0]} slots; {n_endpoints} endpoints need {layout.length}")
    return layout


class Recorder:
    """Increments counters, histograms and status slots of one worker block."""

    def __init__(self, block, n_endpoints):
        layout = check_block(block, n_endpoints)
        self._block = block
        self._n = layout.n_endpoints
        self._counters_offset = layout.counters_offset
        self._hists_offset = layout.hists_offset

    @property
    def block(self):
        """The int64 array this recorder writes (None after close)."""
        return self._block

    @property
    def n_endpoints(self) -> int:
        return self._n

    def close(self) -> None:
        """Drop the reference to the block (so shared memory can be closed);
        every later write raises IndexError."""
        self._block = None
        self._n = 0

    def __reduce__(self):
        # Pickling would copy the block and write to the copy: a recorder is made
        # in the process that owns the block, from the attached shared memory.
        raise TypeError("a Recorder cannot be pickled: create it in the worker from its attached block")

    # -- index checks: every write goes through one of these
    def _counter(self, endpoint: int, counter: int) -> int:
        endpoint, counter = _int32(endpoint), _int32(counter)
        if not 0 <= endpoint < self._n:
            raise IndexError(f"endpoint {endpoint} outside 0..{self._n - 1}")
        if not 0 <= counter < N_COUNTERS:
            raise IndexError(f"counter {counter} outside 0..{N_COUNTERS - 1}")
        return self._counters_offset + endpoint * N_COUNTERS + counter

    def _hist(self, endpoint: int, hist: int) -> np.ndarray:
        endpoint, hist = _int32(endpoint), _int32(hist)
        if not 0 <= endpoint < self._n:
            raise IndexError(f"endpoint {endpoint} outside 0..{self._n - 1}")
        if not 0 <= hist < N_HISTS:
            raise IndexError(f"hist {hist} outside 0..{N_HISTS - 1}")
        start = self._hists_offset + (endpoint * N_HISTS + hist) * COUNTS_LEN
        return self._block[start:start + COUNTS_LEN]

    def _slot(self, slot: int) -> int:
        slot = _int32(slot)
        if not 0 <= slot < STATUS_LEN or self._block is None:
            raise IndexError(f"status slot {slot} outside 0..{STATUS_LEN - 1}")
        return slot

    def _record(self, endpoint: int, counts: np.ndarray, value: int) -> None:
        if histogram.record(counts, value):
            self._block[self._counter(endpoint, C_CLAMPED)] += 1

    # -- the API
    def record(self, endpoint, hist, value_ns):
        """Record one value (ns) in histogram `hist` of `endpoint`.

        Negative values record as 0; above HIGHEST_NS record as HIGHEST_NS and
        count C_CLAMPED.
        """
        endpoint, hist, value_ns = _int32(endpoint), _int32(hist), _int64(value_ns)
        self._record(endpoint, self._hist(endpoint, hist), value_ns)

    def record_array(self, endpoint, hist, values):
        """Record every value (ns) of a 1-D C-contiguous int64 array, as `record` each."""
        endpoint, hist = _int32(endpoint), _int32(hist)
        values = _int64_vector(values)
        counts = self._hist(endpoint, hist)
        clamped = int(np.count_nonzero(values > HIGHEST_NS))
        v = np.clip(values, 0, HIGHEST_NS)
        counts += np.bincount(histogram.counts_indexes(v), minlength=COUNTS_LEN).astype(np.int64)
        if clamped:
            self._block[self._counter(endpoint, C_CLAMPED)] += clamped

    def response(self, endpoint, status, nbytes, latency_ns, service_ns=-1):
        """Count one complete response of `endpoint`.

        status: HTTP status; 100..599 counts its class, anything else counts
        C_ERR_PROTOCOL. nbytes: response bytes (>= 0). latency_ns: the reported
        latency, recorded in H_LATENCY and summed/min/maxed in the counters
        (negative counts as 0; min/max keep values above HIGHEST_NS exact).
        service_ns: recorded in H_SERVICE when >= 0 (open loop), else ignored.
        """
        endpoint, status, nbytes = _int32(endpoint), _int32(status), _int64(nbytes)
        latency_ns, service_ns = _int64(latency_ns), _int64(service_ns)
        base = self._counter(endpoint, 0)
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, not {nbytes}")
        block = self._block
        block[base + C_REQUESTS] += 1
        _add(block, base + C_BYTES_IN, nbytes)
        if 100 <= status < 600:
            block[base + C_STATUS_1XX + status // 100 - 1] += 1
        else:
            block[base + C_ERR_PROTOCOL] += 1
        if latency_ns < 0:
            latency_ns = 0
        _add(block, base + C_LAT_SUM_NS, latency_ns)
        if latency_ns < block[base + C_LAT_MIN_NS]:
            block[base + C_LAT_MIN_NS] = latency_ns
        if latency_ns > block[base + C_LAT_MAX_NS]:
            block[base + C_LAT_MAX_NS] = latency_ns
        self._record(endpoint, self._hist(endpoint, H_LATENCY), latency_ns)
        if service_ns >= 0:
            self._record(endpoint, self._hist(endpoint, H_SERVICE), service_ns)

    def count(self, endpoint, counter, n=1):
        """counters[endpoint, counter] += n (n >= 0: counters only grow)."""
        endpoint, counter, n = _int32(endpoint), _int32(counter), _int64(n)
        i = self._counter(endpoint, counter)
        if n < 0:
            raise ValueError(f"counters only grow: n must be >= 0, not {n}")
        _add(self._block, i, n)

    def set_status(self, slot, value):
        """status[slot] = value."""
        slot, value = _int32(slot), _int64(value)
        self._block[self._slot(slot)] = value

    def add_status(self, slot, n=1):
        """status[slot] += n (n may be negative: users, in-flight, connections)."""
        slot, n = _int32(slot), _int64(n)
        _add(self._block, self._slot(slot), n)

    def max_status(self, slot, value):
        """status[slot] = max(status[slot], value)."""
        slot, value = _int32(slot), _int64(value)
        i = self._slot(slot)
        if value > self._block[i]:
            self._block[i] = value
