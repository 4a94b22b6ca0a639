"""Ceilings on what one run may ask of this machine, checked before anything starts.

A plan that asks for more than the machine can carry does not fail by itself: it
grows until the kernel kills it (`-u 1e12` grew each worker by 120 MB/s; `-w 200` on
2 CPUs took 34 s and 5 GB to start a 1 s run; `-r 1e12` kept every worker busy
walking its schedule until it was killed). So every count has a ceiling derived from
the machine, and going over one is a usage error that says which limit it is and how
to raise it:

    workers                  at most WORKERS_PER_CPU per CPU this process may use
    memory                   workers x WORKER_BYTES + connections x USER_BYTES must fit in
                             the memory available now (MemAvailable, and a cgroup v2 limit)
    open files (closed loop) each worker holds one connection per virtual user, plus
                             FD_RESERVE: that must fit under RLIMIT_NOFILE's hard limit. The
                             soft limit is raised (up to the hard one) when that is enough;
                             workers inherit it.
    rate (open loop)         at most MAX_RATE_PER_WORKER arrivals/s per worker

The override: `DRIVER_LIMITS=off` in the environment skips these ceilings (for a box
that really can, or to see what happens). It does not skip the checks of the numbers
themselves (`nan`, `inf`, negative), which driver.plan makes.

`read_regular` is the one bounded way to read a file a user names (a body, a config):
only a regular file, only up to a size.

The figures are measured, with headroom: an idle worker is ~42 MB RSS; a virtual user
costs ~7 KB on the fast path and ~15 KB as a YAML or Python scenario user (peak RSS of
one worker at 10 and at 3,000-15,000 users against nginx, -w 1, 3 s).
"""
from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass

from driver.errors import PlanError

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX: no file-descriptor limit to read
    resource = None

ENV = "DRIVER_LIMITS"  # DRIVER_LIMITS=off: skip the ceilings below
WORKERS_PER_CPU = 4  # one per CPU is what helps; a few more cost start-up time and memory
WORKER_BYTES = 64 * 2**20  # an idle worker: ~42 MB RSS (Python, uvloop, numpy, its shm block)
USER_BYTES = 64 * 2**10  # a virtual user or an open-loop connection: 7-15 KB measured
FD_RESERVE = 64  # descriptors a worker holds besides its connections (loop, shm, pipes, logs)
MAX_RATE_PER_WORKER = 1_000_000  # arrivals/s; one core sends far fewer, but the walk stays bounded
OVERRIDE = f"or set {ENV}=off to run anyway"


@dataclass(frozen=True)
class Machine:
    """What this process may use: CPUs, memory available now, the open-file limits."""

    cpus: int
    memory_bytes: int | None  # None: unknown (then memory is not checked)
    nofile_soft: int
    nofile_hard: int


