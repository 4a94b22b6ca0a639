"""The plan: everything a run needs, validated once in the parent, frozen and picklable.

Workers receive the plan as it is (spawn-safe: no globals), so everything here is
plain data, and nothing here imports from above it. The parsers of single values
(URL, header, duration, stage) live here too; `driver.planning` turns user input
(flags, a config file, a profile) into a Plan with them.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from driver import __version__
from driver.errors import PlanError
from driver.shapes import Shape
from driver.durations import parse_duration
from driver.limits import read_regular
from driver.masking import MASK, SECRET_HEADERS, mask_secrets, mask_url
from driver.mock.faults import Faults
from driver.replies.rules import ReplyRules
from driver.replies.tiers import TierRule

if TYPE_CHECKING:  # types only: both modules sit above the plan
    from driver.payloads.catalog import Command
    from driver.stats.thresholds import Threshold

CLOSED = "closed"  # virtual users, each: request -> response -> think -> request
OPEN = "open"  # arrivals per second on a schedule, latency from the intended start

DEFAULT_DURATION_S = 10.0
DEFAULT_USERS = 10
DEFAULT_MAX_IN_FLIGHT = 1000
# Any count or rate: 1e15 is exact in a float and in JSON, fits the int64 counters, and
# lasts 30 years at a million requests a second. The machine's own ceilings are in limits.
MAX_COUNT = 10**15
BOT_SIDE_SLOTS = 48  # api: methods, chaos: probes and faults, "other"
MAX_BODY_BYTES = 64 * 2**20  # every request carries the whole body, built once into each worker
_TOKEN_CHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"  # what an HTTP header name is made of (RFC 9110 tchar)
_TOKEN = re.compile(rf"^{_TOKEN_CHAR}+$")
_METHOD = re.compile(r"^[A-Z]+$")


PLATFORMS = ("telegram", "whatsapp")
HTTP_SCHEMES = ("http", "https")
WS_SCHEMES = ("ws", "wss")
WS_CONNECT = "ws:connect"  # the endpoint of WebSocket handshakes (driver.engine.ws)
WS_LIFETIME = "ws:lifetime"  # each WebSocket connection's time from its handshake to its close
REPLY_CHANNELS = ("webhook", "api", "both")


@dataclass(frozen=True)
class MockSpec:
    """A mock platform API the run starts in its own process (driver.runner.botside)."""

    platform: str = "telegram"  # one of PLATFORMS
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, said in the result (the bot must be pointed at a fixed one)
    faults: Faults = Faults()  # standing faults; chaos windows apply theirs on top
    seed: int | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class ReplySpec:
    """How the bot's replies are followed: where they come (`channel`: in the webhook
    response, as calls to the platform API (the mock), or both), how long driver waits
    for one, how they are judged (rules, tiers)."""

    channel: str = "api"
    timeout_s: float = 10.0  # no reply by then (from the intended send): reply_missing
    settle_s: float = 0.25  # an answer is complete this long after its last message (multi-message answers)
    rules: ReplyRules = ReplyRules()
    tiers: TierRule = TierRule()

    @property
    def via_api(self) -> bool:
        return self.channel in ("api", "both")

    @property
    def via_webhook(self) -> bool:
        return self.channel in ("webhook", "both")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def websocket(self) -> bool:
        return self.scheme in WS_SCHEMES

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host_header}"


@dataclass(frozen=True)
class RequestSpec:
    """One request the load sends, and the endpoint name its stats are grouped under."""

    name: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self, target: Target) -> bytes:
        """The request as bytes on the wire, built once per plan (HTTP/1.1, keep-alive)."""
        names = {k.lower() for k, _ in self.headers}
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {target.host_header}"]
        if "user-agent" not in names:
            lines.append(f"User-Agent: driver/{__version__}")
        if "accept" not in names:
            lines.append("Accept: */*")
        lines += [f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length"]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"


@dataclass(frozen=True)
class WsSpec:
    """A WebSocket run (a ws:// or wss:// URL): each unit holds one connection and sends
    the request's body as one message, text or `binary`, then waits for the next message
    from the server (driver.engine.ws). The request's headers go with the handshake."""

    binary: bool = False


@dataclass(frozen=True)
class InprocSpec:
    """An in-process run (python://SPEC, or the config's target.python): each unit calls a
    Python callable in its worker (driver.engine.inproc). Callables are "module:function"
    or "file.py:function" texts, imported in each worker; the endpoint is `name`."""

    call: str  # what each unit calls
    name: str  # the endpoint its stats are grouped under
    setup: str | None = None  # once per worker before the load; what it returns is ctx.component
    teardown: str | None = None  # once per worker after the load (given the component when it takes one)
    rejected: tuple[str, ...] = ()  # exception class names that are an expected refusal
    rejected_when: str | None = None  # a predicate on the return value: true -> rejected
    classify: str | None = None  # result or exception -> "ok" | "rejected" | "error"
    thread: bool = False  # a sync callable runs in a thread (default: inline, on the loop)
    base_dir: str = "."  # relative files resolve from here
    mix: tuple[str, ...] = ()  # endpoints of further callables in a weighted mix (driver.runner.inline)


@dataclass(frozen=True)
class ThinkTime:
    """Pause between a virtual user's iterations: constant(a), between(a, b), or pacing(a).

    pacing(a) is a fixed iteration period: the pause is whatever is left of `a` seconds
    after the iteration's own time (0 when the iteration took longer).
    """

    kind: str = "constant"  # "constant" | "between" | "pacing"
    a: float = 0.0
    b: float = 0.0

    def pause(self, iteration_s: float, rand) -> float:
        if self.kind == "between":
            return self.a + (self.b - self.a) * rand()
        if self.kind == "pacing":
            return max(0.0, self.a - iteration_s)
        return self.a


@dataclass(frozen=True)
class UserPoolSpec:
    """Synthetic users: unique ids across workers, tiers drawn by weight, deterministic from seed."""

    size: int | None = None  # None: as many as the peak of virtual users
    seed: int = 1
    tiers: tuple[tuple[str, float], ...] = (("free", 0.80), ("premium", 0.15), ("admin", 0.05))
    languages: tuple[str, ...] = ("en", "es", "de", "pt", "ru")


@dataclass(frozen=True)
class ScenarioSpec:
    """What a virtual user does: a Python User class, or tasks and flows declared in YAML.

    YAML tasks are normalised dicts (driver.config.tasks writes them, driver.scenario runs them):
      {"name", "weight", "method", "path", "headers": {name: template},
       "body": None | {"json": obj} | {"text": str} | {"telegram": {...}} | {"whatsapp": {...}},
       "expect": {"status": [int | "2xx", ...], "json": {path: value}, "contains": str, "headers": {n: v}},
       "capture": {var: {"json": path} | {"header": name} | {"regex": pattern}},
       "think": ThinkTime | None}
    A flow is {"name", "weight", "steps": (task, ...)} and is also timed end to end as
    the endpoint "flow:NAME".
    """

    python: str | None = None  # "file.py", "file.py:Class" or "module:Class"
    tasks: tuple = ()
    flows: tuple = ()
    think: ThinkTime = ThinkTime()
    retry_after: str = "ignore"  # on 429 / 503+Retry-After: "honour" (that user backs off) or "ignore"
    base_dir: str = "."  # relative files in the scenario resolve from here
    telegram_secret: str | None = None  # X-Telegram-Bot-Api-Secret-Token for generated updates
    whatsapp_app_secret: str | None = None  # signs WhatsApp bodies (X-Hub-Signature-256)
    bot_username: str | None = None  # the bot's @name in /cmd@bot and mentions (None: the generator's)


@dataclass(frozen=True)
class OutputSpec:
    """Where the results go: a directory (each run gets its own under it) and the formats."""

    dir: str | None = None  # None: the CLI's default (./driver-results)
    formats: tuple[str, ...] | None = None  # None: json and html
    hlog: bool = False  # --hlog / output.hlog: latency.hlog, HdrHistogram interval logs (driver.reports.hlog)


@dataclass(frozen=True)
class Plan:
    target: Target
    requests: tuple[RequestSpec, ...]
    mode: str  # CLOSED or OPEN
    shape: Shape  # users (closed) or arrivals/s (open) over time
    duration_s: float | None  # None: until max_requests are done
    max_requests: int | None
    workers: int
    think_s: float = 0.0
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 30.0
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT  # open loop: cap over all workers
    grace_s: float = 3.0  # at the end: how long in-flight requests may still finish
    scenario: ScenarioSpec | None = None  # None: the fast path, `requests` on every connection
    user_pool: UserPoolSpec = UserPoolSpec()
    thresholds: tuple[Threshold, ...] = ()  # parsed SLOs, each with its text and where it was given
    secrets: tuple[str, ...] = ()  # values never printed or written (masked as MASK)
    max_endpoints: int = 64  # endpoint slots per worker; names beyond them go to "other"
    profile: str | None = None
    insecure: bool = False  # TLS certificates are not verified
    base_path: str = ""  # put before a Python scenario's paths: the URL's path ("/api"), no trailing "/"
    output: OutputSpec = OutputSpec()
    config_path: str | None = None  # the config file the plan was read from
    catalog: tuple[Command, ...] | None = None  # the config's bot commands (driver.scenario.telegram)
    watch_pids: tuple[int, ...] = ()  # --watch-pid: the target's processes sampled every second
    mock: MockSpec | None = None  # a mock platform API started with the run (its own process)
    replies: ReplySpec | None = None  # bot replies followed end to end (driver.replies)
    metrics_urls: tuple[str, ...] = ()  # --metrics-url: the target's Prometheus endpoints, scraped every second
    metric_names: tuple[str, ...] = ()  # --metric: the series kept from them (driver.stats.exposition.Selector)
    chaos: tuple = ()  # the config's chaos timeline: driver.chaos.timeline.ChaosEvent, by start
    ws: WsSpec | None = None  # a WebSocket run: `requests[0]` is its message (driver.engine.ws)
    # several workloads in one run (a config's `scenarios:`): each group is a whole Plan of
    # its own load, run at the same time in the same workers, recorded in blocks of its own
    groups: tuple[Group, ...] = ()
    shard: tuple[int, int] | None = None  # --shard: (index, count), this box runs slice index of count (driver.planning.shard)
    start_at: float | None = None  # --start-at: the agreed start of the load, epoch seconds
    inproc: InprocSpec | None = None  # an in-process run: units call a Python callable (driver.engine.inproc)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Endpoint names known at plan time, in slot order (a grouped run: every
        group's, in group order, each name once)."""
        if self.groups:
            return tuple(dict.fromkeys(n for g in self.groups for n in g.plan.endpoints))
        if self.scenario is not None:
            return scenario_endpoints(self.scenario)
        if self.ws is not None:  # round trips, then handshakes
            return (self.requests[0].name, WS_CONNECT, WS_LIFETIME)
        if self.inproc is not None:
            return (self.inproc.name, *self.inproc.mix)
        return tuple(r.name for r in self.requests)

    @property
    def endpoint_slots(self) -> int:
        """Endpoint slots per worker block: the known names, room for names met at run
        time (Python scenarios), and the overflow slot "other"."""
        if self.groups:  # the workers' own blocks hold the first group (each group has blocks of its own size)
            return self.groups[0].plan.endpoint_slots
        if self.scenario is None:
            slots = known = len(self.endpoints)
        else:
            known = len(self.endpoints) + (self.mode == OPEN)  # open loop: the "iteration" endpoint
            slots = max(self.max_endpoints, known + 2) if self.scenario.python else known + 1
        if self.has_bot_side:  # its block: reply:, reply_last:, api: and chaos: endpoints
            slots = max(slots, 2 * len(self.catalog or ()) + 2 * known + BOT_SIDE_SLOTS)
        return slots

    @property
    def has_bot_side(self) -> bool:
        """Whether the run starts the bot-side process (a mock, replies followed at it, a
        chaos timeline)."""
        return self.mock is not None or bool(self.chaos)

    def describe(self) -> dict:
        """The plan as JSON-ready data: secret header values and every secret value masked."""
        described = mask_secrets(self._describe(), self.secrets)
        if self.shard is not None:  # one slice of a plan run on several boxes: which, and of what plan
            described["shard"] = {"index": self.shard[0], "count": self.shard[1], "start_at": self.start_at,
                                  "fingerprint": fingerprint(described)}
        return described

    def _describe(self) -> dict:
        if self.groups:
            return self._describe_groups()
        scenario = None
        if self.scenario is not None:
            sc = self.scenario
            scenario = {
                "python": sc.python,
                "tasks": [t["name"] for t in sc.tasks],
                "flows": [f["name"] for f in sc.flows],
                "think": [sc.think.kind, sc.think.a, sc.think.b],
                "retry_after": sc.retry_after,
                "bot_username": sc.bot_username,
            }
        return {
            "scenario": scenario,
            "profile": self.profile,
            "thresholds": [th.text for th in self.thresholds],
            "target": self.target.base_url,
            "insecure": self.insecure,
            "watch_pids": list(self.watch_pids),
            "mock": None if self.mock is None else {
                "platform": self.mock.platform, "url": self.mock.url, "faults": self.mock.faults.to_dict()},
            "replies": None if self.replies is None else {
                "channel": self.replies.channel, "timeout_s": self.replies.timeout_s,
                "settle_s": self.replies.settle_s, "refusal": self.replies.rules.refusal,
                "tiers": self.replies.tiers.by,
                "checks": {k: vars(v) for k, v in self.replies.rules.checks.items()}},
            "metrics_urls": [mask_url(u) for u in self.metrics_urls],
            "metric_names": list(self.metric_names),
            "chaos": [e.to_dict() for e in self.chaos],
            "ws": None if self.ws is None else {"binary": self.ws.binary},
            "mode": self.mode,
            "shape": [list(p) for p in self.shape.points],
            "duration_s": self.duration_s,
            "max_requests": self.max_requests,
            "workers": self.workers,
            "think_s": self.think_s,
            "connect_timeout_s": self.connect_timeout_s,
            "request_timeout_s": self.request_timeout_s,
            "max_in_flight": self.max_in_flight,
            "requests": [
                {
                    "name": r.name,
                    "method": r.method,
                    "path": r.path,
                    "headers": [[k, MASK if k.lower() in SECRET_HEADERS else v] for k, v in r.headers],
                    "body_bytes": len(r.body),
                }
                for r in self.requests
            ],
        }

    def _describe_groups(self) -> dict:
        """A grouped run: the run's own settings, and each group's plan with its name and start."""
        groups = [{"name": g.name, "start_s": g.start_s, **g.plan._describe()} for g in self.groups]
        return {
            "groups": groups,
            "target": self.target.base_url,
            "thresholds": [th.text for th in self.thresholds],
            "profile": None,
            # the validity verdict judges late arrivals when any group is open loop
            "mode": OPEN if any(g.plan.mode == OPEN for g in self.groups) else CLOSED,
            "shape": [],
            "duration_s": self.duration_s,
            "max_requests": None,
            "workers": self.workers,
            "max_in_flight": sum(g.plan.max_in_flight for g in self.groups if g.plan.mode == OPEN) or None,
            "watch_pids": list(self.watch_pids),
            "metrics_urls": [mask_url(u) for u in self.metrics_urls],
            "metric_names": list(self.metric_names),
            "requests": [],
            "scenario": None,
        }


@dataclass(frozen=True)
class Group:
    """One named workload of a grouped run (a config's `scenarios:`): its own plan (target,
    load shape, scenario, thresholds; `plan.workers` is the run's), starting `start_s`
    seconds into the run. Its shape and duration count from that start."""

    name: str
    plan: Plan
    start_s: float = 0.0

    @property
    def end_s(self) -> float | None:
        """When the group's load ends, in seconds from the run's start (None: at its quota)."""
        return None if self.plan.duration_s is None else self.start_s + self.plan.duration_s


def fingerprint(described: dict) -> str:
    """A plan's identity across boxes: the hash of its describe() less the "shard" entry."""
    plain = {k: v for k, v in described.items() if k != "shard"}
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:16]


