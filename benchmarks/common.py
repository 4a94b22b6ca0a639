"""Shared machinery of the side-by-side benchmarks (run_http, run_memory, run_connections).

- `Nginx`: start nginx from nginx.conf.tmpl in a private temp dir (daemon off, every
  path inside the temp dir), pinned to one core with `taskset`, and stop it again.
- `StubClient` / `parse_stub_status`: read nginx's stub_status over one keep-alive
  connection; every read is itself a request, so the client counts its own reads and
  `StubStatus.requests_excluding_polls` takes them back out.
- `/proc` readers: CPU time (utime+stime+cutime+cstime, fields 14-17 of
  /proc/PID/stat), VmRSS, the process tree under a PID.
- `run_monitored`: launch a load tool, sample nginx's request counter and the tool's
  process-tree CPU every 100 ms while it runs, read the exact final CPU time from the
  zombie before reaping it (waitid WNOWAIT), and derive requests, load window,
  req/s and CPU per request.
- Markdown helpers: tables, and replacing one marked section of RESULTS.md.
- Environment facts for the results: CPU model, cores, kernel, tool versions.

Standard library only, so the harness itself never depends on the package it measures.
"""
from __future__ import annotations

import datetime as _dt
import http.client
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
BODY_FILE = BENCH_DIR / "body.json"
NGINX_TEMPLATE = BENCH_DIR / "nginx.conf.tmpl"
LOCUSTFILE = BENCH_DIR / "locustfile.py"
WRK_SCRIPT = BENCH_DIR / "post.lua"
BARE_CLIENT = BENCH_DIR / "bare_client.py"
OUT_DIR = BENCH_DIR / "out"  # raw per-run files; ignored by git
RESULTS_MD = BENCH_DIR / "RESULTS.md"

CLK_TCK = os.sysconf("SC_CLK_TCK")
STATUS_PATH = "/nginx_status"

NGINX_CORE = "0"  # taskset -c for the target
TOOL_CORE = "1"  # taskset -c for every load tool (and the harness itself)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_self(core: str = TOOL_CORE) -> None:
    """Pin the harness to the load tool's core so it never takes time from nginx."""
    try:
        os.sched_setaffinity(0, {int(c) for c in core.split(",")})
    except (OSError, ValueError):
        pass


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def prepare_harness(tool_core: str = TOOL_CORE, nice: int = -10) -> str:
    """Set the harness up before it starts anything: SIGTERM/SIGHUP unwind normally (so
    nginx is stopped), the harness is pinned to the tool core, and - with nice < 0 - it
    gets its own session with a raised scheduling priority that nginx and the tools
    inherit. With autogroup scheduling (kernel.sched_autogroup_enabled) CPU is shared
    between sessions first, so the session's autogroup nice is raised too; otherwise
    other people's jobs on a small shared box take a third or more of nginx's core.
    Returns a line saying what was done."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    pin_self(tool_core)
    if not nice:
        return "default scheduling priority"
    done = []
    try:
        os.setsid()
    except OSError:
        pass
    try:
        Path("/proc/self/autogroup").write_text(str(nice))
        done.append(f"autogroup nice {nice}")
    except OSError:
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        done.append(f"nice {nice}")
    except OSError:
        pass
    return ("harness, nginx and tools at " + " and ".join(done)) if done else "default scheduling priority (could not raise it)"


def raise_nofile(wanted: int | None = None) -> int:
    """Raise RLIMIT_NOFILE (soft) as far as the hard limit allows; children inherit it.

    As root the hard limit is raised too when `wanted` exceeds it (up to fs.nr_open).
    Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if wanted is not None and wanted > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass
    target = hard if wanted is None else min(wanted, hard)
    if target == resource.RLIM_INFINITY:
        target = 1 << 20
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------- nginx


@dataclass
class StubStatus:
    active: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int
    polls: int = 0  # stub_status reads made by this client so far, this one included

    @property
    def requests_excluding_polls(self) -> int:
        return self.requests - self.polls


_STUB_RE = re.compile(
    r"Active connections:\s*(\d+)\s*server accepts handled requests\s*(\d+)\s+(\d+)\s+(\d+)"
    r"\s*Reading:\s*(\d+)\s*Writing:\s*(\d+)\s*Waiting:\s*(\d+)",
    re.S,
)


