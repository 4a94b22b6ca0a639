"""The one layering of a run's settings: built-in profile -> config profile -> config -> flags.

A layer maps a key to `(value, Source)`; the source says how a message names the
value ("--users", "load.users") and where it belongs (the flag, or file:line).
`layer(*layers)` puts each layer over the ones before it, key by key, with two rules
that keep a load shape whole:

- a layer that sets `stages` drops the `ramp_up` and the `duration` of the layers
  below it: stages set their own length (a `duration` in the same layer still applies);
- a layer that sets `ramp_up` drops the `stages` below it.

So `driver run URL --profile smoke --stage 10s:5` lasts 10 s, like the same flags
over a config file. Both paths call this function: `driver.planning.make_plan` (a URL
and flags) and `driver.config.load_config` (a config file and flags).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from driver.errors import PlanError, PlanWarning

# The settings that layer, and the flag that sets each one (the library's keywords are
# named like the long flags, so a library user's message names the same thing).
FLAGS = {
    "users": "--users",
    "rate": "--rate",
    "duration": "--duration",
    "requests": "--requests",
    "ramp_up": "--ramp-up",
    "stages": "--stage",
    "workers": "--workers",
    "max_in_flight": "--max-in-flight",
    "think": "--think",
    "timeout": "--timeout",
    "connect_timeout": "--connect-timeout",
    "insecure": "--insecure",
    "output": "--output",
    "report": "--report",
}
KEYS = tuple(FLAGS)
PROFILE_KEYS = ("users", "rate", "duration", "ramp_up", "stages")  # what a profile may set


@dataclass(frozen=True)
class Source:
    """Where one setting came from."""

    name: str  # how a message names it: "--users", "load.users", "users of profile smoke"
    flag: str | None = None  # the flag that gave it
    file: str | None = None  # or the config file and line
    line: int | None = None
    given: bool = True  # set for this run (a flag, the config's load); False: a profile's value

    @classmethod
    def of_flag(cls, flag: str) -> "Source":
        return cls(flag, flag=flag)

    def error(self, message: str) -> PlanError:
        return PlanError(message, flag=self.flag, file=self.file, line=self.line)

    def locate(self, exc: PlanError) -> PlanError:
        """`exc` (raised about this setting) placed here, unless it already knows where it is."""
        return exc.located(flag=self.flag, file=self.file, line=self.line)

    def warn(self, message: str) -> None:
        """A PlanWarning about this setting: `message` names it (begin it with `self.name`)."""
        warnings.warn(PlanWarning(message, flag=self.flag, file=self.file, line=self.line), stacklevel=2)


def flag_layer(values: dict) -> dict:
    """The layer of the flags given: keyword -> (value, its flag's Source).

    None, False (an unset switch) and an empty list mean "not given"; 0 is a value.
    """
    unknown = set(values) - set(FLAGS)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    return {k: (v, Source.of_flag(FLAGS[k])) for k, v in values.items() if _given(v)}


def _given(value) -> bool:
    if value is None or value is False:
        return False
    return not (isinstance(value, (tuple, list)) and not value)


def layer(*layers: dict) -> dict:
    """The settings of `layers`, each over the ones before it (see the module's rules)."""
    values: dict = {}
    for one in layers:
        if "stages" in one and "ramp_up" in one:
            ramp, stages = one["ramp_up"][1], one["stages"][1]
            raise stages.error(f"give either {ramp.name} or {stages.name}, not both")
        if "stages" in one:
            values.pop("ramp_up", None)
            values.pop("duration", None)
        if "ramp_up" in one:
            values.pop("stages", None)
        values.update(one)
    return values


def values_of(settings: dict) -> dict:
    """Just the values of a layer (for listing, and for tests)."""
    return {k: v for k, (v, _) in settings.items()}