def job_endpoints(name: str, track: str) -> tuple[str, ...]:
    """The endpoints a job task of `name` records under, in slot order (submission, the
    follow-up, then the aggregates: driver.scenario.jobs)."""
    base = "job:" + name
    if track == "none":
        return (base + ":submit",)
    return (base + ":submit", base + (":poll" if track == "poll" else ":events"), base,
            base + ":first_progress", base + ":processing")


def call_endpoints(name: str, status: bool = True, hangup: bool = True) -> tuple[str, ...]:
    """The endpoints a call task of `name` records under, in slot order (its requests, then
    the aggregates: driver.scenario.calls)."""
    base = "call:" + name
    return (base + ":initiate", *((base + ":status",) if status else ()), *((base + ":hangup",) if hangup else ()),
            base + ":setup", base + ":lateness", base)


def scenario_endpoints(spec: "ScenarioSpec") -> tuple[str, ...]:
    """Names a YAML scenario records under, in a fixed order: tasks (a job or call task's own
    endpoints), then each flow's steps and itself."""
    names: list[str] = []
    for t in spec.tasks:
        if t.get("call"):
            call = t["call"]
            names.extend(call_endpoints(t["name"], call.get("status", "") is not None, call.get("hangup", "") is not None))
        else:
            # a job task's endpoints; else the task's own, and what it also records (a sql: transaction's statements)
            names.extend(job_endpoints(t["name"], t["job"].get("track", "poll")) if t.get("job")
                         else (t["name"], *t.get("also", ())))
    for f in spec.flows:
        for step in f["steps"]:
            names.append(step["name"])
            names.extend(step.get("also", ()))  # a WebSocket connect step: its connection, its pushes
        names.append("flow:" + f["name"])
    return tuple(dict.fromkeys(names))


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_url(url: str, schemes: tuple[str, ...] = HTTP_SCHEMES) -> tuple[Target, str]:
    """(target, path-with-query) from a URL of one of `schemes`; PlanError naming the
    problem otherwise.

    Credentials in the URL (`http://user:password@host/`) are masked in every message.
    """
    shown = repr(mask_url(url))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise PlanError(f"malformed URL {shown}: {mask_url(str(exc))}") from None
    if parts.scheme not in schemes:
        scheme = parts.scheme or "none"
        use = " or ".join(f"{s}://" for s in schemes)
        raise PlanError(f"unsupported URL scheme {scheme!r} in {shown}: use {use}")
    if not parts.hostname:
        raise PlanError(f"malformed URL {shown}: no host")
    if any(c.isspace() for c in url):
        raise PlanError(f"malformed URL {shown}: contains whitespace")
    port = port or (443 if parts.scheme in ("https", "wss") else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port), path