def parse_stub_status(text: str) -> StubStatus:
    m = _STUB_RE.search(text)
    if not m:
        raise ValueError(f"not an nginx stub_status page: {text[:200]!r}")
    return StubStatus(*(int(g) for g in m.groups()))


class StubClient:
    """Reads stub_status over one keep-alive connection (reconnects if it drops)."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.polls = 0
        self._conn: http.client.HTTPConnection | None = None

    def read(self) -> StubStatus:
        for attempt in range(3):
            try:
                if self._conn is None:
                    self._conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
                self._conn.request("GET", STATUS_PATH)
                self.polls += 1  # nginx counted it as soon as it read it
                resp = self._conn.getresponse()
                body = resp.read().decode()
                st = parse_stub_status(body)
                st.polls = self.polls
                return st
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Nginx:
    """nginx with a generated config in a temp dir, pinned with taskset. Context manager."""

    def __init__(
        self,
        port: int | None = None,
        core: str = NGINX_CORE,
        worker_connections: int = 4096,
        rlimit_nofile: int = 8192,
        backlog: int = 4096,
        binary: str | None = None,
        user_root: bool | None = None,
    ):
        self.port = port or free_port()
        self.core = core
        self.worker_connections = worker_connections
        self.rlimit_nofile = rlimit_nofile
        self.backlog = backlog
        self.binary = binary or shutil.which("nginx") or "/usr/sbin/nginx"
        # nginx started by root switches its worker to `nobody`; that is fine for
        # `return 200` (nothing is written to disk), so `user root;` stays off unless asked.
        self.user_root = bool(user_root)
        self.prefix: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}/"
        self.status_url = f"http://127.0.0.1:{self.port}{STATUS_PATH}"

    def render(self) -> str:
        text = NGINX_TEMPLATE.read_text()
        values = {
            "prefix": str(self.prefix),
            "port": str(self.port),
            "worker_connections": str(self.worker_connections),
            "rlimit_nofile": str(self.rlimit_nofile),
            "backlog": str(self.backlog),
            "user": "user root;" if self.user_root else "",
        }
        for k, v in values.items():
            text = text.replace("{{" + k + "}}", v)
        left = re.findall(r"\{\{\w+\}\}", text)
        if left:
            raise ValueError(f"unrendered placeholders in {NGINX_TEMPLATE}: {left}")
        return text

    def start(self, timeout: float = 10.0) -> "Nginx":
        self.prefix = Path(tempfile.mkdtemp(prefix="driver-bench-nginx-"))
        os.chmod(self.prefix, 0o755)
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.render())
        cmd = ["taskset", "-c", self.core, self.binary, "-p", str(self.prefix), "-c", str(conf)]
        self.cmd = cmd
        errf = open(self.prefix / "stderr.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=errf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        errf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}: {self.logs()}")
            try:
                StubClient(self.port).read()
                return self
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not answer on port {self.port} within {timeout}s: {self.logs()}")

    def logs(self) -> str:
        out = []
        for name in ("stderr.log", "error.log"):
            p = self.prefix / name if self.prefix else None
            if p and p.exists():
                out.append(p.read_text(errors="replace")[-2000:])
        return "\n".join(out)

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.prefix:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- /proc


def read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat, 1-based as in proc(5): f[1] is the pid, f[14] utime."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rpar = data.rfind(")")
    rest = data[rpar + 2 :].split()
    return [data[: data.find(" ")], data[data.find("(") : rpar + 1]] + rest


def cpu_ticks(pid: int, include_children: bool = True) -> int | None:
    """utime+stime (fields 14, 15) plus cutime+cstime (16, 17) of one process, in ticks."""
    f = read_stat(pid)
    if f is None:
        return None
    # f = [pid, (comm), state(3), ppid(4), ...]; field n (1-based) is f[n-1]
    ticks = int(f[13]) + int(f[14])
    if include_children:
        ticks += int(f[15]) + int(f[16])
    return ticks


def cpu_split_ticks(pid: int) -> tuple[int, int] | None:
    """(user, system) ticks of one process including reaped children: fields 14+16, 15+17."""
    f = read_stat(pid)
    if f is None:
        return None
    return int(f[13]) + int(f[15]), int(f[14]) + int(f[16])


def ppid_of(pid: int) -> int | None:
    f = read_stat(pid)
    return int(f[3]) if f else None


def children(pid: int) -> list[int]:
    """Direct children of pid (all its threads' children files; /proc scan as fallback)."""
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tids = os.listdir(task_dir)
    except (FileNotFoundError, ProcessLookupError):
        return []
    found_file = False
    for tid in tids:
        try:
            txt = (task_dir / tid / "children").read_text()
            found_file = True
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        kids.extend(int(x) for x in txt.split())
    if found_file:
        return kids
    for name in os.listdir("/proc"):
        if name.isdigit() and ppid_of(int(name)) == pid:
            kids.append(int(name))
    return kids


def process_tree(root: int) -> list[int]:
    """root and all its live (or zombie) descendants."""
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children(p))
    return out


