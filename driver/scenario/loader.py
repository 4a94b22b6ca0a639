"""Finding a scenario's User class: a Python file or module, or one built from YAML.

Checked in the parent before the run (a broken scenario is one line there, not a
dead worker) and again in each worker.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from driver.errors import PlanError
from driver.plan import ScenarioSpec
from driver.scenario.api import User


def load_user_class(spec: ScenarioSpec) -> type[User]:
    """The User class a scenario names, or one built from its YAML tasks and flows."""
    if not spec.python:
        from driver.scenario.yamltasks import build_user_class

        return build_user_class(spec)
    source, _, cls_name = spec.python.rpartition(":") if ":" in spec.python else (spec.python, "", "")
    if source.endswith(".py") or "/" in source:
        path = Path(spec.base_dir, source)
        mod_name = "driver_scenario_" + path.stem
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PlanError(f"scenario file not found: {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[mod_name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(source)
    if cls_name:
        cls = getattr(module, cls_name, None)
        if not (isinstance(cls, type) and issubclass(cls, User)):
            raise PlanError(f"{spec.python}: {cls_name} is not a driver.scenario.User subclass")
    else:
        found = [v for v in vars(module).values()
                 if isinstance(v, type) and issubclass(v, User) and v is not User and v.__module__ == module.__name__]
        if len(found) != 1:
            raise PlanError(f"{spec.python}: expected one User subclass, found {len(found)}; name it as FILE:Class")
        cls = found[0]
    check_tasks(cls)
    return cls


# attributes of driver.scenario.User a task would hide (e.g. a task named `wait` replaces
# the think time with a method)
RESERVED = frozenset({"wait", "http", "user", "rng", "state", "captured", "on_start", "on_stop", "tasks",
                      "iteration_start_ns", "ws", "jobs", "calls", "db", "expect_reply", "wait_reply"})


def check_tasks(cls: type[User]) -> list[tuple[str, float]]:
    """The class's (task, weight) list; PlanError when there is none, or when a task or
    hook is a plain function (it would block the worker's event loop: `async def` it)."""
    tasks = cls.tasks()
    if not tasks:
        raise PlanError(f"scenario {cls.__name__} has no @task methods")
    for name, _ in tasks:
        if name in RESERVED:
            raise PlanError(f"{cls.__name__}.{name}: a task may not be named {name!r}, the User class uses "
                            f"that name ({', '.join(sorted(RESERVED))} are taken)")
    for name in [t for t, _ in tasks] + ["on_start", "on_stop"]:
        func = getattr(cls, name)
        if not (inspect.iscoroutinefunction(func) or getattr(func, "driver_coroutine", False)):
            raise PlanError(f"{cls.__name__}.{name} must be `async def` (a plain function would block "
                            f"every user of its worker)")
    return tasks
