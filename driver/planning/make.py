"""User input -> a validated Plan: `make_plan` for a URL and flags; `assemble` for both paths.

    plan = make_plan("http://127.0.0.1:8080/health", profile="smoke", stages=["10s:5"])
    plan = make_plan("http://127.0.0.1:8080", scenario="bot.py:Bot", users=50, duration="1m")

`make_plan` takes the options of `driver run` as keywords, named like the long flags,
and layers them over the built-in profile; `driver.config.load_config` layers a config
file between the two. Both end in `assemble`, so the same settings give the same plan.
Every error is a PlanError placed at its flag (or file:line); every setting given but
not used is a PlanWarning.
"""
from __future__ import annotations

import dataclasses
import re

from driver.engine.callables import inproc_target, is_python_url, parse_python_url
from driver.masking import mask_bot_token
from driver.errors import DriverError, PlanError
from driver.plan import (
    HTTP_SCHEMES, PLATFORMS, WS_SCHEMES, InprocSpec, MockSpec, OutputSpec, Plan, ReplySpec, RequestSpec, ScenarioSpec,
    Target, UserPoolSpec, WsSpec, parse_header, parse_url, read_body,
)
from driver.planning.layers import Source, flag_layer, layer
from driver.planning.load import load_fields
from driver.planning.profiles import profile_layers
from driver.stats.thresholds import Threshold, is_live, parse_threshold

__all__ = ["make_plan", "assemble", "with_watch_pids", "http_request", "ws_request", "python_scenario",
           "parse_thresholds", "report_formats", "REPORT_FORMATS"]

REPORT_FORMATS = ("json", "html", "md", "csv", "junit")
THRESHOLD_FLAG = "--threshold"
_METHOD = re.compile(r"^[A-Z]+$")
_REQUEST_FLAGS = (("method", "--method"), ("headers", "--header"), ("body", "--body"),
                  ("body_file", "--body-file"), ("name", "--name"))


def make_plan(
    url: str,
    *,
    profile: str | None = None,
    scenario: str | None = None,
    users: int | None = None,
    rate: float | None = None,
    duration=None,
    requests: int | None = None,
    ramp_up=None,
    stages=(),
    workers: int | None = None,
    method: str | None = None,
    headers=(),
    body: bytes | str | None = None,
    body_file: str | None = None,
    timeout=None,
    connect_timeout=None,
    think=None,
    max_in_flight: int | None = None,
    name: str | None = None,
    insecure: bool = False,
    thresholds=(),
    output: str | None = None,
    report=None,
    watch_pids=(),
    binary: bool = False,
) -> Plan:
    """A validated Plan to load `url`: the built-in `profile`'s settings, then these.

    Without `scenario`, every user sends one request (`method`, `headers`, `body` or
    `body_file`, stats under `name`); for a ws:// or wss:// URL, one WebSocket message
    per round trip (the body; `binary` for a binary frame; `headers` go with the
    handshake), its stats under `name` (default `WS /path`) and the handshakes under
    `ws:connect`. With `scenario` (`file.py`, `file.py:Class` or
    `module:Class`), users run that Python scenario against the URL, its path before
    theirs. `thresholds` are SLO texts (or Threshold objects); `output` and `report`
    say where and how results are written; `watch_pids` are the target's processes to
    sample every second (see with_watch_pids). Raises PlanError naming the flag.
    """
    return with_watch_pids(_make_plan(url, profile, scenario, users, rate, duration, requests, ramp_up, stages,
                                      workers, method, headers, body, body_file, timeout, connect_timeout, think,
                                      max_in_flight, name, insecure, thresholds, output, report, binary), watch_pids)


def with_watch_pids(plan: Plan, pids) -> Plan:
    """`plan` that also samples the processes `pids` (--watch-pid: RSS, CPU, fds, threads
    every second, and the leak verdict); PlanError at --watch-pid for a pid that is not a
    positive whole number. Whether each process exists is checked when the run starts."""
    checked = []
    for pid in pids or ():
        text = str(pid).strip()
        if isinstance(pid, bool) or not text.isdigit() or int(text) <= 0:
            raise PlanError(f"--watch-pid {pid!r}: not a process id (a positive whole number)", flag="--watch-pid")
        checked.append(int(text))
    if not checked:
        return plan
    return dataclasses.replace(plan, watch_pids=tuple(dict.fromkeys([*plan.watch_pids, *checked])))


