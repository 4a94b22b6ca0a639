"""py-spy profiles of driver's worker for run_scenario.py: attach, read, summarise.

`PySpyAttach` is an on_sample hook of common.run_monitored that attaches
`py-spy record` to the worker once the load is steady. The rest reads the raw
collapsed stacks (`-f raw`, flamegraph.pl input) into tables: self and inclusive
shares by function, the hottest lines, and the share of each *category* of work
(kernel write, body generation, encoding, ...; each sample goes to the first category
that matches one of its frames).
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import common as c

class PySpyAttach:
    """on_sample hook for run_monitored: once the load has run `start_s` seconds, attach
    `py-spy record` to driver's worker for `length_s` seconds (raw collapsed stacks)."""

    def __init__(self, run_dir: Path, start_s: float, length_s: float, rate: int, native: bool):
        self.path = run_dir / "pyspy.txt"
        self.log = run_dir / "pyspy.log"
        self.start_s, self.length_s, self.rate, self.native = start_s, length_s, rate, native
        self.proc: subprocess.Popen | None = None
        self.worker: int | None = None

    def __call__(self, s: c.Sample, root: int) -> None:
        if self.proc is not None or s.t < self.start_s:
            return
        workers = c.classify_tree(root)["workers"]
        if not workers:
            return
        self.worker = workers[0]
        cmd = ["py-spy", "record", "--pid", str(self.worker), "-d", str(max(1, int(self.length_s))),
               "-r", str(self.rate), "-f", "raw", "-o", str(self.path)]
        if self.native:
            cmd.append("--native")
        else:
            cmd.append("--nonblocking")
        with open(self.log, "wb") as lf:
            self.proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def finish(self) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_FRAME = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
# scaffolding every sample passes through (process start, event loop, task stepping)
_SCAFFOLD = re.compile(r"^(<module>|_main|spawn_main|BaseProcess\.|worker_main|Runner\.run|run |"
                       r"run_until_complete|run_forever|Loop__|Handle__run|task_step|uv_run|uv__run_idle|"
                       r"loop_cb_idle_callback|Py_X?DECREF|uv__queue_empty|0x[0-9a-f]+ )")
_LOOP_INTERNAL = re.compile(r"\((loop|stream|linux|core|queue|loop-watcher)\.c\)$")  # uvloop/libuv C frames

def _in(fs, *prefixes: str) -> bool:
    return any(f.startswith(prefixes) for f in fs)


def _body(fs) -> bool:
    """Body generation: the YAML step's renderer, or any frame of driver.payloads (templates'
    generated functions report the file `driver/payloads/<template>`)."""
    return _in(fs, "_Step._body ") or any("driver/payloads/" in f for f in fs)


# Where a worker sample goes, first matching rule wins: (label, test on (leaf, frames)).
CATEGORIES = [
    ("kernel: write() sending the request (with the loopback receive work it triggers)",
     lambda leaf, fs: leaf.startswith("write (libc")),
    ("kernel: read() and epoll_wait()",
     lambda leaf, fs: leaf.startswith(("read (libc", "epoll_pwait (libc", "epoll_wait (libc"))),
    ("generating the body (driver.payloads: Telegram updates, templates, orjson)", lambda leaf, fs: _body(fs)),
    ("checking the answer (`Response.expect`, `record_checks`)",
     lambda leaf, fs: _in(fs, "Response.expect ", "HttpSession.record_checks ")),
    ("building the `Response` (header dict)", lambda leaf, fs: _in(fs, "Response.__init__")),
    ("encoding the request head (`ScenarioEngine.encode`)", lambda leaf, fs: _in(fs, "ScenarioEngine.encode ")),
    ("rest of `HttpSession.request` (slot lookup, header merge, future, send)",
     lambda leaf, fs: _in(fs, "HttpSession.request ")),
    ("picking the task (`random.choices`)", lambda leaf, fs: _in(fs, "Random.choices ")),
    ("receiving (`Connection.data_received`: parser, recorder, waking the user)",
     lambda leaf, fs: _in(fs, "Connection.data_received ")),
    ("everything else (event loop, task steps, the coroutine chain of a request)", lambda leaf, fs: True),
]


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    if not path.exists():
        return stacks
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rstrip().rpartition(" ")
        if stack and n.isdigit():
            stacks.append((stack.split(";"), int(n)))
    return stacks


