"""A config's `scenarios:`: several named workloads in one run (k6's scenarios).

    target: http://127.0.0.1:8080
    scenarios:
      api:   {users: 20, duration: 30s, tasks: [...], thresholds: ["p99<300ms"]}
      ws:    {url: ws://127.0.0.1:8765/echo, users: 50, duration: 30s, body: hello}
      jobs:  {rate: 5, duration: 30s, tasks: [{name: report, job: {...}}]}
      slow:  {python: scenario.py:Browser, users: 10, stages: [...], start: 10s}
    thresholds: ["error_rate<1%"]        # the whole run

Each group is read into a whole Plan of its own (driver.plan.Group): its target (the
top one unless it names its own), its load (users or rate, duration, ramp_up, stages,
requests, max_in_flight, think, and `start`, the offset of its load from the run's
start), what its users do (`url` for one plain request or WebSocket message, or a
scenario: `tasks`/`flows`/`python`) and its thresholds. The run's `workers` (the
top `load.workers`, or --workers) run every group; the run ends with the last group
(or at the top `load.duration`). Every mistake is a PlanError at its file:line.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import orjson
import yaml
from yaml.nodes import MappingNode, Node

from driver.config.scenario import read_scenario
from driver.config.schema import Doc, join
from driver.errors import PlanError
from driver.plan import Group, Plan, WsSpec, available_cpus, parse_url
from driver.config.watch import read_watch
from driver.planning.layers import Source, layer
from driver.planning.make import THRESHOLD_FLAG, assemble, http_request, parse_thresholds, ws_request

__all__ = ["GROUP_KEYS", "RUN_KEYS", "read_groups"]

GROUP_KEYS = ("target", "url", "method", "headers", "body", "name", "binary",
              "users", "rate", "duration", "ramp_up", "stages", "requests", "max_in_flight", "think", "start",
              "timeout", "connect_timeout", "python", "tasks", "flows", "retry_after", "thresholds")
LOAD_KEYS = ("users", "rate", "duration", "ramp_up", "stages", "requests", "max_in_flight")
SCENARIO_KEYS = ("python", "tasks", "flows", "think", "retry_after")
PLAIN_KEYS = ("method", "headers", "body", "name", "binary")
RUN_KEYS = ("workers", "duration")  # what the top `load:` may hold beside scenarios
# top-level sections that belong to one workload, not to a run of several
SINGLE_ONLY = ("scenario", "profile", "profiles", "mock", "replies", "chaos")
# flags that shape one load: with several, each group's own lives in the file
LOAD_FLAGS = ("users", "rate", "duration", "requests", "ramp_up", "stages", "max_in_flight", "think")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def read_groups(doc: Doc, got: dict, flags: dict, readers: dict, path, extra_thresholds=()) -> Plan:
    """The Plan of a config with `scenarios:` (`got`: its top-level nodes by key; `flags`:
    the flag layer; `readers`: the loader's section readers "target", "load",
    "thresholds", "output"; `extra_thresholds`: the --threshold texts, for the whole
    run), each group checked at its lines."""
    for key in SINGLE_ONLY:
        if key in got:
            raise doc.error(got[key], f"'{key}' cannot be used with scenarios: (each group is its own "
                                      "workload; put its settings in the group)")
    for key in (*LOAD_FLAGS, "profile"):
        if key in flags:
            source = flags[key][1]
            raise source.error(f"{source.name} cannot apply to a config with scenarios: set each group's "
                               "load in the file")
    top_target = readers["target"](doc, got["target"]) if "target" in got else None
    run = readers["load"](doc, got["load"], "load", RUN_KEYS, given=True) if "load" in got else {}
    workers = flags.get("workers", run.get("workers", (None,)))[0] or available_cpus()
    run_s = run["duration"][0] if "duration" in run else None
    base_dir = Path(path).resolve().parent
    common = readers["output"](doc, got["output"]) if "output" in got else {}
    common.update({k: v for k, v in flags.items() if k in ("timeout", "connect_timeout", "insecure", "output",
                                                            "report")})
    groups = []
    for name, key, node in doc.items(got["scenarios"], "scenarios"):
        if not _NAME.match(name):
            raise doc.error(key, f"scenarios: {name!r} is not a group name (1-64 letters, digits, - and _)")
        groups.append(_group(doc, name, key, node, top_target, readers, workers, common, base_dir, path))
    if not groups:
        raise doc.error(got["scenarios"], "scenarios must hold at least one group")
    return _run_plan(doc, got, groups, workers, run_s, readers, extra_thresholds, path)


def _group(doc: Doc, name: str, key: Node, node: Node, top_target, readers, workers, common, base_dir,
           path) -> Group:
    where = f"scenarios.{name}"
    got = doc.fields(node, where, GROUP_KEYS)
    target = readers["target"](doc, got["target"]) if "target" in got else top_target
    scenario_keys = [k for k in ("python", "tasks", "flows") if k in got]
    if "url" in got and scenario_keys:
        raise doc.error(got["url"], f"{where}: give either url (one request) or {'/'.join(scenario_keys)}, "
                                    "not both")
    if "url" not in got and not scenario_keys:
        raise doc.error(key, f"{where} has nothing to do: give url: (one request or WebSocket message), "
                             "tasks:, flows: or python:")
    if not {"users", "rate", "stages"} & set(got):
        raise doc.error(key, f"{where} has no load: give users:, rate: or stages:")
    for plain in PLAIN_KEYS:
        if plain in got and "url" not in got:
            raise doc.error(got[plain], f"{join(where, plain)} is for a url: group (the request it sends); "
                                        "a scenario's tasks say their own")
    if "retry_after" in got and "url" in got:
        raise doc.error(got["retry_after"], f"{join(where, 'retry_after')} is for a scenario (tasks, flows, python)")
    settings = dict(target["settings"]) if target is not None else {}
    settings.update(readers["load"](doc, node, where, GROUP_KEYS, given=True))
    if "think" in got and "url" in got:
        settings["think"] = (doc.think(got["think"], join(where, "think")),
                             Source(join(where, "think"), file=doc.file, line=doc.line(got["think"])))
    for k in ("timeout", "connect_timeout"):
        if k in got:
            settings[k] = (doc.duration(got[k], join(where, k)), Source(join(where, k), file=doc.file,
                                                                        line=doc.line(got[k])))
    settings.update(common)
    settings["workers"] = (workers, Source("workers", file=doc.file, line=doc.line(key)))
    thresholds = readers["thresholds"](doc, got["thresholds"], join(where, "thresholds")) \
        if "thresholds" in got else ()
    start = doc.duration(got["start"], join(where, "start"), zero=True) if "start" in got else 0.0
    try:
        if "url" in got:
            plan = _plain(doc, where, got, target, settings, thresholds, path)
        else:
            if target is None:
                raise doc.error(key, f"{where} has no target: give target: at the top or in the group")
            scenario, pool, catalog, own = read_scenario(doc, _only(node, SCENARIO_KEYS), target, base_dir)
            settings.update(own)
            plan = assemble(target["target"], layer(settings), requests=(), scenario=scenario, pool=pool,
                            thresholds=thresholds, secrets=tuple(doc.secrets), config_path=str(path),
                            base_path=target["base_path"] if scenario.python else "")
    except PlanError as exc:  # a load value's own check: at the group when it names no line
        raise exc.located(file=doc.file, line=doc.line(key)) from None
    return Group(name, plan, start)


def _plain(doc: Doc, where: str, got: dict, target, settings: dict, thresholds, path) -> Plan:
    """A group of one request (http:// URL) or one WebSocket message (ws:// URL); a URL
    that is a path ("/health") is on the group's target."""
    url = doc.string(got["url"], join(where, "url"))
    try:
        if url.startswith("/"):
            if target is None:
                raise PlanError(f"{join(where, 'url')} is a path: give target: at the top or in the group")
            where_to, path_of = target["target"], target["base_path"] + url
        else:
            where_to, path_of = parse_url(url, ("http", "https", "ws", "wss"))
    except PlanError as exc:
        raise doc.error(got["url"], f"{join(where, 'url')}: {exc.message}") from None
    headers = tuple((target["headers"] if target is not None and url.startswith("/") else {}).items())
    if "headers" in got:
        headers += tuple(doc.headers(got["headers"], join(where, "headers"), template=False).items())
    body = None
    if "body" in got:
        node = got["body"]
        body = doc.data(node, join(where, "body"))
        body = body if isinstance(body, str) else orjson.dumps(body).decode()
    name = doc.string(got["name"], join(where, "name")) if "name" in got else None
    binary = doc.boolean(got["binary"], join(where, "binary")) if "binary" in got else False
    if where_to.websocket:
        if "method" in got:
            raise doc.error(got["method"], f"{join(where, 'method')} is for http:// URLs: a WebSocket group "
                                           "sends messages (body, binary)")
        return assemble(where_to, layer(settings), requests=(ws_request(path_of, headers, body, None, name),),
                        ws=WsSpec(binary=binary), thresholds=thresholds, secrets=tuple(doc.secrets),
                        config_path=str(path))
    if binary:
        raise doc.error(got["binary"], f"{join(where, 'binary')} is for ws:// URLs (a WebSocket message)")
    method = doc.string(got["method"], join(where, "method")) if "method" in got else None
    return assemble(where_to, layer(settings), requests=(http_request(path_of, method, headers, body, None, name),),
                    thresholds=thresholds, secrets=tuple(doc.secrets), config_path=str(path))


def _only(node: MappingNode, keys) -> MappingNode:
    """The group's mapping with only `keys` (its scenario part, read as a `scenario:` is)."""
    pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value in keys]
    return MappingNode(node.tag, pairs, node.start_mark, node.end_mark)


