"""YAML config file + profile + CLI overrides -> one validated Plan.

    plan = load_config("driver.yaml", {"users": 200})   # CLI flags win over the file

Every error a user can cause is one PlanError line naming the file and the line
("driver.yaml:12: load.users must be an integer, got 'many'"). The file is composed,
not loaded, so that every value keeps its line (driver.config.schema walks the nodes).
Precedence of the load numbers: built-in profile < the config's `profiles` < `load`
< overrides. With no rate anywhere the load is a closed loop of `users`.
"""
from __future__ import annotations

import base64
import dataclasses
import importlib
import importlib.util
import math
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node

from driver.config.reading import compose_file
from driver.config.schema import Doc, join, scenario_flows, scenario_tasks, suggest
from driver.errors import PlanError
from driver.plan import (SECRET_HEADERS, Plan, ScenarioSpec, ThinkTime, UserPoolSpec, make_plan,
                         parse_header, parse_url)
from driver.durations import parse_duration

try:  # the id ranges of the tiers live with the command catalog
    from driver.payloads.catalog import TIERS
except ImportError:  # pragma: no cover - the payloads package is optional here
    TIERS = ("free", "premium", "admin")

__all__ = ["PROFILES", "load_config", "validate_config", "list_profiles", "unknown_profile"]

TOP_KEYS = ("target", "scenario", "load", "profile", "profiles", "thresholds", "output")
TARGET_KEYS = ("base_url", "headers", "auth", "insecure", "timeout", "connect_timeout")
SCENARIO_KEYS = ("python", "tasks", "flows", "think", "retry_after", "telegram", "whatsapp", "users",
                 "catalog")
LOAD_KEYS = ("users", "rate", "duration", "ramp_up", "stages", "requests", "workers", "max_in_flight")
PROFILE_KEYS = ("users", "rate", "duration", "ramp_up", "stages", "description")
POOL_KEYS = ("size", "seed", "tiers", "languages")
CATALOG_KEYS = ("name", "weight", "tier", "args", "description")
OUTPUT_KEYS = ("dir", "report")
REPORT_FORMATS = ("json", "html", "md", "csv", "junit")
# What `overrides` may hold: make_plan's keyword names (None means "not given").
OVERRIDE_KEYS = LOAD_KEYS + ("profile", "timeout", "connect_timeout", "insecure", "think")
_COMMAND = re.compile(r"^/[a-z0-9_]{1,32}$")
_STR = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG

# Built-in profiles, ready for make_plan: open loop at `rate` arrivals/s with at most
# `users` in flight.
PROFILES: dict[str, dict] = {
    "smoke": {"users": 5, "rate": 10.0, "duration": "30s"},
    "light": {"users": 10, "rate": 50.0, "duration": "60s"},
    "normal": {"users": 50, "rate": 200.0, "duration": "5m"},
    "heavy": {"users": 100, "rate": 500.0, "duration": "10m"},
    "stress": {"users": 200, "rate": 1000.0, "duration": "5m"},
    "soak": {"users": 30, "rate": 100.0, "duration": "1h"},
    "spike": {"users": 150, "rate": 500.0, "duration": "2m"},
}
PROFILE_NOTES = {
    "smoke": "does it work at all",
    "light": "a quiet day",
    "normal": "expected production load",
    "heavy": "a busy peak",
    "stress": "past the expected peak",
    "soak": "steady, for leaks and drift",
    "spike": "a sudden burst",
}


def unknown_profile(name: str, profiles=PROFILES) -> str:
    """The message for a profile name that is not in `profiles`."""
    return f"unknown profile '{name}'{suggest(name, profiles)} (driver profiles lists them)"