def func_of(frame: str, with_line: bool = False) -> str:
    """'name (file:line)' -> 'name (file)' (or with the line); native 'write (libc.so.6)' as it is."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    name, where, line = m.groups()
    if line and with_line:
        return f"{name} ({where}:{line})"
    return f"{name} ({where})"


def profile_tables(stacks, top: int = 15) -> tuple[int, list, list, list]:
    """(samples, self by function, self by line, inclusive by function) as [(name, share)]."""
    total = sum(n for _, n in stacks)
    if not total:
        return 0, [], [], []
    self_f, self_l, incl = Counter(), Counter(), Counter()
    for frames, n in stacks:
        self_f[func_of(frames[-1])] += n
        self_l[func_of(frames[-1], True)] += n
        for f in {func_of(x) for x in frames}:
            incl[f] += n
    share = lambda cnt: [(k, v / total) for k, v in cnt.most_common()]  # noqa: E731
    inclusive = [(k, s) for k, s in share(incl) if not _SCAFFOLD.match(k) and not _LOOP_INTERNAL.search(k)]
    return total, share(self_f)[:top], share(self_l)[:top], inclusive[:top + 10]


def profile_categories(stacks) -> list[tuple[str, float]]:
    """[(category, share of the samples)] in CATEGORIES order, empty ones left out."""
    total = sum(n for _, n in stacks)
    cnt = Counter()
    for frames, n in stacks:
        fs = [func_of(f) for f in frames]
        for label, test in CATEGORIES:
            if test(fs[-1], fs):
                cnt[label] += n
                break
    return [(label, cnt[label] / total) for label, _ in CATEGORIES if cnt[label]] if total else []


def categories_table(prof: dict, tools: list[str]) -> str:
    """Shares and µs/request (share x the profiled run's CPU µs/request) per category, per tool."""
    tools = [t for t in tools if prof.get(t, {}).get("stacks")]
    cats = {t: dict(profile_categories(prof[t]["stacks"])) for t in tools}
    cpu = {t: prof[t]["run"].get("cpu_us_per_req") for t in tools}
    rows = []
    for label, _ in CATEGORIES:
        if not any(label in cats[t] for t in tools):
            continue
        row = [label]
        for t in tools:
            sh = cats[t].get(label)
            row += ["–" if sh is None else f"{sh:.1%}",
                    "–" if sh is None or not cpu[t] else f"{sh * cpu[t]:.2f}"]
        rows.append(row)
    row = ["total"]
    for t in tools:
        row += ["100%", c.fmt_num(cpu[t], 2)]
    rows.append(row)
    heads = ["where the worker's samples go"]
    for t in tools:
        heads += [f"{t}: share", f"{t}: ≈ µs/request"]
    return c.md_table(heads, rows)


def profile_markdown(name: str, stacks, run: dict | None, top: int = 15) -> str:
    total, self_f, self_l, incl = profile_tables(stacks, top)
    if not total:
        return f"*{name}: no profile samples (is py-spy installed, and allowed to attach?)*"
    head = f"**{name}** — {total:,} samples of driver's worker"
    if run:
        head += (f" (this run, under the profiler: {run['rps']:,.0f} req/s, "
                 f"{run['cpu_us_per_req']:.2f} CPU µs/request)")
    width = max(len(self_f), len(incl))
    rows = []
    for i in range(width):
        a = self_f[i] if i < len(self_f) else ("", None)
        b = incl[i] if i < len(incl) else ("", None)
        rows.append([f"`{a[0]}`" if a[0] else "", f"{a[1]:.1%}" if a[1] is not None else "",
                     f"`{b[0]}`" if b[0] else "", f"{b[1]:.1%}" if b[1] is not None else ""])
    lines = [head, "", c.md_table(["self (function)", "share", "inclusive (function, event-loop scaffolding left out)",
                                   "share"], rows, ["l", "r", "l", "r"]), "",
             "Hottest lines (self): " + "; ".join(f"`{k}` {s:.1%}" for k, s in self_l[:8]) + "."]
    return "\n".join(lines)
