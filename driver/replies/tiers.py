"""Which tier the bot puts a user in, as driver must predict it to judge a reply.

A bot decides tiers from its own data; driver only sends user ids. The rule says how
the bot does it:
- `ranges` (the default, the demo bot's): id ranges per tier (driver.payloads.catalog's
  TIER_BASE / TIER_SPAN unless given: {tier: (low, high)}, high exclusive);
- `ids`: explicit lists of ids per tier, every other id in `default`;
- `function`: "module:function" or "file.py:function" taking the user id and
  returning a tier name (loaded in each worker; resolved from the scenario's folder).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Mapping

from driver.payloads.catalog import TIERS, tier_of_id

__all__ = ["TierRule", "load_function"]


@dataclass(frozen=True)
class TierRule:
    by: str = "ranges"  # "ranges" | "ids" | "function"
    ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # empty: the catalog's
    ids: Mapping[str, frozenset] = field(default_factory=dict)
    default: str = "free"
    function: str | None = None
    base_dir: str = "."

    def resolver(self) -> Callable[[int], str]:
        """The rule as a function of a user id (imports a `function` rule's code)."""
        if self.by == "function":
            fn = load_function(self.function or "", self.base_dir)
            return lambda user_id: _checked(fn(user_id), self.function)
        if self.by == "ids":
            table = {i: tier for tier, members in self.ids.items() for i in members}
            return lambda user_id: table.get(user_id, self.default)
        if not self.ranges:
            return tier_of_id
        spans = tuple((low, high, tier) for tier, (low, high) in self.ranges.items())

        def by_range(user_id: int) -> str:
            for low, high, tier in spans:
                if low <= user_id < high:
                    return tier
            return self.default
        return by_range


def _checked(tier, where) -> str:
    if tier not in TIERS:
        raise ValueError(f"tier function {where} returned {tier!r}, not one of {', '.join(TIERS)}")
    return tier


def load_function(spec: str, base_dir: str = ".") -> Callable:
    """`module:name` or `path/file.py:name` -> the callable (ValueError naming the problem)."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise ValueError(f"expected module:function or file.py:function, got {spec!r}")
    try:
        if target.endswith(".py"):
            path = target if os.path.isabs(target) else os.path.join(base_dir, target)
            module_spec = importlib.util.spec_from_file_location(f"driver_user_{abs(hash(path))}", path)
            if module_spec is None or module_spec.loader is None or not os.path.isfile(path):
                raise ValueError(f"no such file: {path}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if base_dir not in sys.path:
                sys.path.insert(0, base_dir)
            module = importlib.import_module(target)
    except ValueError:
        raise
    except Exception as exc:  # the user's code: any error is theirs, said in one line
        raise ValueError(f"cannot load {target}: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"{target} has no function {name!r}")
    return fn
