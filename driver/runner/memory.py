"""Memory of this process around an in-process load: RSS and tracemalloc, before, after,
peak and growth, and the allocation sites that grew most.

RSS is the process's resident memory (psutil): what the OS sees, allocator caches and
all. tracemalloc counts the Python objects still allocated, by the line that allocated
them: the precise figure for "did the component keep something per call", and the one
`growth` means when it is on. tracemalloc slows every allocation (about 2-3x for
allocation-heavy code) while it traces: latency figures of a traced run are for
comparisons between traced runs; `trace=False` keeps RSS only.

Both "before" and "after" are read after a full garbage collection, so cycles that
the collector frees do not count as growth.
"""
from __future__ import annotations

import gc
import os
import tracemalloc
from dataclasses import dataclass, field

import psutil

MIB = 2**20
TOP_SITES = 10
_HIDE = (tracemalloc.__file__, "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>",
         "<unknown>")


@dataclass
class Memory:
    """Bytes. `traced_*` are None when tracemalloc was not on; `top` lists the sites that
    grew most during the load (`file:line: +size (+count blocks)`)."""

    rss_before: int = 0
    rss_after: int = 0
    rss_peak: int = 0
    traced_before: int | None = None
    traced_after: int | None = None
    traced_peak: int | None = None
    top: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> int:
        return self.rss_after - self.rss_before

    @property
    def traced_growth(self) -> int | None:
        return None if self.traced_after is None else self.traced_after - self.traced_before

    @property
    def growth(self) -> int:
        """What the load left allocated: tracemalloc's growth when traced, else RSS's."""
        return self.rss_growth if self.traced_growth is None else self.traced_growth

    @property
    def growth_mb(self) -> float:
        return self.growth / MIB

    def describe(self) -> str:
        text = (f"rss {self.rss_before / MIB:.1f} -> {self.rss_after / MIB:.1f} MiB "
                f"(peak {self.rss_peak / MIB:.1f}, growth {self.rss_growth / MIB:+.2f})")
        if self.traced_after is not None:
            text += (f"; traced {self.traced_before / MIB:.2f} -> {self.traced_after / MIB:.2f} MiB "
                     f"(peak {self.traced_peak / MIB:.2f}, growth {self.traced_growth / MIB:+.2f})")
        return text

    def to_dict(self) -> dict:
        return {"rss_before": self.rss_before, "rss_after": self.rss_after, "rss_peak": self.rss_peak,
                "rss_growth": self.rss_growth, "traced_before": self.traced_before,
                "traced_after": self.traced_after, "traced_peak": self.traced_peak,
                "traced_growth": self.traced_growth, "top": list(self.top)}


class MemoryTracker:
    """start() before the load, sample() during it (RSS peak), stop() -> Memory after it."""

    def __init__(self, trace: bool = True, top: int = TOP_SITES):
        self.trace = trace
        self.n_top = top
        self.proc = psutil.Process(os.getpid())
        self.memory = Memory()
        self.started_tracing = False
        self.snapshot = None

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def start(self) -> None:
        gc.collect()
        m = self.memory
        if self.trace:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                self.started_tracing = True
            self.snapshot = _snapshot()
            m.traced_before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        m.rss_before = m.rss_peak = self.rss()

    def sample(self) -> None:
        rss = self.rss()
        if rss > self.memory.rss_peak:
            self.memory.rss_peak = rss

    def stop(self) -> Memory:
        m = self.memory
        self.sample()
        gc.collect()
        m.rss_after = self.rss()
        m.rss_peak = max(m.rss_peak, m.rss_after)
        if self.trace and tracemalloc.is_tracing():
            m.traced_after, m.traced_peak = tracemalloc.get_traced_memory()
            if self.snapshot is not None:
                diff = _snapshot().compare_to(self.snapshot, "lineno")
                m.top = [_site(s) for s in diff if s.size_diff > 0][: self.n_top]
            if self.started_tracing:
                tracemalloc.stop()
        self.snapshot = None
        return m


def _snapshot():
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, f) for f in _HIDE])


def _site(stat) -> str:
    frame = stat.traceback[0]
    where = f"{os.path.relpath(frame.filename) if not frame.filename.startswith('<') else frame.filename}"
    return f"{where}:{frame.lineno}: {_size(stat.size_diff)} ({stat.count_diff:+d} blocks)"


def _size(n: int) -> str:
    return f"{n / MIB:+.2f} MiB" if abs(n) >= MIB else f"{n / 1024:+.1f} KiB"
