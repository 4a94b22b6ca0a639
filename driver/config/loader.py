"""YAML config file + profile + flags -> one validated Plan.

    plan = load_config("driver.yaml", {"users": 200})   # flags win over the file

Every error a user can cause is one PlanError placed at the file and line
("driver.yaml:12: load.users must be an integer, got 'many'"). The file is composed,
not loaded, so that every value keeps its line (driver.config.schema walks the nodes).
The settings layer as everywhere (driver.planning.layers): built-in profile < the
config's `profiles` < the config (`load`, target timeouts, `scenario.think`,
`output`) < overrides (the flags). With no rate anywhere the load is a closed loop.
"""
from __future__ import annotations

import base64
import dataclasses
import math
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node

from driver.config.bots import read_mock, read_replies
from driver.config.inproc import is_python_target, read_python_target
from driver.chaos.timeline import parse_timeline
from driver.config.scenario import read_scenario
from driver.config.schema import Doc, join
from driver.config.reading import compose_file
from driver.config.watch import read_watch
from driver.durations import parse_duration
from driver.errors import PlanError
from driver.masking import is_secret_header, mask_url
from driver.plan import Plan, ReplySpec, UserPoolSpec, parse_header, parse_url
from driver.planning.layers import FLAGS, PROFILE_KEYS, Source, flag_layer, layer
from driver.planning.make import (
    REPORT_FORMATS, THRESHOLD_FLAG, assemble, check_abort, http_request, parse_thresholds,
)
from driver.planning.profiles import PROFILE_NOTES, PROFILES, merged_profiles, profile_layers, unknown_profile
from driver.stats.thresholds import Threshold, parse_threshold

__all__ = ["PROFILES", "load_config", "validate_config", "list_profiles", "unknown_profile"]

TOP_KEYS = ("target", "scenario", "scenarios", "load", "profile", "profiles", "thresholds", "output", "mock",
            "replies", "watch", "chaos")
TARGET_KEYS = ("base_url", "headers", "auth", "insecure", "timeout", "connect_timeout")
LOAD_KEYS = ("users", "rate", "duration", "ramp_up", "stages", "requests", "workers", "max_in_flight")
OUTPUT_KEYS = ("dir", "report", "hlog")
# What `overrides` may hold: the layered settings (make_plan's keywords), the profile's
# name, and thresholds added to the config's. None, () and False mean "not given".
OVERRIDE_KEYS = (*FLAGS, "profile", "thresholds")
_STR = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG


def load_config(path, overrides: dict | None = None, *, env=None) -> Plan:
    """The Plan a config file describes, with `overrides` (make_plan keyword names) on top.

    `env` is the environment ${VAR} expands from (default os.environ).
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(OVERRIDE_KEYS)
    if unknown:
        raise TypeError(f"load_config: unknown overrides {sorted(unknown)}")
    extra_thresholds = overrides.pop("thresholds", None) or ()
    profile_flag = overrides.pop("profile", None)
    flags = flag_layer(overrides)
    doc, root = _compose(path, os.environ if env is None else env)
    got = doc.fields(root, "", TOP_KEYS)
    if "scenarios" in got:  # several workloads in one run (driver.config.groups)
        from driver.config.groups import read_groups

        readers = {"target": _target, "load": _load_values, "thresholds": _thresholds, "output": _output}
        return read_groups(doc, got, flags, readers, path, extra_thresholds)
    if "target" not in got:
        raise doc.error(root, "the config has no 'target' (required: target: {base_url: http://...})")
    if is_python_target(got["target"]):  # an in-process target (driver.config.inproc)
        target = read_python_target(doc, got["target"], Path(path).resolve().parent)
        if "scenario" in got:
            raise doc.error(got["scenario"], "a scenario is for HTTP targets: target.python calls a function")
    else:
        target = _target(doc, got["target"])
    scenario, pool, catalog, config = None, UserPoolSpec(), None, dict(target["settings"])
    if "scenario" in got:
        scenario, pool, catalog, own = read_scenario(doc, got["scenario"], target, Path(path).resolve().parent)
        config.update(own)
    thresholds = _thresholds(doc, got.get("thresholds")) + parse_thresholds(extra_thresholds, THRESHOLD_FLAG)
    if "output" in got:
        config.update(_output(doc, got["output"]))
    if "load" in got:
        config.update(_load_values(doc, got["load"], "load", LOAD_KEYS, given=True))
    custom, _ = _profiles(doc, got.get("profiles"))
    profile, where = profile_flag, Source.of_flag("--profile")
    if profile is None and "profile" in got:
        profile = doc.string(got["profile"], "profile")
        where = Source("profile", file=doc.file, line=doc.line(got["profile"]))
    settings = layer(*profile_layers(profile, custom, where), config, flags)
    requests = () if scenario or "inproc" in target else (
        http_request(target["path"], headers=tuple(target["headers"].items())),)
    plan = assemble(
        target["target"], settings, requests=requests, scenario=scenario, pool=pool, catalog=catalog,
        thresholds=thresholds, secrets=tuple(doc.secrets), profile=profile, config_path=str(path),
        # task paths in YAML already start with the base path; a Python scenario's get it at run time
        base_path=target["base_path"] if scenario is not None and scenario.python else "",
        inproc=target.get("inproc"),
    )
    # watch: the target's processes and metrics (driver.config.watch); the flags add to them
    plan = dataclasses.replace(plan, **read_watch(doc, got["watch"])) if "watch" in got else plan
    if "chaos" in got:
        plan = dataclasses.replace(plan, chaos=_chaos(doc, got["chaos"]))
    if "output" in got and "hlog" in (out := doc.fields(got["output"], "output", OUTPUT_KEYS)):  # driver.reports.hlog
        plan = dataclasses.replace(plan, output=dataclasses.replace(plan.output, hlog=doc.boolean(out["hlog"], "output.hlog")))
    return _bots(doc, got, plan, Path(path).resolve().parent)


def _bots(doc: Doc, got: dict, plan: Plan, base_dir: Path) -> Plan:
    """The plan with the config's `mock:` and `replies:` (driver.config.bots)."""
    mock = read_mock(doc, got["mock"]) if "mock" in got else None
    replies = read_replies(doc, got["replies"], base_dir) if "replies" in got else None
    if replies is not None and replies.via_api and mock is None:
        raise doc.error(got["replies"], f"replies.channel {replies.channel} follows the bot's calls to a "
                                        "mock platform API: add mock: {platform: telegram, port: PORT} "
                                        "and point the bot's API base URL at it")
    if replies is not None and plan.scenario is None:
        raise doc.error(got["replies"], "replies: needs a scenario that sends updates "
                                        "(scenario: {python: driver.scenario.telegram:CatalogBot} or tasks)")
    for event in plan.chaos:
        if event.platform and mock is None:
            file, _, line = event.source.rpartition(":")
            raise PlanError(f"chaos fault {event.fault} runs in the mock platform API: add mock: "
                            "{platform: telegram, port: PORT} and point the bot's API base URL at it",
                            file=file or doc.file, line=int(line) if line.isdigit() else None)
    if mock is None and replies is None:
        return plan
    if mock is not None and replies is None and plan.scenario is not None:
        replies = ReplySpec()  # a mock with a scenario: follow the replies at it
    return dataclasses.replace(plan, mock=mock, replies=replies)


def validate_config(path, overrides: dict | None = None, *, env=None) -> Plan:
    """What `driver validate FILE` checks: everything load_config does (the scenario
    is imported), and nothing is run."""
    return load_config(path, overrides, env=env)


def list_profiles(path=None, *, env=None) -> dict:
    """Profile name -> {users, rate, duration, description}: the built-ins, plus a config's
    own (which may also set ramp_up and stages), for `driver profiles`."""
    custom: dict = {}
    notes = dict(PROFILE_NOTES)
    if path is not None:
        doc, root = _compose(path, os.environ if env is None else env)
        custom, own_notes = _profiles(doc, doc.fields(root, "", TOP_KEYS).get("profiles"), as_written=True)
        notes.update(own_notes)
    return {name: {**values, "description": notes.get(name, "")}
            for name, values in merged_profiles(custom).items()}


# --- reading the file --------------------------------------------------------------


def _compose(path, env) -> tuple[Doc, MappingNode]:
    """The file's root node (read within driver.config.reading's bounds) and a Doc to
    read it with; the config's `secret_headers` already taken out and known to the Doc."""
    file = str(path)
    root = compose_file(path)
    doc = Doc(file, env)
    if root is None:
        raise PlanError("the config is empty (it needs at least target: {base_url: ...})", file=file, line=1)
    if not isinstance(root, MappingNode):
        raise doc.error(root, f"the config must be a mapping of keys ({', '.join(TOP_KEYS)}), "
                              f"got {'a list' if isinstance(root, yaml.SequenceNode) else repr(root.value)}")
    doc.secret_headers = _secret_headers(doc, root)
    return doc, root