def with_mock(plan: Plan, text: str | None) -> Plan:
    """`plan` with a mock platform API started by the run (--mock PLATFORM[:PORT]); a
    scenario's replies are then followed at it (the config's `replies:`, or defaults).
    PlanError at --mock for an unknown platform or a bad port."""
    if not text:
        return plan
    platform, _, port = str(text).strip().partition(":")
    if platform not in PLATFORMS:
        raise PlanError(f"--mock {text!r}: the platform must be one of {', '.join(PLATFORMS)} "
                        f"(PLATFORM or PLATFORM:PORT)", flag="--mock")
    number = 0
    if port:
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise PlanError(f"--mock {text!r}: {port!r} is not a port number (0-65535)", flag="--mock")
        number = int(port)
    base = plan.mock or MockSpec()
    mock = dataclasses.replace(base, platform=platform, port=number or base.port)
    replies = plan.replies
    if replies is None and plan.scenario is not None:
        replies = ReplySpec()
    return dataclasses.replace(plan, mock=mock, replies=replies)


def _make_plan(url, profile, scenario, users, rate, duration, requests, ramp_up, stages, workers, method, headers,
               body, body_file, timeout, connect_timeout, think, max_in_flight, name, insecure, thresholds, output,
               report, binary=False) -> Plan:
    settings = layer(*profile_layers(profile, {}, Source.of_flag("--profile")), flag_layer({
        "users": users, "rate": rate, "duration": duration, "requests": requests, "ramp_up": ramp_up,
        "stages": stages, "workers": workers, "max_in_flight": max_in_flight, "think": think,
        "timeout": timeout, "connect_timeout": connect_timeout, "insecure": insecure, "output": output,
        "report": report,
    }))
    if is_python_url(url):  # an in-process target: units call a Python function (driver.engine.inproc)
        for flag, value in (("--scenario", scenario), ("--method", method), ("--header", headers), ("--body", body),
                            ("--body-file", body_file), ("--binary", binary)):
            if value:
                raise PlanError(f"{flag} is for http(s):// and ws(s):// URLs: a python:// target calls a function",
                                flag=flag)
        spec = _at("URL", parse_python_url, url, name)
        return assemble(inproc_target(spec), settings, requests=(), inproc=spec, profile=profile,
                        thresholds=parse_thresholds(thresholds, THRESHOLD_FLAG))
    schemes = HTTP_SCHEMES if scenario is not None else HTTP_SCHEMES + WS_SCHEMES
    target, path = _at("URL", parse_url, url, schemes)
    if binary and not target.websocket:
        raise PlanError("--binary is for ws:// and wss:// URLs (a WebSocket message)", flag="--binary")
    if target.websocket:
        if method is not None:
            raise PlanError("--method is for http:// and https:// URLs: a WebSocket run sends messages "
                            "(--body, --binary)", flag="--method")
        return assemble(target, settings, requests=(ws_request(path, headers, body, body_file, name),),
                        ws=WsSpec(binary=bool(binary)), profile=profile,
                        thresholds=parse_thresholds(thresholds, THRESHOLD_FLAG))
    if scenario is None:
        return assemble(target, settings, requests=(http_request(path, method, headers, body, body_file, name),),
                        profile=profile, thresholds=parse_thresholds(thresholds, THRESHOLD_FLAG))
    request = {"method": method, "headers": headers, "body": body, "body_file": body_file, "name": name}
    for key, flag in _REQUEST_FLAGS:
        if request[key] is not None and request[key] != ():
            Source.of_flag(flag).warn(f"{flag} is ignored with --scenario: the scenario makes its own requests")
    return assemble(target, settings, requests=(), scenario=python_scenario(scenario), profile=profile,
                    base_path=path.split("?")[0].rstrip("/"),
                    thresholds=parse_thresholds(thresholds, THRESHOLD_FLAG))


def assemble(
    target: Target,
    settings: dict,
    *,
    requests: tuple[RequestSpec, ...],
    scenario: ScenarioSpec | None = None,
    pool: UserPoolSpec = UserPoolSpec(),
    catalog: tuple | None = None,
    thresholds: tuple[Threshold, ...] = (),
    secrets: tuple[str, ...] = (),
    base_path: str = "",
    profile: str | None = None,
    config_path: str | None = None,
    ws: WsSpec | None = None,
    inproc: InprocSpec | None = None,
) -> Plan:
    """The Plan from layered `settings` (driver.planning.layers) and the parts made apart."""
    load = load_fields(settings, scenario)
    if inproc is not None:
        load["workers"] = inproc_workers(settings)
    insecure = False
    if "insecure" in settings:
        insecure, source = settings["insecure"]
        if insecure and not target.tls and source.given:
            source.warn(f"{source.name} is ignored: the target is {target.scheme}://, no TLS certificate to verify")
    return Plan(
        target=target,
        requests=requests,
        user_pool=pool,
        thresholds=tuple(thresholds),
        secrets=tuple(secrets),
        profile=profile,
        insecure=bool(insecure),
        base_path=base_path,
        output=_output(settings),
        config_path=config_path,
        catalog=catalog,
        ws=ws,
        inproc=inproc,
        **load,
    )