def tree_cpu_ticks(root: int) -> int:
    """CPU of a process tree: each live member's own + reaped children's time.

    A child's time moves into its parent's cutime/cstime when the parent reaps it, and
    it is then no longer in the tree, so nothing is counted twice."""
    total = 0
    for p in process_tree(root):
        t = cpu_ticks(p)
        if t is not None:
            total += t
    return total


def sched_waits(pid: int) -> dict[int, int]:
    """{tid: ns spent runnable but waiting for a CPU} for every thread of pid
    (/proc/PID/task/TID/schedstat, second field): how much other work delayed it."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for tid in tids:
        try:
            out[int(tid)] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return out


def tree_sched_waits(root: int) -> dict[int, int]:
    out = {}
    for p in process_tree(root):
        out.update(sched_waits(p))
    return out


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def classify_tree(root: int) -> dict[str, list[int]]:
    """Split a driver process tree into parent / workers / helpers (multiprocessing's
    resource tracker, fork server)."""
    out: dict[str, list[int]] = {"parent": [root], "workers": [], "helpers": []}
    for p in process_tree(root)[1:]:
        cl = cmdline(p)
        if "resource_tracker" in cl or "forkserver" in cl or "semaphore_tracker" in cl:
            out["helpers"].append(p)
        else:
            out["workers"].append(p)
    return out


# --------------------------------------------------------------------------- monitored run


@dataclass
class Sample:
    t: float  # seconds since launch
    requests: int  # nginx requests, our own stub reads removed
    active: int  # nginx active connections, our own connection removed
    cpu_ticks: int  # tool process tree


@dataclass
class RunRecord:
    cmd: list[str]
    returncode: int
    wall_s: float  # launch to exit
    requests: int  # answered by nginx during the run (stub_status delta)
    window_s: float  # first to last request nginx saw (from the 100 ms samples)
    rps: float  # requests / window_s
    cpu_s: float  # whole process tree, user+sys, launch to exit
    user_s: float | None  # the user / system split of cpu_s (None when only the tree samples had it)
    sys_s: float | None
    cpu_us_per_req: float
    steady_cpu_us_per_req: float | None  # middle of the load window only (no start-up)
    max_active: int
    stdout: str
    stderr: str
    nginx_cpu_s: float | None = None  # nginx master+worker during the run
    other_cpu_s: float | None = None  # busy CPU on the machine not from tool, nginx or harness
    irq_cpu_s: float | None = None  # irq+softirq time of the machine during the run
    tool_wait_s: float | None = None  # the tool's threads: time runnable but not running
    nginx_wait_s: float | None = None  # nginx's likewise (both: how much other work delayed them)
    samples: list[Sample] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("samples", "stdout", "stderr")}
        return d


def _load_window(samples: list[Sample], base: int, final: int) -> tuple[float, float]:
    """Estimate when load started and ended from the request counter samples: each edge
    is put half-way between the two samples around it (error <= half the interval)."""
    t0 = t1 = None
    for prev, cur in zip(samples, samples[1:]):
        if t0 is None and cur.requests > base:
            t0 = (prev.t + cur.t) / 2
        if cur.requests >= final and prev.requests < final:
            t1 = (prev.t + cur.t) / 2
            break
    if t0 is None:
        return 0.0, 0.0
    if t1 is None:
        t1 = samples[-1].t
    return t0, t1


def cpu_stat() -> tuple[int, int]:
    """(task ticks, interrupt ticks) of the whole machine from /proc/stat's cpu line:
    user+nice+system+steal, and irq+softirq (loopback TCP work done in softirq is
    charged there, not to the process that caused it)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice (guest is in user)
    return v[0] + v[1] + v[2] + v[7], v[5] + v[6]