def _secret_headers(doc: Doc, root: MappingNode) -> tuple[str, ...]:
    """The config's `secret_headers: [Name, ...]`: more header names whose values are
    secrets, beside those driver.masking.is_secret_header knows by name. Taken out of the
    root before any section is read, since every section's headers depend on it."""
    found = [i for i, (key, _) in enumerate(root.value)
             if isinstance(key, yaml.ScalarNode) and key.value == "secret_headers"]
    if not found:
        return ()
    if len(found) > 1:
        first = root.value[found[0]][0].start_mark.line + 1
        raise doc.error(root.value[found[1]][0], f"duplicate key 'secret_headers' (first at line {first})")
    node = root.value.pop(found[0])[1]
    names = []
    for i, item in enumerate(doc.seq(node, "secret_headers")):
        name = doc.string(item, join("secret_headers", i))
        try:
            parse_header(f"{name}: x")
        except PlanError:
            raise doc.error(item, f"secret_headers: invalid header name {name!r}") from None
        names.append(name)
    return tuple(names)


# --- sections ------------------------------------------------------------------------


def _target(doc: Doc, node: Node) -> dict:
    """The Target, its path (the base path, at least "/"), headers, and its settings layer.
    `target: URL` is short for `target: {base_url: URL}`."""
    if isinstance(node, yaml.ScalarNode):
        got = {"base_url": node}
    else:
        got = doc.fields(node, "target", TARGET_KEYS, required=("base_url",))
    url = doc.string(got["base_url"], "target.base_url")
    try:
        target, path = parse_url(url)
    except PlanError as exc:
        raise doc.error(got["base_url"], f"target.base_url: {exc.message}") from None
    if "?" in url or "#" in url:
        raise doc.error(got["base_url"], f"target.base_url must not have a query or fragment: {mask_url(url)!r}")
    base_path = urlsplit(url).path  # task paths are relative to it
    headers = doc.headers(got["headers"], "target.headers") if "headers" in got else {}
    for name, value in headers.items():  # well-known secret headers are secrets without a tag
        if is_secret_header(name, doc.secret_headers) and "{{" not in value:
            doc.secret(value)
    if "auth" in got:
        if any(k.lower() == "authorization" for k in headers):
            raise doc.error(got["auth"], "give either target.auth or an Authorization header, not both")
        headers["Authorization"] = _auth(doc, got["auth"])
    settings = {}
    for key, read in (("insecure", doc.boolean), ("timeout", doc.duration), ("connect_timeout", doc.duration)):
        if key in got:
            where = f"target.{key}"
            settings[key] = (read(got[key], where), Source(where, file=doc.file, line=doc.line(got[key])))
    return {"target": target, "path": path, "base_path": base_path.rstrip("/"), "headers": headers,
            "settings": settings}


def _auth(doc: Doc, node: Node) -> str:
    """The Authorization header value; the credentials become secrets."""
    got = doc.fields(node, "target.auth", ("bearer", "basic"))
    if len(got) != 1:
        raise doc.error(node, "target.auth takes one of bearer: TOKEN or basic: {username, password}")
    if "bearer" in got:
        token = doc.string(got["bearer"], "target.auth.bearer")
        doc.secret(token)
        return f"Bearer {token}"
    basic = doc.fields(got["basic"], "target.auth.basic", ("username", "password"),
                       required=("username", "password"))
    user = doc.string(basic["username"], "target.auth.basic.username")
    password = doc.string(basic["password"], "target.auth.basic.password", empty=True)
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    doc.secret(password)
    doc.secret(encoded)
    return f"Basic {encoded}"


def _load_values(doc: Doc, node: Node, where: str, keys: tuple, given: bool, as_written: bool = False) -> dict:
    """A layer from a `load` or a profile mapping: key -> (value, Source), each checked on its line.

    given: the values are this run's own (`load`), not a profile's.
    as_written: durations stay as the text the user wrote ("20s"), for listing profiles.
    """
    got = doc.fields(node, where, keys)
    if "ramp_up" in got and "stages" in got:
        raise doc.error(got["stages"], f"{where}: give either ramp_up or stages, not both")
    out: dict = {}
    for key, value in got.items():
        at = join(where, key)
        if key in ("users", "requests", "workers", "max_in_flight"):
            read = doc.integer(value, at)
        elif key == "rate":
            read = doc.number(value, at)
        elif key in ("duration", "ramp_up"):
            read = doc.duration(value, at, zero=key == "ramp_up")
            if as_written and isinstance(value, yaml.ScalarNode) and value.tag == _STR:
                read = doc.string(value, at)
        elif key == "stages":
            read = tuple(_stage(doc, n, join(at, i)) for i, n in enumerate(doc.seq(value, at)))
            if not any(t > 0 for _, t in read):
                raise doc.error(value, f"{at}: every stage target is 0, the load never starts")
            if not sum(d for d, _ in read):
                raise doc.error(value, f"{at}: the stages last 0s in all")
        else:  # a profile's description: not a setting
            continue
        out[key] = (read, Source(at, file=doc.file, line=doc.line(value), given=given))
    return out