def load_config(path, overrides: dict | None = None, *, env=None) -> Plan:
    """The Plan a config file describes, with `overrides` (make_plan keyword names) on top.

    `env` is the environment ${VAR} expands from (default os.environ).
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None and v != () and v != []}
    unknown = set(overrides) - set(OVERRIDE_KEYS)
    if unknown:
        raise TypeError(f"load_config: unknown overrides {sorted(unknown)}")
    doc, root = _compose(path, os.environ if env is None else env)
    got = doc.fields(root, "", TOP_KEYS)
    if "target" not in got:
        raise doc.error(root, "the config has no 'target' (required: target: {base_url: http://...})")
    target = _target(doc, got["target"])
    base_dir = Path(path).resolve().parent
    scenario, pool, catalog = None, UserPoolSpec(), None
    if "scenario" in got:
        scenario, pool, catalog = _scenario(doc, got["scenario"], target, base_dir)
    thresholds = _thresholds(doc, got.get("thresholds"))
    output = _output(doc, got["output"]) if "output" in got else None
    profiles = _profiles(doc, got.get("profiles"))
    load, profile = _load(doc, got, overrides, profiles)
    kwargs = {k: target[k] for k in ("timeout", "connect_timeout") if target[k] is not None}
    kwargs.update({k: overrides[k] for k in ("timeout", "connect_timeout", "think") if k in overrides})
    try:
        plan = make_plan(target["url"], headers=tuple(target["headers"].items()), **load, **kwargs)
    except PlanError as exc:
        flag = re.search(r"--([a-z-]+)", str(exc))
        key = flag.group(1).replace("-", "_") if flag else ""
        if key in overrides or key + "s" in overrides:  # --stage: stages
            raise  # about a CLI flag: its message names the flag
        at = got.get("load") or got.get("profile")
        raise (doc.error(at, str(exc)) if at is not None else PlanError(f"{doc.file}: {exc}")) from None
    if scenario is not None and "think" in overrides:  # --think: a constant pause for every user
        scenario = dataclasses.replace(scenario, think=ThinkTime("constant", plan.think_s))
    plan = dataclasses.replace(
        plan,
        scenario=scenario,
        requests=() if scenario else plan.requests,
        thresholds=thresholds,
        secrets=tuple(doc.secrets),
        user_pool=pool,
        profile=profile,
        meta=dict(plan.meta),
    )
    plan.meta["config"] = str(path)
    if target["insecure"] or overrides.get("insecure"):
        plan.meta["insecure"] = True
    if catalog is not None:
        plan.meta["catalog"] = catalog
    if output is not None:
        plan.meta["output"] = output
    return plan


def validate_config(path, overrides: dict | None = None, *, env=None) -> Plan:
    """What `driver validate FILE` checks: everything load_config does (the scenario
    is imported), and nothing is run."""
    return load_config(path, overrides, env=env)


def list_profiles(path=None, *, env=None) -> dict:
    """Profile name -> {users, rate, duration, description}: the built-ins, plus a config's
    own (which may also set ramp_up and stages), for `driver profiles`."""
    profiles = PROFILES
    if path is not None:
        doc, root = _compose(path, os.environ if env is None else env)
        profiles = _profiles(doc, doc.fields(root, "", TOP_KEYS).get("profiles"))
    return {name: {**values, "description": values.get("description", PROFILE_NOTES.get(name, ""))}
            for name, values in profiles.items()}


# --- reading the file --------------------------------------------------------------


def _compose(path, env) -> tuple[Doc, MappingNode]:
    """The file's root node (read within driver.config.reading's bounds) and a Doc to
    read it with; the config's `secret_headers` already taken out and known to the Doc."""
    file = str(path)
    root = compose_file(path)
    doc = Doc(file, env)
    if root is None:
        raise PlanError(f"{file}:1: the config is empty (it needs at least target: {{base_url: ...}})")
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
    got = doc.fields(node, "target", TARGET_KEYS, required=("base_url",))
    url = doc.string(got["base_url"], "target.base_url")
    try:
        parse_url(url)
    except PlanError as exc:
        raise doc.error(got["base_url"], f"target.base_url: {exc}") from None
    if "?" in url or "#" in url:
        raise doc.error(got["base_url"], f"target.base_url must not have a query or fragment: {url!r}")
    base_path = urlsplit(url).path  # task paths are relative to it
    headers = doc.headers(got["headers"], "target.headers") if "headers" in got else {}
    for name, value in headers.items():  # well-known secret headers are secrets without a tag
        if name.lower() in SECRET_HEADERS and "{{" not in value:
            doc.secret(value)
    if "auth" in got:
        if any(k.lower() == "authorization" for k in headers):
            raise doc.error(got["auth"], "give either target.auth or an Authorization header, not both")
        headers["Authorization"] = _auth(doc, got["auth"])
    return {
        "url": url if base_path else url + "/",  # make_plan wants a path
        "base_path": base_path.rstrip("/"),
        "headers": headers,
        "insecure": doc.boolean(got["insecure"], "target.insecure") if "insecure" in got else False,
        "timeout": doc.duration(got["timeout"], "target.timeout") if "timeout" in got else None,
        "connect_timeout": doc.duration(got["connect_timeout"], "target.connect_timeout")
        if "connect_timeout" in got else None,
    }


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