def machine() -> Machine:
    """This machine, as this process sees it now."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    soft, hard = _nofile()
    return Machine(cpus=cpus, memory_bytes=_memory_available(), nofile_soft=soft, nofile_hard=hard)


def _nofile() -> tuple[int, int]:
    if resource is None:
        return 1 << 30, 1 << 30
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    return (1 << 30 if soft == unlimited else soft), (1 << 30 if hard == unlimited else hard)


def _memory_available() -> int | None:
    """MemAvailable, lowered to what a cgroup v2 memory limit leaves (containers)."""
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read().strip())
        if limit != "max":
            left = max(0, int(limit) - used)
            available = left if available is None else min(available, left)
    except (OSError, ValueError):
        pass
    return available


def connections_per_worker(mode: str, peak: float, workers: int, max_in_flight: int) -> int:
    """The connections one worker may hold: its share of the users (closed loop) or of
    the in-flight cap (open loop); worker 0 gets the largest share."""
    total = max_in_flight if mode == "open" else peak
    return math.ceil(total / max(1, workers))


def problem(mode: str, peak: float, workers: int, max_in_flight: int, m: Machine) -> str | None:
    """The first ceiling this load goes over, as one line that says how to raise it; None if it fits.

    `peak`: the most virtual users (closed loop) or arrivals/s (open loop) the shape reaches.
    """
    most_workers = m.cpus * WORKERS_PER_CPU
    if workers > most_workers:
        return (f"--workers {workers} is more than {WORKERS_PER_CPU} per CPU (this process may use "
                f"{m.cpus}, so at most {most_workers}): one worker per CPU is what helps; lower --workers, "
                f"{OVERRIDE}")
    users = math.ceil(peak) if mode != "open" else max_in_flight
    what = (f"a peak of {users:,} virtual users (--users or a stage's target)" if mode != "open"
            else f"--max-in-flight {max_in_flight:,} (with --rate, --users sets it)")
    if m.memory_bytes is not None:
        need = workers * WORKER_BYTES + users * USER_BYTES
        if need > m.memory_bytes:
            return (f"{what} on {workers} workers needs about {_bytes(need)} of memory ({_bytes(USER_BYTES)} "
                    f"a connection, {_bytes(WORKER_BYTES)} a worker), over the {_bytes(m.memory_bytes)} "
                    f"available: ask for less, free memory, {OVERRIDE}")
    if mode != "open":
        per_worker = connections_per_worker(mode, peak, workers, max_in_flight)
        if per_worker + FD_RESERVE > m.nofile_hard:
            fit = m.nofile_hard - FD_RESERVE
            spread = math.ceil(users / fit) if fit > 0 else None
            more = (f"spread them over more workers (-w {spread}), " if spread and spread <= most_workers
                    else "")
            return (f"{what} needs {per_worker:,} connections per worker ({workers} workers), over the "
                    f"open-file limit of {m.nofile_hard:,} per process (RLIMIT_NOFILE, hard): raise it "
                    f"(ulimit -Hn as root, LimitNOFILE= for a systemd service, --ulimit nofile= for "
                    f"Docker), {more}{OVERRIDE}")
    elif peak / workers > MAX_RATE_PER_WORKER:
        return (f"a peak of {peak:,.0f} arrivals/s (--rate or a stage's target) is more than "
                f"{MAX_RATE_PER_WORKER:,}/s per worker ({workers} workers: at most "
                f"{MAX_RATE_PER_WORKER * workers:,}/s; one core sends far fewer): lower the rate, {OVERRIDE}")
    return None


def check_limits(mode: str, peak: float, workers: int, max_in_flight: int, env=None) -> None:
    """make_plan's check: raise the soft open-file limit as far as the load needs (up to the
    hard limit; workers inherit it), then PlanError if a ceiling is still exceeded, unless
    DRIVER_LIMITS=off in `env` (default os.environ)."""
    raise_nofile(connections_per_worker(mode, peak, workers, max_in_flight) + FD_RESERVE)
    env = os.environ if env is None else env
    if env.get(ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return
    message = problem(mode, peak, workers, max_in_flight, machine())
    if message is not None:
        raise PlanError(message)


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to `wanted`, at most to the hard limit
    (never lower it); the soft limit now."""
    if resource is None:
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):  # e.g. above fs.nr_open: the check reports the limit
            pass
    return soft


def read_regular(path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`.

    ValueError (its text a reason to show after the file name) for a directory, a
    device (/dev/zero would be read forever), a pipe or a socket, or a larger file;
    OSError (FileNotFoundError, PermissionError...) as open() raises it.
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ValueError("is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file (a device, pipe or socket)")
        too_large = ValueError(f"larger than {_bytes(max_bytes)}, the most it may be")
        if info.st_size > max_bytes:
            raise too_large
        with open(fd, "rb", buffering=0, closefd=False) as f:
            data = f.read(max_bytes + 1)  # bounded even if the file grows meanwhile
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise too_large
    return data


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:,.0f} TiB"