def wait_for_quiet(max_busy: float = 0.15, window: float = 1.0, max_wait: float = 120.0) -> float:
    """Wait until the machine is quiet: at most `max_busy` cores busy (tasks + irq) over
    `window` seconds, for up to `max_wait` seconds. Returns the seconds waited; logs
    when it had to wait. Other people's jobs on a small box would otherwise land in
    the middle of a run."""
    t0 = time.monotonic()
    warned = False
    while True:
        a, ai = cpu_stat()
        time.sleep(window)
        b, bi = cpu_stat()
        busy = (b - a + bi - ai) / CLK_TCK / window
        waited = time.monotonic() - t0
        if busy <= max_busy:
            return waited
        if waited >= max_wait:
            log(f"machine still busy ({busy:.2f} cores) after {waited:.0f}s; running anyway")
            return waited
        if not warned:
            log(f"machine busy ({busy:.2f} cores used by other processes); waiting for it to calm down")
            warned = True


def run_monitored(
    cmd: list[str],
    stub: StubClient,
    timeout: float,
    interval: float = 0.1,
    env: dict | None = None,
    cwd: str | Path | None = None,
    log_prefix: Path | None = None,
    on_sample=None,
    nginx_pid: int | None = None,
) -> RunRecord:
    """Run `cmd` to completion while sampling nginx and the tool's CPU every `interval`.

    The final CPU time is read from /proc/PID/stat of the exited (not yet reaped)
    process, so it includes every child the tool waited for; the last tree sample is
    used instead if that is larger (children the tool did not reap)."""
    out_path = (log_prefix.with_suffix(".stdout") if log_prefix else None)
    err_path = (log_prefix.with_suffix(".stderr") if log_prefix else None)
    tmp = None
    if log_prefix is None:
        tmp = Path(tempfile.mkdtemp(prefix="driver-bench-run-"))
        out_path, err_path = tmp / "stdout", tmp / "stderr"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    busy0, irq0 = cpu_stat()
    ngx0 = tree_cpu_ticks(nginx_pid) if nginx_pid else 0
    ngx_wait0 = sum(tree_sched_waits(nginx_pid).values()) if nginx_pid else 0
    tool_waits: dict[int, int] = {}
    own0 = sum(os.times()[:2])
    before = stub.read()
    base = before.requests_excluding_polls
    samples: list[Sample] = []
    with open(out_path, "wb") as so, open(err_path, "wb") as se:
        t_launch = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    samples.append(Sample(0.0, base, before.active - 1, 0))
    pid = proc.pid
    last_tree = 0
    killed = False
    next_t = t_launch + interval
    while True:
        res = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if res is not None:
            break
        now = time.monotonic()
        if now - t_launch > timeout and not killed:
            log(f"timeout after {timeout:.0f}s, sending SIGINT then SIGKILL: {shlex.join(cmd)}")
            _kill_tree(pid)
            killed = True
        if now >= next_t:
            tree = tree_cpu_ticks(pid)
            last_tree = max(last_tree, tree)
            tool_waits.update(tree_sched_waits(pid))
            st = stub.read()
            s = Sample(time.monotonic() - t_launch, st.requests_excluding_polls, st.active - 1, tree)
            samples.append(s)
            if on_sample:
                on_sample(s, pid)
            next_t += interval
            if next_t < time.monotonic():
                next_t = time.monotonic() + interval
        time.sleep(min(0.01, max(0.0, next_t - time.monotonic())))
    wall = time.monotonic() - t_launch
    final_ticks = cpu_ticks(pid) or 0  # zombie: own time + all reaped children
    split = cpu_split_ticks(pid)
    tool_waits.update(tree_sched_waits(pid))
    proc.wait()
    after = stub.read()
    final = after.requests_excluding_polls
    ngx_s = (tree_cpu_ticks(nginx_pid) - ngx0) / CLK_TCK if nginx_pid else None
    ngx_wait = (sum(tree_sched_waits(nginx_pid).values()) - ngx_wait0) / 1e9 if nginx_pid else None
    own_s = sum(os.times()[:2]) - own0
    busy1, irq1 = cpu_stat()
    irq_s = (irq1 - irq0) / CLK_TCK
    # a process's stime includes the softirq ticks that landed while it ran, so irq
    # time belongs in the machine total that the tool's and nginx's times are taken from
    busy_s = (busy1 - busy0) / CLK_TCK + irq_s
    samples.append(Sample(wall, final, after.active - 1, max(final_ticks, last_tree)))
    requests = final - base
    t0, t1 = _load_window(samples, base, final)
    window = max(t1 - t0, 1e-9)
    cpu_s = max(final_ticks, last_tree) / CLK_TCK
    steady = None
    if window > 2.0:
        lo, hi = t0 + 0.2 * window, t1 - 0.1 * window
        mid = [s for s in samples[1:-1] if lo <= s.t <= hi]
        if len(mid) >= 2 and mid[-1].requests > mid[0].requests:
            steady = (mid[-1].cpu_ticks - mid[0].cpu_ticks) / CLK_TCK / (mid[-1].requests - mid[0].requests) * 1e6
    rec = RunRecord(
        cmd=cmd,
        returncode=proc.returncode,
        wall_s=wall,
        requests=requests,
        window_s=window,
        rps=requests / window if requests else 0.0,
        cpu_s=cpu_s,
        user_s=_split_part(split, 0, final_ticks, last_tree),
        sys_s=_split_part(split, 1, final_ticks, last_tree),
        cpu_us_per_req=cpu_s / requests * 1e6 if requests else float("nan"),
        steady_cpu_us_per_req=steady,
        max_active=max(s.active for s in samples),
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        samples=samples,
        nginx_cpu_s=ngx_s,
        irq_cpu_s=irq_s,
        tool_wait_s=sum(tool_waits.values()) / 1e9,
        nginx_wait_s=ngx_wait,
    )
    tool_s = max(final_ticks, last_tree) / CLK_TCK
    rec.other_cpu_s = busy_s - tool_s - (ngx_s or 0.0) - own_s
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return rec


