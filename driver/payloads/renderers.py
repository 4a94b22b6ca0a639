"""A body generator's method bound to fixed arguments: what a scenario step renders.

A YAML step names a kind and its arguments once (`telegram: {kind: text, text: "hi
{{user.first_name}}"}`); per request only the templated arguments change. `bind`
returns `render(user, captured=None, rng=None) -> bytes` that calls the method with
the static arguments as given and each dynamic one from its getter
`g(user, captured, rng)` (a compiled template's `render`). Generators with faster
special cases (TelegramUpdates.compile) fall back to this for the rest.

A YAML step's arguments are strings: `flag`, `integer` and `number` take a bool or a
number as given, or its YAML spelling, and refuse anything else with a ValueError
naming the argument.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["Renderer", "bind", "check_arguments", "flag", "integer", "number"]

# render(user, captured=None, rng=None) -> bytes
Renderer = Callable[..., bytes]


def check_arguments(what: str, method, static: dict[str, Any], dynamic: dict[str, Callable]) -> None:
    """ValueError naming `what` when the method does not take these keyword arguments."""
    try:
        inspect.signature(method).bind(None, **static, **dynamic)
    except TypeError as exc:
        raise ValueError(f"{what}: {exc}") from None


def bind(method, static: dict[str, Any], dynamic: dict[str, Callable]) -> Renderer:
    """`method(user, **static, **{name: get(user, captured, rng)})` as a renderer."""
    if not dynamic:
        return lambda user, c=None, r=None: method(user, **static)
    if len(dynamic) == 1 and not static:  # one templated argument: no dict to copy
        ((name, get),) = dynamic.items()
        return lambda user, c=None, r=None: method(user, **{name: get(user, c, r)})
    items = tuple(dynamic.items())

    def render(user, c=None, r=None):
        kw = static.copy()
        for name, get in items:
            kw[name] = get(user, c, r)
        return method(user, **kw)
    return render


def flag(value, name: str) -> bool:
    """A bool, or its YAML spelling ("true", "false", "yes", "no", "on", "off", "1", "0")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """An int (or its digits as a string) in [low, high]."""
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError
        got = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if (low is not None and got < low) or (high is not None and got > high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {got}")
    return got


def number(value, name: str, low: float, high: float) -> float:
    """A float (or its spelling as a string) in [low, high]."""
    try:
        if isinstance(value, bool):
            raise ValueError
        got = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not low <= got <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {got}")
    return got
