"""The `scenario:` section of a config: a Python scenario (imported here, so a broken one
is one line naming its file:line), or tasks and flows in YAML (driver.config.tasks);
the synthetic user pool; the bot's command catalog.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

import yaml
from yaml.nodes import Node

from driver.config.schema import Doc, join
from driver.config.tasks import scenario_flows, scenario_tasks
from driver.errors import suggest
from driver.payloads.catalog import TIERS, Command, load_catalog
from driver.payloads.telegram_text import username
from driver.plan import ScenarioSpec, UserPoolSpec
from driver.planning.layers import Source

SCENARIO_KEYS = ("python", "tasks", "flows", "think", "retry_after", "telegram", "whatsapp", "users",
                 "catalog", "bot_username", "db")
POOL_KEYS = ("size", "seed", "tiers", "languages")
CATALOG_KEYS = ("name", "weight", "tier", "args", "description")
_COMMAND = re.compile(r"^/[a-z0-9_]{1,32}$")


def read_scenario(doc: Doc, node: Node, target: dict, base_dir: Path):
    """(ScenarioSpec, UserPoolSpec, catalog or None, settings) from the scenario section.

    `target` gives the base path and the headers every YAML task starts from;
    `settings` is this section's part of the config layer (its `think`).
    """
    got = doc.fields(node, "scenario", SCENARIO_KEYS)
    kw: dict = {"base_dir": str(base_dir)}
    # read before the tasks: their commands are checked against the catalog, and their
    # /cmd@bot and mentions name the bot (driver.config.tasks)
    catalog = _catalog(doc, got["catalog"]) if "catalog" in got else None
    if "bot_username" in got:
        kw["bot_username"] = _bot_username(doc, got["bot_username"])
    ctx = {"base_path": target["base_path"], "headers": target["headers"], "bot_username": kw.get("bot_username"),
           "commands": None if catalog is None else tuple(c.name for c in catalog)}
    if "python" in got:
        if "tasks" in got or "flows" in got:
            raise doc.error(got["python"], "give either scenario.python or scenario.tasks/flows, not both")
        kw["python"] = _python(doc, got["python"], base_dir)
    if "db" in got:  # the database of every sql: task that names none (driver.config.sql)
        from driver.config.sql import read_db

        if "tasks" not in got:
            raise doc.error(got["db"], "scenario.db is the database of sql: tasks: give scenario.tasks too "
                                       "(a Python scenario sets db_settings on its User class)")
        ctx["db"] = read_db(doc, got["db"], "scenario.db")
    if "tasks" in got:
        kw["tasks"] = scenario_tasks(doc, got["tasks"], "scenario.tasks", ctx)
    if "flows" in got:
        kw["flows"] = scenario_flows(doc, got["flows"], "scenario.flows", ctx)
    settings = {}
    if "think" in got:
        kw["think"] = doc.think(got["think"], "scenario.think")
        settings["think"] = (kw["think"], Source("scenario.think", file=doc.file, line=doc.line(got["think"])))
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
    if not {"python", "tasks", "flows"} & set(got):
        raise doc.error(node, "the scenario needs python: FILE.py, or tasks: and/or flows:")
    return ScenarioSpec(**kw), pool, catalog, settings


def _bot_username(doc: Doc, node: Node) -> str:
    """The bot's @name (Telegram's rule: a letter, then 4-32 letters, digits or _)."""
    name = doc.string(node, "scenario.bot_username").removeprefix("@")
    try:
        return username(name)
    except ValueError as exc:
        raise doc.error(node, f"scenario.bot_username: {exc}") from None


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


def _catalog(doc: Doc, node: Node) -> tuple[Command, ...]:
    """The bot's commands (driver.payloads.catalog), each checked on its line."""
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
    return load_catalog(out)