def _split_part(split, i: int, final_ticks: int, last_tree: int) -> float | None:
    """User (i=0) or system (i=1) seconds of the tool. The split comes from the exited
    process's own stat; when the live-tree samples saw more CPU (a child the tool did
    not reap, such as multiprocessing's resource tracker) the difference is shared out
    in the same proportion, if it is small (< 5 %)."""
    if not split or not final_ticks:
        return None
    total = max(final_ticks, last_tree)
    if total > final_ticks * 1.05:
        return None
    return split[i] * total / final_ticks / CLK_TCK


def _kill_tree(pid: int) -> None:
    tree = process_tree(pid)
    for p in tree:
        try:
            os.kill(p, signal.SIGINT)
        except ProcessLookupError:
            pass
    time.sleep(3)
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------- driver CLI


@dataclass
class DriverSetup:
    """How the benchmarks run driver: command prefix, environment, working directory,
    and a line saying which code it is."""

    cmd: list[str]
    env: dict
    cwd: Path
    source: str


def add_driver_args(ap) -> None:
    ap.add_argument("--driver-src", choices=["head", "copy", "tree"], default="head",
                    help="which driver to run: head = a private clean build of the committed HEAD "
                         "(default); copy = a private copy of the working tree's driver/ with its built "
                         "extensions; tree = the working tree itself (other people's rebuilds of "
                         "driver/*.so can then crash or change a run)")
    ap.add_argument("--driver-cmd", default=None,
                    help="command that runs driver, e.g. 'driver' (default: $DRIVER_CMD, else "
                         "`python -m driver.cli` from the --driver-src code)")
    ap.add_argument("--driver-args", default="", help="extra arguments appended to `driver run`")


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_DIR), *args], capture_output=True, text=True,
                          timeout=60, check=True).stdout.strip()