def parse_header(text: str) -> tuple[str, str]:
    """`Name: value` -> (name, value); PlanError that never shows the value (it may be a secret)."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep:
        raise PlanError(f"header {_shown_name(text)} has no colon: use -H 'Name: value'")
    if not name:
        raise PlanError(f"header {_shown_name(text)} has no name before its colon: use -H 'Name: value'")
    if not _TOKEN.match(name):
        raise PlanError(f"header name {_shown_name(name)} is not valid: use letters, digits and "
                        "!#$%&'*+-.^_`|~")
    problem = header_value_problem(value)
    if problem:
        raise PlanError(f"header {name!r} has {problem}")
    return name, value


def header_value_problem(value: str) -> str | None:
    """What is wrong with a header value, in words that do not show it; None if it can be sent.

    HTTP/1.1 field values are visible ASCII, spaces and tabs (RFC 9110 5.5): a line break
    would start a new header, other control characters are sent as they are, and a
    non-ASCII character cannot be encoded on the wire (percent-encode or base64 it).
    """
    for i, c in enumerate(value):
        if c in "\r\n":
            return f"a line break in its value (character {i + 1})"
        if (c < " " and c != "\t") or c == "\x7f":
            return f"a control character in its value (character {i + 1}, {ord(c):#04x})"
        if c > "\x7f":
            return (f"a non-ASCII character in its value (character {i + 1}): header values are ASCII; "
                    "percent-encode or base64 it")
    return None


def _shown_name(text: str) -> str:
    """The leading name of a malformed header, quoted, with anything after it masked:
    `Authorization Bearer SUPERSECRET` -> 'Authorization ***'."""
    text = text.strip()
    m = re.match(rf"{_TOKEN_CHAR}{{1,64}}", text)
    name = m.group(0) if m else ""
    return repr(name + (" " + MASK if name != text else "") if name else MASK)


def read_body_file(path: str) -> bytes:
    """A request body from a regular file of at most MAX_BODY_BYTES (a device such as
    /dev/zero, a pipe or a socket could be read forever), or PlanError."""
    try:
        return read_regular(path, MAX_BODY_BYTES)
    except FileNotFoundError:
        raise PlanError(f"body file not found: {path}") from None
    except OSError as exc:
        raise PlanError(f"cannot read body file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise PlanError(f"--body-file {path}: {exc}") from None


def _positive(name: str, value, kind=float, allow_zero=False):
    """A finite number > 0 (>= 0 with allow_zero) and at most MAX_COUNT, or PlanError naming `name`."""
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise PlanError(f"{name} must be a{'n integer' if kind is int else ' number'}, got {value!r}") from None
    if not math.isfinite(number):
        raise PlanError(f"{name} must be a finite number, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        raise PlanError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    if number > MAX_COUNT:
        raise PlanError(f"{name} must be at most {MAX_COUNT:,}, got {value!r}")
    return number


def _seconds(name: str, value, allow_zero=False):
    """Seconds from a duration (finite, at most durations.MAX_SECONDS), or PlanError naming `name`."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise PlanError(f"{name}: {exc}") from None
    return _positive(name, seconds, allow_zero=allow_zero)


def parse_stage(text: str) -> tuple[float, float]:
    """`30s:100` -> (30.0, 100.0): ramp to 100 over 30 s."""
    duration, sep, target = str(text).partition(":")
    if not sep:
        raise PlanError(f"stage {text!r} must be DURATION:TARGET, e.g. 30s:100")
    return _seconds("--stage duration", duration, allow_zero=True), _positive(
        "--stage target", target, allow_zero=True
    )


def read_body(body: bytes | str | None, body_file: str | None) -> bytes | str | None:
    """The request body: `body`, or the contents of `body_file` when one is given."""
    if body_file is not None:
        body = read_body_file(body_file)
    return body