def _scenario(doc: Doc, node: Node, target: dict, base_dir: Path):
    """(ScenarioSpec, UserPoolSpec, catalog or None) from the scenario section."""
    got = doc.fields(node, "scenario", SCENARIO_KEYS)
    kw: dict = {"base_dir": str(base_dir)}
    ctx = {"base_path": target["base_path"], "headers": target["headers"]}
    if "python" in got:
        if "tasks" in got or "flows" in got:
            raise doc.error(got["python"], "give either scenario.python or scenario.tasks/flows, not both")
        kw["python"] = _python(doc, got["python"], base_dir)
    if "tasks" in got:
        kw["tasks"] = scenario_tasks(doc, got["tasks"], "scenario.tasks", ctx)
    if "flows" in got:
        kw["flows"] = scenario_flows(doc, got["flows"], "scenario.flows", ctx)
    if "think" in got:
        kw["think"] = doc.think(got["think"], "scenario.think")
    if "retry_after" in got:
        kw["retry_after"] = doc.choice(got["retry_after"], "scenario.retry_after", ("honour", "ignore"))
    if "telegram" in got:
        secret = doc.fields(got["telegram"], "scenario.telegram", ("secret_token",))
        if "secret_token" in secret:
            kw["telegram_secret"] = doc.string(secret["secret_token"], "scenario.telegram.secret_token")
            doc.secret(kw["telegram_secret"])
    if "whatsapp" in got:
        secret = doc.fields(got["whatsapp"], "scenario.whatsapp", ("app_secret",))
        if "app_secret" in secret:
            kw["whatsapp_app_secret"] = doc.string(secret["app_secret"], "scenario.whatsapp.app_secret")
            doc.secret(kw["whatsapp_app_secret"])
    pool = _user_pool(doc, got["users"]) if "users" in got else UserPoolSpec()
    catalog = _catalog(doc, got["catalog"]) if "catalog" in got else None
    if not {"python", "tasks", "flows"} & set(got):
        raise doc.error(node, "the scenario needs python: FILE.py, or tasks: and/or flows:")
    return ScenarioSpec(**kw), pool, catalog


def _python(doc: Doc, node: Node, base_dir: Path) -> str:
    """`file.py`, `file.py:Class` or `module:Class`, checked by importing it here."""
    spec = doc.string(node, "scenario.python")
    source, sep, cls = spec.rpartition(":")
    if not sep:
        source, cls = spec, ""
    if sep and not cls.isidentifier():
        raise doc.error(node, f"scenario.python: {cls!r} is not a class name (use FILE.py:Class)")
    is_file = source.endswith(".py") or "/" in source or os.sep in source
    if not is_file and not cls:
        raise doc.error(node, f"scenario.python must be FILE.py, FILE.py:Class or module:Class, got {spec!r}")
    if is_file:
        file = Path(source) if os.path.isabs(source) else base_dir / source
        if not file.is_file():
            raise doc.error(node, f"scenario file '{source}' not found (looked for {file})")
        module = _import(doc, node, source, file=file)
        resolved = str(file) + (f":{cls}" if cls else "")
    else:
        module, resolved = _import(doc, node, source, base_dir=base_dir), spec
    _check_class(doc, node, module, source, cls)
    return resolved


def _import(doc: Doc, node: Node, shown: str, file: Path | None = None, base_dir: Path | None = None):
    """Import the scenario in the parent, so a broken one is one line here, not N tracebacks later."""
    directory = str(file.parent if file else base_dir)
    sys.path.insert(0, directory)  # scenario files import their siblings
    name = f"_driver_scenario_{file.stem}" if file else shown
    try:
        if file is None:
            return importlib.import_module(shown)
        loader_spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # dataclasses and pickling look the module up
        loader_spec.loader.exec_module(module)
        return module
    except SyntaxError as exc:
        where = f" ({os.path.basename(exc.filename or shown)}, line {exc.lineno})" if exc.lineno else ""
        raise doc.error(node, f"scenario '{shown}' does not import: SyntaxError: {exc.msg}{where}") from None
    except (Exception, SystemExit) as exc:
        text = " ".join(str(exc).split())  # one line, whatever the scenario raised
        raise doc.error(node, f"scenario '{shown}' does not import: {type(exc).__name__}: {text}") from None
    finally:
        if file is not None:
            sys.modules.pop(name, None)
        try:
            sys.path.remove(directory)
        except ValueError:
            pass