def prepare_driver(src: str = "head", cmd_spec: str | None = None, rev: str | None = None) -> DriverSetup:
    """Snapshot driver so that a rebuild of driver/*.so in the shared working tree during
    a run can neither crash it (an extension overwritten under a running process) nor
    change what is measured half-way. `rev` (with src "head"): build that commit instead
    of HEAD, e.g. the code before a change, to measure both in one run."""
    spec = cmd_spec or os.environ.get("DRIVER_CMD")
    if src == "tree":
        root, source = REPO_DIR, f"working tree at git {git_revision()}"
    elif src == "copy":
        root = OUT_DIR / f"driver-copy-{time.strftime('%Y%m%d-%H%M%S')}"
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO_DIR / "driver", root / "driver",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        source = f"copy of the working tree's driver/ at git {git_revision()}"
    else:
        head = _git("rev-parse", "HEAD")
        rev = _git("rev-parse", "--verify", (rev or "HEAD") + "^{commit}")
        root = OUT_DIR / f"driver-build-{rev[:12]}"
        built = root / ".built"
        if not built.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            log(f"building driver at {rev[:12]}{' (git HEAD)' if rev == head else ''} in {root}")
            archive = subprocess.run(["git", "-C", str(REPO_DIR), "archive", rev], capture_output=True,
                                     check=True, timeout=120).stdout
            subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True, timeout=120)
            p = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=root,
                               capture_output=True, text=True, timeout=900)
            if p.returncode != 0:
                raise RuntimeError(f"building driver at {rev[:12]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
            built.write_text(rev + "\n")
        source = f"clean build of git {rev[:7]}" + (" (HEAD)" if rev == head else "")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if spec:
        cmd = shlex.split(spec)
        source += f"; run as `{spec}`"
    else:
        cmd = [sys.executable, "-m", "driver.cli"]
    return DriverSetup(cmd=cmd, env=env, cwd=Path(root), source=source)


def driver_run_help(d: DriverSetup) -> tuple[bool, str]:
    """(works, help text) of `driver run --help`."""
    try:
        p = subprocess.run(d.cmd + ["run", "--help"], capture_output=True, text=True, timeout=60,
                           env=d.env, cwd=d.cwd)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    text = p.stdout + p.stderr
    return p.returncode == 0 and "--body-file" in text, text


def find_flag(help_text: str, *candidates: str) -> str | None:
    for c in candidates:
        if re.search(r"(^|[\s,])" + re.escape(c) + r"\b", help_text):
            return c
    return None


def newest_result_json(outdir: Path) -> dict | None:
    files = sorted(Path(outdir).rglob("result.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    return json.loads(files[-1].read_text())


def driver_extension_state(d: DriverSetup) -> str:
    """Whether driver's compiled modules import (else it runs the pure-Python reference)."""
    code = ("import importlib\n"
            "ok=[]\n"
            "for m in ('driver._recorder','driver._httpparse'):\n"
            "    try:\n"
            "        importlib.import_module(m); ok.append(m.split('.')[-1]+' compiled')\n"
            "    except Exception as e:\n"
            "        ok.append(m.split('.')[-1]+' NOT compiled')\n"
            "print(', '.join(ok))")
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=d.env, cwd=d.cwd)
        return p.stdout.strip() or p.stderr.strip()[-200:]
    except Exception as e:  # noqa: BLE001 - informational only
        return f"unknown ({e})"


# --------------------------------------------------------------------------- environment


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "os": _os_release(),
    }


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()


def _first_line(cmd: list[str], pattern: str | None = None) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (p.stdout + "\n" + p.stderr).strip()
    if pattern:
        m = re.search(pattern, text)
        return m.group(0) if m else text.splitlines()[0] if text else "unknown"
    return text.splitlines()[0] if text else "unknown"


def _dpkg_version(pkg: str) -> str | None:
    try:
        p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, timeout=10)
        return p.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _py_version(module: str, d: DriverSetup | None = None) -> str:
    code = f"import {module} as m; print(getattr(m, '__version__', '?'))"
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=d.env if d else None, cwd=d.cwd if d else tempfile.gettempdir())
        return p.stdout.strip() or "not importable"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "driver", "ext"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" + uncommitted changes in driver/ or ext/" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def tool_versions(tools: list[str], d: DriverSetup | None = None) -> dict[str, str]:
    v = {"python": sys.version.split()[0]}
    if "pgbench" in tools:  # run_pg.py: PostgreSQL's client and server, and the asyncpg under driver
        v["pgbench"] = _first_line(["pgbench", "--version"], r"pgbench \(PostgreSQL\) \S+")
        v["asyncpg"] = _py_version("asyncpg")
    else:
        v["nginx"] = _first_line(["nginx", "-v"], r"nginx/\S+")
    if "wrk" in tools:
        v["wrk"] = _first_line(["wrk", "--version"], r"wrk \S+")
    if "hey" in tools:
        v["hey"] = "hey " + (_dpkg_version("hey") or "unknown") + " (Debian package)"
    if "locust" in tools:
        v["locust"] = _first_line([sys.executable, "-m", "locust", "--version"], r"locust \S+")
        v["geventhttpclient"] = _py_version("geventhttpclient")
    if "driver" in tools or "bare" in tools:
        v["uvloop"] = _py_version("uvloop")
    if "driver" in tools and d is not None:
        v["driver"] = f"{_py_version('driver', d)} ({d.source}; {driver_extension_state(d)})"
        v["orjson"] = _py_version("orjson")
        v["numpy"] = _py_version("numpy")
    return v