def _run_plan(doc: Doc, got: dict, groups: list[Group], workers: int, run_s, readers, extra, path) -> Plan:
    """The run's Plan: the groups (sharing one block layout), the run's end, its thresholds."""
    ends = [g.end_s for g in groups]
    if run_s is not None:
        for g, (name, key, node) in zip(groups, doc.items(got["scenarios"], "scenarios")):
            if g.start_s >= run_s:
                at = doc.fields(node, f"scenarios.{name}", GROUP_KEYS)["start"]
                raise doc.error(at, f"scenarios.{name}.start ({g.start_s:g}s) is past the run's end "
                                    f"(load.duration {run_s:g}s): the group would never run")
        end = run_s
    else:
        end = None if any(e is None for e in ends) else max(ends)
    secrets = tuple(doc.secrets)  # every group's messages mask every secret of the file
    groups = [dataclasses.replace(g, plan=dataclasses.replace(g.plan, secrets=secrets)) for g in groups]
    first = groups[0].plan
    thresholds = readers["thresholds"](doc, got["thresholds"], "thresholds") if "thresholds" in got else ()
    thresholds += parse_thresholds(extra, THRESHOLD_FLAG)
    plan = Plan(
        target=first.target, requests=(), mode=first.mode, shape=first.shape, duration_s=end,
        max_requests=None, workers=workers, groups=tuple(groups), thresholds=tuple(thresholds),
        secrets=secrets, output=first.output,
        config_path=str(path),
        connect_timeout_s=max(g.plan.connect_timeout_s for g in groups),
        request_timeout_s=max(g.plan.request_timeout_s for g in groups),
        grace_s=max(g.plan.grace_s for g in groups),
        insecure=any(g.plan.insecure for g in groups),
    )
    if "watch" in got:
        plan = dataclasses.replace(plan, **read_watch(doc, got["watch"]))
    return plan