def inproc_workers(settings: dict) -> int:
    """Workers of an in-process run: 1 unless given. Each worker process has its own
    instance of the component, so more than one splits its limits and counters: a warning."""
    if "workers" not in settings:
        return 1
    n, source = settings["workers"]
    if int(n) > 1:
        source.warn(f"{source.name} {n}: each worker process has its own instance of the in-process "
                    f"component (its own limits, counters and caches); a limit of N holds per worker")
    return int(n)


def http_request(path: str, method: str | None = None, headers=(), body=None, body_file=None,
                 name: str | None = None) -> RequestSpec:
    """The one request of a URL run; a JSON-looking body gets Content-Type: application/json."""
    method = (method or "GET").upper()
    if not _METHOD.match(method):
        raise PlanError(f"invalid HTTP method {method!r}", flag="--method")
    parsed = tuple(_at("--header", parse_header, h) if isinstance(h, str) else tuple(h) for h in headers)
    if body is not None and body_file is not None:
        raise PlanError("give either --body or --body-file, not both", flag="--body-file")
    body = _at("--body-file", read_body, body, body_file)
    body_bytes = body.encode() if isinstance(body, str) else (body or b"")
    names = {k.lower() for k, _ in parsed}
    if body_bytes and "content-type" not in names and body_bytes.lstrip()[:1] in (b"{", b"["):
        parsed += (("Content-Type", "application/json"),)
    # the endpoint name reaches every report: never with a bot token in it
    return RequestSpec(name or mask_bot_token(f"{method} {path.split('?')[0]}"), method, path, parsed, body_bytes)


def ws_request(path: str, headers=(), body=None, body_file=None, name: str | None = None) -> RequestSpec:
    """The message of a WebSocket run: the body (empty when none), sent as it is each
    round trip; the headers go with the handshake. Stats under `name`, or `WS /path`."""
    parsed = tuple(_at("--header", parse_header, h) if isinstance(h, str) else tuple(h) for h in headers)
    if body is not None and body_file is not None:
        raise PlanError("give either --body or --body-file, not both", flag="--body-file")
    body = _at("--body-file", read_body, body, body_file)
    body_bytes = body.encode() if isinstance(body, str) else (body or b"")
    return RequestSpec(name or mask_bot_token(f"WS {path.split('?')[0]}"), "WS", path, parsed, body_bytes)


def python_scenario(text: str, flag: str = "--scenario") -> ScenarioSpec:
    """The ScenarioSpec of a Python scenario, imported here so that a broken one is one
    line now, not a dead worker later."""
    from driver.scenario.loader import load_user_class

    spec = ScenarioSpec(python=text, base_dir=".")
    try:
        cls = load_user_class(spec)
    except PlanError as exc:
        raise exc.located(flag=flag) from None
    except DriverError:
        raise
    except FileNotFoundError:
        raise PlanError(f"scenario file not found: {text}", flag=flag) from None
    except (Exception, SystemExit) as exc:  # anything the user's module raises while importing
        raise PlanError(f"scenario {text} does not import: {type(exc).__name__}: {exc}", flag=flag) from None
    if not cls.tasks():
        raise PlanError(f"scenario {text}: {cls.__name__} has no @task methods", flag=flag)
    return spec


def parse_thresholds(items, source: str) -> tuple[Threshold, ...]:
    """Threshold objects from SLO texts given at `source` (a flag); Thresholds pass as they are."""
    out = []
    for item in items:
        if isinstance(item, Threshold):
            out.append(item)
            continue
        try:
            threshold = parse_threshold(item, source=source)
        except PlanError as exc:
            raise exc.located(flag=source) from None
        check_abort(threshold, Source.of_flag(source))
        out.append(threshold)
    return tuple(out)


def check_abort(threshold: Threshold, source: Source) -> None:
    """A PlanWarning when `threshold` asks to abort but cannot be judged live."""
    if threshold.abort and not is_live(threshold):
        source.warn(f"{threshold.text!r}: abort is ignored: this threshold is judged at the end of the run, "
                    "not on the live per-second series")


def report_formats(value, source: Source) -> tuple[str, ...]:
    """Report format names from "html,md" or a list of names, each one of REPORT_FORMATS."""
    names = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for name in (str(n).strip().lower() for n in names):
        if name not in REPORT_FORMATS:
            raise source.error(f"unknown report format {name!r}: use one or more of {', '.join(REPORT_FORMATS)}")
        if name not in out:
            out.append(name)
    return tuple(out)


def _output(settings: dict) -> OutputSpec:
    directory = settings["output"][0] if "output" in settings else None
    formats = report_formats(*settings["report"]) if "report" in settings else None
    return OutputSpec(dir=str(directory) if directory is not None else None, formats=formats)


def _at(flag: str, parse, *args):
    """`parse(*args)`, its PlanError placed at `flag`."""
    try:
        return parse(*args)
    except PlanError as exc:
        raise exc.located(flag=flag) from None