def _check_class(doc: Doc, node: Node, module, shown: str, cls: str) -> None:
    try:
        from driver.scenario.api import User
    except Exception:  # driver.scenario.api not written yet, or broken: the runner will say
        User = None
    if cls:
        obj = getattr(module, cls, None)
        if obj is None:
            classes = [k for k, v in vars(module).items() if isinstance(v, type)]
            raise doc.error(node, f"scenario '{shown}' has no class '{cls}'{suggest(cls, classes)}")
        if User is not None and not (isinstance(obj, type) and issubclass(obj, User)):
            raise doc.error(node, f"scenario '{shown}': {cls} is not a subclass of driver.scenario.User")
    elif User is not None:
        if not any(isinstance(v, type) and issubclass(v, User) and v is not User for v in vars(module).values()):
            raise doc.error(node, f"scenario '{shown}' defines no subclass of driver.scenario.User")


def _user_pool(doc: Doc, node: Node) -> UserPoolSpec:
    got = doc.fields(node, "scenario.users", POOL_KEYS)
    kw: dict = {}
    if "size" in got:
        kw["size"] = doc.integer(got["size"], "scenario.users.size")
    if "seed" in got:
        kw["seed"] = doc.integer(got["seed"], "scenario.users.seed", minimum=0)
    if "tiers" in got:
        tiers = []
        for name, key, value in doc.items(got["tiers"], "scenario.users.tiers"):
            if name not in TIERS:
                raise doc.error(key, f"scenario.users.tiers: unknown tier '{name}'{suggest(name, TIERS)} "
                                     f"(tiers are {', '.join(TIERS)})")
            tiers.append((name, doc.number(value, f"scenario.users.tiers.{name}")))
        if not tiers:
            raise doc.error(got["tiers"], "scenario.users.tiers must not be empty")
        kw["tiers"] = tuple(tiers)
    if "languages" in got:
        items = doc.seq(got["languages"], "scenario.users.languages")
        kw["languages"] = tuple(doc.string(n, "scenario.users.languages") for n in items)
    return UserPoolSpec(**kw)


def _catalog(doc: Doc, node: Node) -> tuple:
    """The bot's commands: ({name, weight, tier, args, description}, ...) as in payloads.catalog."""
    out, seen = [], {}
    for i, item in enumerate(doc.seq(node, "scenario.catalog")):
        at = join("scenario.catalog", i)
        got = doc.fields(item, at, CATALOG_KEYS, required=("name",))
        name = doc.string(got["name"], join(at, "name"))
        if not _COMMAND.match(name):
            raise doc.error(got["name"], f"{at}.name must be a command like /start (1-32 of a-z, 0-9, _), "
                                         f"got {name!r}")
        if name in seen:
            raise doc.error(got["name"], f"{at}: duplicate command {name} (first at line {seen[name]})")
        seen[name] = got["name"].start_mark.line + 1
        args = got.get("args")
        if args is not None and isinstance(args, yaml.SequenceNode):
            args = tuple(doc.string(a, join(at, "args")) for a in doc.seq(args, join(at, "args"), False))
        elif args is not None:
            args = tuple(doc.string(args, join(at, "args")).split())
        out.append({
            "name": name,
            "weight": doc.number(got["weight"], join(at, "weight")) if "weight" in got else 1.0,
            "tier": doc.choice(got["tier"], join(at, "tier"), TIERS) if "tier" in got else "free",
            "args": args or (),
            "description": doc.string(got["description"], join(at, "description"), empty=True)
            if "description" in got else "",
        })
    return tuple(out)