# --------------------------------------------------------------------------- markdown


def median(xs):
    xs = [x for x in xs if x is not None and x == x]
    return statistics.median(xs) if xs else None


def fmt_num(x, digits: int = 0) -> str:
    if x is None or x != x:
        return "–"
    return f"{x:,.{digits}f}"


def fmt_ns(ns) -> str:
    if ns is None or ns != ns:
        return "–"
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.0f} µs"
    return f"{ns:.0f} ns"


def md_table(headers: list[str], rows: list[list], align: list[str] | None = None) -> str:
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:
        lines.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(lines)


RESULTS_HEADER = """# driver benchmarks — results

Written by the scripts in this directory (see README.md); each section is
replaced in place by the script named in it, the others are left as they are.
"""


def update_section(path: Path, name: str, content: str) -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` in path
    (append the section if it is not there yet; create the file if needed)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{content.rstrip()}\n{end}"
    path = Path(path)
    text = path.read_text() if path.exists() else RESULTS_HEADER
    if begin in text and end in text and text.index(begin) < text.index(end):
        i, j = text.index(begin), text.index(end) + len(end)
        text = text[:i] + block + text[j:]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def now_stamp() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def environment_block(tools: list[str], argv: list[str], d: DriverSetup | None = None,
                      sched: str | None = None) -> str:
    m = machine_info()
    v = tool_versions(tools, d)
    lines = [
        f"- Date: {now_stamp()}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM; {m['os']}, Linux {m['kernel']}",
        "- Versions: " + "; ".join(f"{k} {val}" if not val.startswith(k) else val for k, val in v.items()),
        f"- Command: `{shlex.join(['python'] + [os.path.relpath(argv[0], REPO_DIR)] + argv[1:])}` (from the repository root)",
    ]
    if sched:
        lines.append(f"- Scheduling: {sched}")
    return "\n".join(lines)


def parse_duration(s: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(s))
    if not m:
        raise ValueError(f"bad duration {s!r} (use e.g. 10, 10s, 2m)")
    n, unit = float(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def dur_arg(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


# --------------------------------------------------------------------------- memory sampling


@dataclass
class RssSample:
    t: float  # seconds since launch
    parent_kb: int
    workers_kb: int
    helpers_kb: int
    n_workers: int
    requests: int  # nginx requests so far (harness reads removed)
    active: int  # nginx active connections (harness connection removed)

    @property
    def total_kb(self) -> int:
        """parent + workers (multiprocessing helpers such as the resource tracker left out)"""
        return self.parent_kb + self.workers_kb


class RssSampler:
    """on_sample callback for run_monitored: VmRSS of a driver process tree every `every` s."""

    def __init__(self, every: float = 1.0):
        self.every = every
        self.samples: list[RssSample] = []
        self._next = 0.0

    def __call__(self, s: Sample, root: int) -> None:
        if s.t < self._next:
            return
        self._next = s.t + self.every
        tree = classify_tree(root)
        kb = lambda pids: sum(rss_kb(p) or 0 for p in pids)  # noqa: E731
        self.samples.append(RssSample(s.t, kb(tree["parent"]), kb(tree["workers"]), kb(tree["helpers"]),
                                      len(tree["workers"]), s.requests, s.active))


def load_window(rec: RunRecord) -> tuple[float, float]:
    """(start, end) of the load in seconds since launch, from the request samples."""
    base, final = rec.samples[0].requests, rec.samples[-1].requests
    return _load_window(rec.samples, base, final)


def mb(kb) -> str:
    return "–" if kb is None else f"{kb / 1024:.1f}"


# driver exits 4 when it judges its own run not valid. A saturation benchmark makes the
# load generator CPU-bound on purpose, so there that verdict is expected, not a failure.
EXIT_INVALID = 4


def driver_exit_ok(returncode: int, result: dict | None) -> bool:
    """0, or 4 where the only reasons are the generator being CPU-bound (by design here)."""
    if returncode == 0:
        return True
    validity = (result or {}).get("validity") or {}
    reasons = validity.get("reasons") or ["?"]
    return (returncode == EXIT_INVALID and validity.get("valid") is False
            and all("cpu-bound" in r.lower() for r in reasons))
