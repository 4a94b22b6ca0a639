"""--watch-pid: sample the target's processes, and driver's own, once a second.

The supervisor calls `Watcher.sample()` from its once-a-second loop. For each watched
pid: RSS, the CPU share of one core since the previous sample, open file descriptors
and threads (psutil). A watched process that exits during the run is noted once (the
load itself is not in error) and no longer sampled. Driver's own processes — the parent
and each worker — give their RSS, so a soak can judge driver's memory too
(driver.stats.leak).
"""
from __future__ import annotations

import time

import psutil

from driver.errors import PlanError
from driver.stats.window import ProcessSample

__all__ = ["check_pids", "Watcher", "WATCH_FLAG"]

WATCH_FLAG = "--watch-pid"


def check_pids(pids) -> None:
    """PlanError (a usage error, before any load) naming the first pid that is not a
    running process this user may read."""
    for pid in pids:
        try:
            proc = psutil.Process(int(pid))
            proc.memory_info()
            if proc.status() == psutil.STATUS_ZOMBIE:
                raise psutil.NoSuchProcess(int(pid))
        except psutil.NoSuchProcess:
            raise PlanError(f"{WATCH_FLAG} {pid}: no such process", flag=WATCH_FLAG) from None
        except psutil.AccessDenied:
            raise PlanError(f"{WATCH_FLAG} {pid}: access denied (run driver as the process's user)",
                            flag=WATCH_FLAG) from None
        except (ValueError, OverflowError):
            raise PlanError(f"{WATCH_FLAG} {pid!r}: not a process id", flag=WATCH_FLAG) from None


class Watcher:
    """The watched processes and driver's own; `sample()` once a second."""

    def __init__(self, pids=()):
        """`pids`: the target's processes (checked with check_pids first); driver's own
        processes are added with add_own."""
        self.procs: dict[int, psutil.Process] = {}
        self.last_cpu: dict[int, tuple[float, float]] = {}  # pid -> (monotonic s, cpu s)
        self.notes: list[str] = []
        for pid in dict.fromkeys(int(p) for p in pids):
            try:
                proc = psutil.Process(pid)
                self.procs[pid] = proc
                self.last_cpu[pid] = (time.monotonic(), _cpu_s(proc))
            except psutil.Error:
                self._gone(pid)
        self.own: dict[str, psutil.Process] = {}

    def add_own(self, name: str, pid: int) -> None:
        """Sample driver's process `pid` ("parent", "worker 0"...) too: its RSS."""
        try:
            self.own[name] = psutil.Process(pid)
        except psutil.Error:
            pass

    def _gone(self, pid: int, t: float | None = None) -> None:
        when = f" at {t:.0f}s" if t is not None else ""
        self.notes.append(f"watched process {pid} exited{when}; it was not sampled after that")
        self.procs.pop(pid, None)
        self.last_cpu.pop(pid, None)

    def sample(self, t: float | None = None) -> tuple[dict[int, ProcessSample], dict[str, int]]:
        """({pid: ProcessSample} of the watched processes still alive, {name: RSS bytes} of
        driver's own). `t`: seconds since the start, for the note of a process that exited."""
        watched = {}
        for pid, proc in list(self.procs.items()):
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        raise psutil.NoSuchProcess(pid)
                    rss = proc.memory_info().rss
                    now, cpu_s = time.monotonic(), _cpu_s(proc)
                    threads = proc.num_threads()
                    fds = _fds(proc)
            except psutil.Error:
                self._gone(pid, t)
                continue
            then, cpu_then = self.last_cpu[pid]
            self.last_cpu[pid] = (now, cpu_s)
            share = (cpu_s - cpu_then) / (now - then) if now > then else None
            watched[pid] = ProcessSample(rss_bytes=int(rss), cpu=share, fds=fds, threads=int(threads))
        own = {}
        for name, proc in list(self.own.items()):
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:  # exited, not yet reaped: RSS 0
                        raise psutil.NoSuchProcess(proc.pid)
                    own[name] = int(proc.memory_info().rss)
            except psutil.Error:
                del self.own[name]  # a worker that ended: its RSS stops
        return watched, own


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _fds(proc: psutil.Process) -> int | None:
    try:
        return int(proc.num_fds())
    except (AttributeError, psutil.AccessDenied):  # Windows has handles, not fds
        return None