def _load_values(doc: Doc, node: Node, where: str, keys: tuple, as_written: bool = False) -> dict:
    """make_plan keywords from a `load` or a profile mapping, each value checked on its line.

    as_written: durations stay as the text the user wrote ("20s"), for listing profiles.
    """
    got = doc.fields(node, where, keys)
    if "ramp_up" in got and "stages" in got:
        raise doc.error(got["stages"], f"{where}: give either ramp_up or stages, not both")
    out: dict = {}
    for key, value in got.items():
        at = join(where, key)
        if key in ("users", "requests", "workers", "max_in_flight"):
            out[key] = doc.integer(value, at)
        elif key == "rate":
            out[key] = doc.number(value, at)
        elif key in ("duration", "ramp_up"):
            out[key] = doc.duration(value, at, zero=key == "ramp_up")
            if as_written and isinstance(value, yaml.ScalarNode) and value.tag == _STR:
                out[key] = doc.string(value, at)
        elif key == "stages":
            out[key] = tuple(_stage(doc, n, join(at, i)) for i, n in enumerate(doc.seq(value, at)))
            if not any(t > 0 for _, t in out[key]):
                raise doc.error(value, f"{at}: every stage target is 0, the load never starts")
            if not sum(d for d, _ in out[key]):
                raise doc.error(value, f"{at}: the stages last 0s in all")
        elif key == "description":
            out[key] = doc.string(value, at, empty=True)
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


def _profiles(doc: Doc, node: Node | None) -> dict:
    """Built-ins, with the config's `profiles` merged key by key over them."""
    profiles = {k: dict(v) for k, v in PROFILES.items()}
    if node is None:
        return profiles
    for name, key, value in doc.items(node, "profiles"):
        if not re.match(r"^[A-Za-z0-9_-]+$", name):
            raise doc.error(key, f"profiles: {name!r} is not a profile name (letters, digits, - and _)")
        values = _load_values(doc, value, f"profiles.{name}", PROFILE_KEYS, as_written=True)
        base = profiles.get(name, {})
        if "ramp_up" in values or "stages" in values:  # one replaces the other
            base = {k: v for k, v in base.items() if k not in ("ramp_up", "stages")}
        profiles[name] = {**base, **values}
    return profiles


def _load(doc: Doc, got: dict, overrides: dict, profiles: dict) -> tuple[dict, str | None]:
    """make_plan keywords: profile < load < overrides; and the profile's name."""
    profile = overrides.get("profile")
    if profile is None and "profile" in got:
        profile = doc.string(got["profile"], "profile")
    if profile is not None and profile not in profiles:
        message = unknown_profile(profile, profiles)
        raise doc.error(got["profile"], message) if "profile" not in overrides else PlanError(message)
    values: dict = {}
    layers = [profiles[profile] if profile else {}, _load_values(doc, got["load"], "load", LOAD_KEYS)
              if "load" in got else {}, overrides]
    for layer in layers:
        # A layer's ramp_up replaces lower stages; its stages replace lower ramp_up and the
        # duration (stages set their own length). Both in one layer stay, for make_plan to refuse.
        if "stages" in layer:
            values.pop("ramp_up", None)
            values.pop("duration", None)
        if "ramp_up" in layer:
            values.pop("stages", None)
        values.update({k: v for k, v in layer.items() if k in LOAD_KEYS})
    return values, profile


def _thresholds(doc: Doc, node: Node | None) -> tuple[str, ...]:
    """SLO expressions, kept as text; each parsed here so a bad one names its line."""
    from driver.stats.thresholds import parse_threshold

    out = []
    for i, item in enumerate(doc.seq(node, "thresholds") if node is not None else ()):
        text = doc.string(item, join("thresholds", i), empty=True).strip()
        if not text:
            raise doc.error(item, f"{join('thresholds', i)} must not be empty")
        try:
            parse_threshold(text)
        except PlanError as exc:
            raise doc.error(item, str(exc)) from None
        out.append(text)
    return tuple(out)


def _output(doc: Doc, node: Node) -> dict:
    got = doc.fields(node, "output", OUTPUT_KEYS)
    out: dict = {}
    if "dir" in got:
        out["dir"] = doc.string(got["dir"], "output.dir")
    if "report" in got:
        items = got["report"].value if isinstance(got["report"], yaml.SequenceNode) else [got["report"]]
        out["report"] = tuple(doc.choice(n, "output.report", REPORT_FORMATS) for n in items)
    return out
