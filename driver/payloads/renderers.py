"""A body generator's method bound to fixed arguments: what a scenario step renders.

A YAML step names a kind and its arguments once (`telegram: {kind: text, text: "hi
{{user.first_name}}"}`); per request only the templated arguments change. `bind`
returns `render(user, captured=None, rng=None) -> bytes` that calls the method with
the static arguments as given and each dynamic one from its getter
`g(user, captured, rng)` (a compiled template's `render`). Generators with faster
special cases (TelegramUpdates.compile) fall back to this for the rest.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["Renderer", "bind", "check_arguments"]

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
