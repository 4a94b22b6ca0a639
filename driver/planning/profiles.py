"""The named load profiles, and the layers they give.

A built-in profile is an open loop at `rate` arrivals/s with at most `users` in
flight, for `duration`. A config file may add its own profiles and override the
built-ins key by key (driver.config reads them); either way a profile is the lowest
layer of the settings (driver.planning.layers).
"""
from __future__ import annotations

from driver.errors import suggest
from driver.planning.layers import Source, layer, values_of

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


def builtin_layer(name: str) -> dict:
    """The built-in profile `name` as a layer ({} when there is none by that name)."""
    return {key: (value, Source(f"{key} of profile {name}", given=False))
            for key, value in PROFILES.get(name, {}).items()}


def profile_layers(name: str | None, custom: dict, where: Source) -> list[dict]:
    """The lowest layers of a run: the built-in profile `name`, then a config's own
    profile of that name (`custom`: name -> layer). PlanError at `where` for a name
    that is neither."""
    if name is None:
        return []
    if name not in PROFILES and name not in custom:
        raise where.error(unknown_profile(name, {**PROFILES, **custom}))
    return [builtin_layer(name), custom.get(name, {})]


def merged_profiles(custom: dict) -> dict:
    """name -> values of every profile, a config's (`custom`: name -> layer) over the
    built-ins by the rules of `layer`; for `driver profiles`."""
    names = list(PROFILES) + [n for n in custom if n not in PROFILES]
    return {name: values_of(layer(builtin_layer(name), custom.get(name, {}))) for name in names}