def _stage(doc: Doc, node: Node, where: str) -> tuple[float, float]:
    """`{duration: 30s, target: 100}` or `"30s:100"` -> (30.0, 100.0)."""
    if isinstance(node, MappingNode):
        got = doc.fields(node, where, ("duration", "target"), required=("duration", "target"))
        return doc.duration(got["duration"], f"{where}.duration", zero=True), doc.number(
            got["target"], f"{where}.target", zero=True)
    if not isinstance(node, yaml.ScalarNode):
        raise doc.error(node, f"{where} must be DURATION:TARGET like 30s:100, got a list")
    # the text as written: YAML 1.1 would read 1:30 as the integer 90
    text = doc.expand(node)[0] if node.tag == _STR else node.value
    duration, sep, target = text.partition(":")
    try:
        seconds, value = parse_duration(duration), float(target)
    except ValueError:
        raise doc.error(node, f"{where} must be DURATION:TARGET like 30s:100, or {{duration, target}}, "
                              f"got {text!r}") from None
    if not (seconds >= 0 and value >= 0 and math.isfinite(seconds + value)):
        raise doc.error(node, f"{where}: duration and target must be >= 0, got {text!r}")
    return seconds, value


def _profiles(doc: Doc, node: Node | None, as_written: bool = False) -> tuple[dict, dict]:
    """The config's own profiles: (name -> layer, laid over a built-in of the same name;
    name -> description, for those that have one)."""
    layers, notes = {}, {}
    for name, key, value in doc.items(node, "profiles") if node is not None else ():
        if not re.match(r"^[A-Za-z0-9_-]+$", name):
            raise doc.error(key, f"profiles: {name!r} is not a profile name (letters, digits, - and _)")
        where = f"profiles.{name}"
        layers[name] = _load_values(doc, value, where, (*PROFILE_KEYS, "description"), given=False,
                                    as_written=as_written)
        description = doc.fields(value, where, (*PROFILE_KEYS, "description")).get("description")
        if description is not None:
            notes[name] = doc.string(description, f"{where}.description", empty=True)
    return layers, notes


def _thresholds(doc: Doc, node: Node | None, where: str = "thresholds") -> tuple[Threshold, ...]:
    """The config's SLOs (or a group's, at `where`), each parsed here so that a bad one names its line."""
    out = []
    for i, item in enumerate(doc.seq(node, where) if node is not None else ()):
        text = doc.string(item, join(where, i), empty=True).strip()
        if not text:
            raise doc.error(item, f"{join(where, i)} must not be empty")
        try:
            threshold = parse_threshold(text, source=f"{doc.file}:{doc.line(item)}")
        except PlanError as exc:
            raise doc.error(item, exc.message) from None
        check_abort(threshold, Source(join(where, i), file=doc.file, line=doc.line(item)))
        out.append(threshold)
    return tuple(out)


def _chaos(doc: Doc, node: Node) -> tuple:
    """The chaos timeline (driver.chaos.timeline): each entry read as plain data and
    checked there, its errors placed at the entry's line."""
    items = [(doc.data(item, join("chaos", i)), f"{doc.file}:{doc.line(item)}")
             for i, item in enumerate(doc.seq(node, "chaos", nonempty=False))]
    return parse_timeline(items)


def _output(doc: Doc, node: Node) -> dict:
    """The `output` section's part of the config layer: output (the directory) and report."""
    got = doc.fields(node, "output", OUTPUT_KEYS)
    out: dict = {}
    if "dir" in got:
        out["output"] = (doc.string(got["dir"], "output.dir"),
                         Source("output.dir", file=doc.file, line=doc.line(got["dir"])))
    if "report" in got:
        items = got["report"].value if isinstance(got["report"], yaml.SequenceNode) else [got["report"]]
        out["report"] = (tuple(doc.choice(n, "output.report", REPORT_FORMATS) for n in items),
                         Source("output.report", file=doc.file, line=doc.line(got["report"])))
    return out
