"""run(plan) -> Result: start the workers, sample them every second, end the run.

The parent owns the processes and the shared memory. It never receives results
from workers: every second it reads their blocks and diffs them against the last
read (the time series and the live progress); at the end it sums them. So a
worker that dies loses nothing it recorded, and the run still ends with a result
marked incomplete, saying why. Shared memory is released in every case (normal
end, Ctrl-C, a dead worker, an exception) by the `finally` of `SharedBlocks`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import multiprocessing
import signal
import threading
import socket
import ssl
import time
from datetime import datetime, timezone

import numpy as np

from driver._speedups import now_ns
from driver.engine.client import make_ssl_context
from driver.environment import describe_environment
from driver.runner import allocator
from driver.errors import PlanError, RunFailed, TargetUnreachable
from driver.layout import (
    read_note,
    C_REQUESTS,
    CTL_DEADLINE_NS,
    CTL_LOAD_DONE_NS,
    CTL_START_NS,
    CTL_STOP,
    PHASE_DONE,
    PHASE_NAMES,
    PHASE_READY,
    PHASE_RUNNING,
    PHASE_STOPPING,
    ST_HEARTBEAT_NS,
    ST_CPU_NS,
    ST_FINISHED_NS,
    ST_CONNECTIONS_MAX,
    ST_FD_ERRORS,
    ST_ITERATIONS,
    ST_LAG_MAX_NS,
    ST_LAG_SAMPLES,
    ST_LAG_SUM_NS,
    ST_PHASE,
    ST_PID,
    STATUS_LEN,
    STOP_GRACEFUL,
    STOP_NOW,
    BlockLayout,
)
from driver.plan import Plan
from driver.planning.shard import start_at_ns, worker_span
from driver.shm import SharedBlocks, remove_stale
from driver.stats.leak import leak_verdicts
from driver.stats.result import Result
from driver.stats.thresholds import AbortWatch, evaluate
from driver.stats.validity import assess
from driver.runner.watchdog import STUCK_S
from driver.stats.serieslog import SeriesLog
from driver.stats.window import merge_blocks, window
from driver.runner.watch import Watcher, check_pids
from driver.runner.metrics import Scraper, check_metrics
from driver.runner.worker import worker_main
from driver.runner.groups import GroupView, group_layouts, normalised

STOP_RUN = "stop"  # what on_progress returns to end the run gracefully (driver.runner.capacity)
STARTUP_TIMEOUT_S = 60.0  # spawning a worker imports numpy, uvloop...: allow slow machines
START_DELAY_NS = 100_000_000  # all workers start together this long after the last is ready
POLL_S = 0.05


def resolve(plan: Plan) -> str:
    """Resolve the target's host once and check it accepts connections (and, for https,
    that its certificate verifies, unless the plan is insecure).

    Returns the address the workers connect to. Raises TargetUnreachable within the
    connect timeout when the host does not resolve, refuses, does not answer, or
    presents a certificate that does not verify — a run against it would only count
    TLS errors.
    """
    t = plan.target
    try:
        infos = socket.getaddrinfo(t.host, t.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetUnreachable(f"cannot resolve host {t.host!r}: {exc.strerror}") from None
    address = infos[0][4][0]
    try:
        with socket.create_connection((address, t.port), timeout=plan.connect_timeout_s) as sock:
            if t.tls:
                _check_tls(plan, sock)
    except ConnectionRefusedError:
        raise TargetUnreachable(f"connection refused by {t.host}:{t.port}: is the target running?") from None
    except (socket.timeout, TimeoutError):
        raise TargetUnreachable(
            f"no answer from {t.host}:{t.port} within the connect timeout ({plan.connect_timeout_s:g}s)"
        ) from None
    except OSError as exc:
        raise TargetUnreachable(f"cannot connect to {t.host}:{t.port}: {exc.strerror or exc}") from None
    return address


def _check_tls(plan: Plan, sock: socket.socket) -> None:
    """A TLS handshake as the workers will make it; TargetUnreachable when it fails."""
    t = plan.target
    try:
        with make_ssl_context(plan.insecure).wrap_socket(sock, server_hostname=t.host):
            pass
    except ssl.SSLCertVerificationError as exc:
        raise TargetUnreachable(
            f"TLS certificate of {t.host}:{t.port} not verified: {exc.verify_message or exc.reason}; "
            f"use -k/--insecure to skip verification (test targets only)") from None
    except ssl.SSLError as exc:
        raise TargetUnreachable(f"TLS handshake with {t.host}:{t.port} failed: {exc.reason or exc}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the parent's main thread: handled exactly as Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While a run lasts, SIGTERM interrupts it like Ctrl-C (main thread only: signal
    handlers can be set nowhere else; a library caller in a thread keeps its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run(plan: Plan, on_progress=None, *, check_target: bool = True, steering=None) -> Result:
    """Carry out a plan and return its Result.

    `on_progress(window)` is called about once a second with the last second's
    `driver.stats.window.Window` (its `point()` is what goes into Result.series); when it
    returns STOP_RUN ("stop") the run ends as at its deadline: the requests in flight get
    the grace, and the result is complete (the caller says why in its own notes). Ctrl-C (KeyboardInterrupt)
    and SIGTERM (what `timeout`, Docker, Kubernetes and CI cancellation send) end the
    run gracefully: in-flight requests get the grace, and the result comes back with
    `interrupted=True` and the signal in its reasons. A second one stops at once.

    `steering` (driver.engine.steer.Steering) is attached to the control block while the
    load runs: its steers change the load, and the series carries what was asked.

    `plan.watch_pids` are checked first (a PlanError at --watch-pid for a process that
    is not there); they and driver's own processes are sampled with every window
    (driver.runner.watch) and judged for leaks at the end (driver.stats.leak).
    """
    plan = normalised(plan)  # a grouped plan's groups run on its workers
    check_pids(plan.watch_pids)  # a pid that is not there is a usage error, before any load
    check_metrics(plan.metrics_urls, plan.metric_names)
    remove_stale()
    if plan.groups:  # each group's own target: resolved and checked once, in group order
        addresses = tuple(resolve(g.plan) if check_target else g.plan.target.host for g in plan.groups)
        address = addresses[0]
    else:
        # an in-process target (plan.inproc) has no address: its callables were imported when planned
        address = resolve(plan) if check_target and plan.inproc is None else plan.target.host
        addresses = (address,)
    layout = BlockLayout(plan.endpoint_slots)
    side = plan.has_bot_side
    rings = plan.workers if side and (plan.replies is None or plan.replies.via_api) else 0
    with SharedBlocks(plan.workers + side, layout, rings, group_layouts(plan)) as shm, _sigterm_as_interrupt():
        return _Run(plan, shm, address, on_progress, addresses, steering).execute()


class _Run:
    def __init__(self, plan: Plan, shm: SharedBlocks, address: str, on_progress, addresses=(), steering=None):
        self.plan = plan
        self.steering = steering
        self.shm = shm
        self.layout = shm.layout
        self.address = address
        self.on_progress = on_progress
        self.procs: list = []  # the workers
        self.side = None  # the bot-side process (driver.runner.botside), when the plan has one
        self.side_pipe = None
        self.side_summary: dict | None = None
        self.reasons: list[str] = []
        self.interrupted = False
        self.interrupted_by = None  # "SIGINT" or "SIGTERM"
        self.stuck: set[int] = set()  # workers noted as stuck
        self.series = SeriesLog()  # the per-second points, on disk while the run lasts (driver.stats.serieslog)
        self.stop_sent_ns = 0
        self.start_ns = 0
        self.watch = AbortWatch(plan.thresholds)
        self.aborted = None
        self.watcher = Watcher(plan.watch_pids)  # --watch-pid, and driver's own RSS
        self.watcher.add_own("parent", os.getpid())
        self.scraper = Scraper(plan.metrics_urls, plan.metric_names)  # --metrics-url, in its own thread
        self.groups = GroupView(plan, shm) if plan.groups else None  # a grouped run (driver.runner.groups)
        self.addresses = addresses or (address,)  # each group's (the first is `address`)

    def execute(self) -> Result:
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            self.scraper.start()
            self._spawn()
            self._wait_ready()
            self._start()
            self._supervise()
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM before the load started
            self._interrupt(exc)
            self._stop(STOP_NOW)
        finally:
            if self.steering is not None:
                self.steering.detach()  # before the control block is released
            self.scraper.stop()
            self._reap()
        return self._result(started_at)

    # -- processes
    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        # Children inherit an ignored SIGINT through exec, so Ctrl-C reaches only the
        # parent, which then stops the workers in order.
        main = threading.current_thread() is threading.main_thread()  # signals: main thread only
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            if self.plan.has_bot_side:
                self._spawn_side(ctx)
            rings = [(r.name, b.name) for r, b in zip(self.shm.rings, self.shm.back_rings)]
            first, cluster = worker_span(self.plan)  # --shard: global worker indices (driver.planning.shard)
            for i in range(self.plan.workers):
                lanes = tuple((blocks[i].name, tables[i].name, address) for blocks, tables, address
                              in zip(self.shm.group_blocks, self.shm.group_names, self.addresses[1:]))
                proc = ctx.Process(
                    target=worker_main, name=f"driver-worker-{i}", daemon=True,
                    args=(self.plan, first + i, cluster, self.shm.block_names[i], self.shm.control.name,
                          self.shm.table_names[i], self.address, rings[i] if rings else None, lanes),
                )
                proc.start()
                self.procs.append(proc)
                self.watcher.add_own(f"worker {i}", proc.pid)
        finally:
            if main:
                signal.signal(signal.SIGINT, old)

    def _spawn_side(self, ctx) -> None:
        """Start the bot-side process (mock platform API, reply correlation, chaos) and wait
        until its mock listens: a bot may call it as soon as the first update arrives."""
        from driver.runner.botside import botside_main

        n = self.plan.workers
        here, there = ctx.Pipe(duplex=False)
        self.side_pipe = here
        self.side = ctx.Process(
            target=botside_main, name="driver-bot-side", daemon=True,
            args=(self.plan, n, self.shm.block_names[n], self.shm.control.name, self.shm.table_names[n],
                  [r.name for r in self.shm.rings], [r.name for r in self.shm.back_rings],
                  self.shm.table_names[:n], there))
        self.side.start()
        there.close()
        self.watcher.add_own("bot side", self.side.pid)
        if not here.poll(STARTUP_TIMEOUT_S):
            raise RunFailed(f"the bot-side process did not start within {STARTUP_TIMEOUT_S:g}s")
        try:
            what, value = here.recv()
        except EOFError:
            raise RunFailed(f"the bot-side process exited during start-up "
                            f"({_exit_reason(self.side.exitcode)})") from None
        if what == "error":
            raise PlanError(value, flag="mock")
        spec = self.plan.mock
        if spec is not None:
            self.mock_url = dataclasses.replace(spec, port=value).url
            self._note_only(f"mock {spec.platform} API at {self.mock_url}")

    def _side_alive(self) -> bool:
        return self.side is not None and self.side.exitcode is None

    def _phase(self, i: int) -> int:
        return int(self.shm.blocks[i].array[ST_PHASE])

    def _wait_ready(self) -> None:
        until = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            for i, proc in enumerate(self.procs):
                if proc.exitcode is not None and self._phase(i) < PHASE_READY:
                    raise RunFailed(f"worker {i} exited during start-up ({_exit_reason(proc.exitcode)})")
            if all(self._phase(i) >= PHASE_READY for i in range(len(self.procs))):
                return
            if time.monotonic() > until:
                raise RunFailed(f"workers not ready after {STARTUP_TIMEOUT_S:g}s")
            time.sleep(0.005)

    def _start(self) -> None:
        control = self.shm.control.array
        self.start_ns = max(now_ns() + START_DELAY_NS, start_at_ns(self.plan, now_ns()))  # --start-at
        if self.plan.duration_s:
            control[CTL_DEADLINE_NS] = self.start_ns + int(self.plan.duration_s * 1e9)
        control[CTL_START_NS] = self.start_ns
        if self.steering is not None:
            self.steering.attach(control, self.start_ns)

    def _stop(self, how: int) -> None:
        control = self.shm.control.array
        if control[CTL_STOP] < how:
            control[CTL_STOP] = how
        if not self.stop_sent_ns:
            self.stop_sent_ns = now_ns()

    def _supervise(self) -> None:
        allocator.settle()  # a long run's RSS stays flat (driver.runner.allocator)
        prev = self.shm.snapshot()
        next_sample = self.start_ns + 1_000_000_000
        samples = 0
        deadline = int(self.shm.control.array[CTL_DEADLINE_NS])
        hard_grace_ns = int((self.plan.grace_s + 5) * 1e9)
        while True:
            try:
                time.sleep(POLL_S)
                now = now_ns()
                if now >= next_sample:
                    snap = self.shm.snapshot()
                    self._sample(prev, snap, (now - self.start_ns) / 1e9)
                    prev = snap
                    next_sample += 1_000_000_000
                    samples += 1
                    if samples % 60 == 0:
                        allocator.trim()
                    if next_sample < now:  # we were suspended: skip, do not burst
                        next_sample = now + 1_000_000_000
                self._check_workers()
                self._check_stuck(now, deadline)
                if all(p.exitcode is not None for p in self.procs):
                    control = self.shm.control.array
                    if not control[CTL_LOAD_DONE_NS]:
                        control[CTL_LOAD_DONE_NS] = now_ns()  # the bot side drains its replies
                    if not self._side_alive():
                        break
                if deadline and now > deadline + hard_grace_ns:
                    self._note("workers did not stop within the grace period after the deadline")
                    self._stop(STOP_NOW)
                if self.stop_sent_ns and now - self.stop_sent_ns > hard_grace_ns:
                    self._terminate()
            except KeyboardInterrupt as exc:
                if self.interrupted:  # a second Ctrl-C or SIGTERM: stop now
                    self._stop(STOP_NOW)
                else:
                    self._interrupt(exc)
                    self._stop(STOP_GRACEFUL)
        snap = self.shm.snapshot()
        elapsed = (now_ns() - self.start_ns) / 1e9
        moved = (snap[:, STATUS_LEN:] != prev[:, STATUS_LEN:]).any() or (self.groups is not None and self.groups.moved())
        if elapsed - (self.series[-1]["t"] if self.series else 0) > 0.05 and moved:
            self._sample(prev, snap, elapsed)

    def _interrupt(self, exc: BaseException) -> None:
        self.interrupted = True
        self.interrupted_by = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"

    def _note_only(self, note: str) -> None:
        """Something the result says without making it incomplete."""
        self.watcher.notes.append(note)

    def _note(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def _check_workers(self) -> None:
        side = self.side
        if side is not None and side.exitcode is not None and \
                int(self.shm.blocks[self.plan.workers].array[ST_PHASE]) != PHASE_DONE:
            self._note(f"the bot-side process (mock API, replies) died: {_exit_reason(side.exitcode)}; "
                       f"replies recorded until then are included")
            self._stop(STOP_GRACEFUL)
        for i, proc in enumerate(self.procs):
            if proc.exitcode is not None and self._phase(i) != PHASE_DONE:
                self._note(f"worker {i} (pid {proc.pid}) died: {_exit_reason(proc.exitcode)}; "
                           f"what it recorded until then is included")
                self._stop(STOP_GRACEFUL)

    def _check_stuck(self, now: int, deadline: int) -> None:
        """A running worker whose heartbeat is stale is blocked (user code that does not
        await): say where (its watchdog's note), and once the run should be over, kill
        it so that the run still ends on time; what it recorded is kept."""
        for i, proc in enumerate(self.procs):
            status = self.shm.blocks[i].array
            if proc.exitcode is not None or int(status[ST_PHASE]) not in (PHASE_RUNNING, PHASE_STOPPING):
                continue
            age = now - max(int(status[ST_HEARTBEAT_NS]), self.start_ns)  # none stuck before the start (--start-at)
            if age < STUCK_S * 1e9:
                continue
            note = read_note(self.shm.names[i].array, self.layout.n_endpoints)
            if not note and i not in self.stuck and age < (STUCK_S + 1.0) * 1e9:
                continue  # its watchdog writes where it is blocked within STUCK_S/4: give it the time
            note = note or "blocked"
            if i not in self.stuck:
                self.stuck.add(i)
                self._note(f"worker {i} stuck: its event loop made no progress for over {STUCK_S:g}s "
                           f"({note}); a task that blocks (no await) stalls every user of its worker")
            over = (deadline and now > deadline + int(self.plan.grace_s * 1e9)) or (
                self.stop_sent_ns and now - self.stop_sent_ns > int(self.plan.grace_s * 1e9))
            if over and age > STUCK_S * 1e9:
                proc.kill()
                self._note(f"worker {i} killed at the end of the run, still stuck ({note})")

    def _terminate(self) -> None:
        for proc in self._all_procs():
            if proc.exitcode is None:
                proc.kill()

    def _all_procs(self) -> list:
        return self.procs + ([self.side] if self.side is not None else [])

    def _reap(self) -> None:
        if self.side is not None:
            control = self.shm.control.array
            if not control[CTL_LOAD_DONE_NS]:
                control[CTL_LOAD_DONE_NS] = now_ns()
        for proc in self._all_procs():
            proc.join(timeout=self.plan.grace_s + 2)
            if proc.exitcode is None:
                proc.kill()
                proc.join(timeout=5)
        self._side_summary()
        for i, proc in enumerate(self.procs):
            if proc.exitcode not in (0, None) or self._phase(i) != PHASE_DONE:
                self._check_workers()

    def _side_summary(self) -> None:
        """The bot side's last word: the mock's calls by method, replies nothing asked for."""
        pipe = self.side_pipe
        try:
            while pipe is not None and pipe.poll(0):
                what, value = pipe.recv()
                if what == "done":
                    self.side_summary = value
        except (EOFError, OSError):
            pass
        s = self.side_summary
        if not s or self.plan.mock is None:
            return
        calls = ", ".join(f"{m} {n:,}" for m, n in sorted(s["calls"].items(), key=lambda kv: -kv[1]))
        self._note_only(f"mock {self.plan.mock.platform} API calls: {calls or 'none'}")
        if s["unmatched"]:
            self._note_only(f"{s['unmatched']:,} replies matched no update (late, after the reply "
                            f"timeout, or to updates driver did not send)")
        if s["untracked"]:
            self._note_only(f"{s['untracked']:,} updates were not followed to their replies "
                            f"(the bot side fell behind)")

    # -- numbers
    def _tables(self) -> list:
        return [table.array for table in self.shm.names]

    def _sample(self, prev: np.ndarray, snap: np.ndarray, t: float) -> None:
        """One window (driver.stats.window) from two snapshots: a point of the series, the
        abort thresholds, and the live view (`on_progress(window)`)."""
        win = window(prev, snap, self._tables(), self.layout, t, self.series[-1]["t"] if self.series else 0.0)
        watched, own = self.watcher.sample(t)
        win = dataclasses.replace(win, watch=watched, driver_rss=own)
        win = dataclasses.replace(win, metrics=self.scraper.latest())  # --metrics-url: the last values
        if self.groups is not None:  # the groups' windows (their points, their live lines) make the run's
            win = self.groups.whole(win, self.groups.windows(t, self.series[-1]["t"] if self.series else 0.0))
        point = win.point()
        if self.steering is not None:
            point.update(self.steering.point(win.t))
        if self.plan.has_bot_side:  # a quiet second is a figure too (an open breaker calls nothing)
            point.setdefault("api", {"calls": 0, "ok": 0, "failed": 0})
            if self.plan.replies is not None and self.plan.replies.via_api:
                point.setdefault("replies", {"tracked": 0, "replied": 0, "missing": 0,
                                             "check_failures": 0, "p99_ns": None})
        self.series.append(point)
        if self.aborted is None:
            hit = self.watch.update(win)
            if hit is not None:  # an abort threshold broken for its grace period: end the run
                self.aborted = hit
                self._note(f"aborted at {hit['t']:.0f}s: threshold {hit['threshold']} broken")
                self._stop(STOP_GRACEFUL)
            elif self.groups is not None and (hit := self.groups.watch(win.groups)) is not None:
                self.aborted = hit
                self._note(f"aborted at {hit['t']:.0f}s: threshold {hit['threshold']} broken")
                self._stop(STOP_GRACEFUL)
        if self.on_progress is not None and self.on_progress(win) == STOP_RUN and not self.stop_sent_ns:
            self._stop(STOP_GRACEFUL)  # the caller ended the run (find-capacity): complete, not interrupted

    def _result(self, started_at: str) -> Result:
        snap = self.shm.snapshot()
        per_worker = [self.layout.views(row) for row in snap[: self.plan.workers]]
        if self.groups is not None:  # every group's blocks, merged by endpoint name
            endpoints, checks = self.groups.endpoints()
        else:
            endpoints, checks = merge_blocks(snap, self._tables(), self.layout, known=self.plan.endpoints)
        ended = [int(s[0][ST_PHASE]) for s in per_worker]
        series = self.series.points()
        self.series.close()
        result = Result(
            plan=self.plan.describe(),
            endpoints=endpoints,
            duration_s=self._duration(snap),
            started_at=started_at,
            series=series,
            workers=[self._worker_info(i, s[0], s[1], ended[i]) for i, s in enumerate(per_worker)],
            environment=describe_environment(self.plan.workers),
            complete=not self.reasons and not self.interrupted,
            interrupted=self.interrupted,
            interrupted_by=self.interrupted_by,
            reasons=self.reasons + ([f"interrupted ({self.interrupted_by})"] if self.interrupted else []),
            checks=checks,
            aborted=self.aborted,
            notes=list(self.watcher.notes) + self.scraper.notes + (self.steering.notes() if self.steering else []),
            leak=leak_verdicts(series),
        )
        if self.groups is not None:  # a worker's figures are in all its groups' blocks
            for i, info in enumerate(result.workers):
                info["requests"] = self.groups.worker_requests(i)
                for key, at in (("iterations", ST_ITERATIONS), ("connections_max", ST_CONNECTIONS_MAX),
                                ("fd_limit_errors", ST_FD_ERRORS)):
                    info[key] = self.groups.worker_status(i, at)
        if self.plan.chaos:  # each fault window against its baseline: recovery, the breaker
            from driver.chaos.analysis import chaos_results
            timeout_s = self.plan.replies.timeout_s if self.plan.replies is not None else 0.0
            result.chaos = chaos_results(series, self.plan.chaos, reply_timeout_s=timeout_s)
        result.validity = assess(result)
        result.verdicts = evaluate(self.plan.thresholds, result)
        if self.groups is not None:  # each group judged on its own endpoints; the run on all
            result.groups = self.groups.results(result)
            result.verdicts += [v for sub in result.groups.values() for v in sub.verdicts]
        return result

    def _duration(self, snap: np.ndarray) -> float:
        """Seconds from the common start to the last worker's end (or now)."""
        if not self.start_ns:
            return 0.0
        finished = [int(x) for x in snap[: self.plan.workers, ST_FINISHED_NS] if x]
        end = max(finished) if len(finished) == len(self.procs) else now_ns()
        return max(0.0, (end - self.start_ns) / 1e9)

    def _worker_info(self, i: int, status: np.ndarray, counters: np.ndarray, phase: int) -> dict:
        proc = self.procs[i] if i < len(self.procs) else None
        samples = int(status[ST_LAG_SAMPLES])
        return {
            "index": i,
            "pid": int(status[ST_PID]),
            "phase": PHASE_NAMES[phase] if 0 <= phase < len(PHASE_NAMES) else str(phase),
            "exit": _exit_reason(proc.exitcode) if proc is not None else "not started",
            "requests": int(counters[:, C_REQUESTS].sum()),
            "iterations": int(status[ST_ITERATIONS]),
            "connections_max": int(status[ST_CONNECTIONS_MAX]),
            "fd_limit_errors": int(status[ST_FD_ERRORS]),
            "cpu_s": int(status[ST_CPU_NS]) / 1e9,
            "lag_max_ms": int(status[ST_LAG_MAX_NS]) / 1e6,
            "lag_mean_ms": (int(status[ST_LAG_SUM_NS]) / samples / 1e6) if samples else 0.0,
        }


def _exit_reason(code) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
