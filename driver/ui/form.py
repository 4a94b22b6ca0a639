"""The page's start form -> a validated Plan, by the same library calls as `driver run`.

The form is JSON: a target `url` or a `config` file (relative to the working
directory), an optional `scenario` file (URL runs), a `profile`, `users` with an
optional `spawn_rate` (users started per second: a ramp-up of users / spawn_rate
seconds, Locust's form) or a `rate` (arrivals per second, open loop), `duration`,
`requests`, `workers`, and `thresholds` (one per line, as with -t). Each field is
checked for its type here; everything else is the planner's (driver.planning,
driver.config), whose PlanError names the field. Results always go to the UI's
output directory, in every format, so that each can be downloaded.
"""
from __future__ import annotations

from pathlib import Path

from driver.errors import PlanError
from driver.ui.files import UiError, inside

__all__ = ["plan_from_form", "FIELDS"]

FIELDS = ("url", "config", "scenario", "profile", "users", "spawn_rate", "rate", "duration", "requests",
          "workers", "thresholds")
MAX_TEXT = 2000  # characters in one text field
# the planner's flags -> the form's fields (its PlanError says which flag)
_FIELD_OF_FLAG = {"--users": "users", "--rate": "rate", "--duration": "duration", "--requests": "requests",
                  "--ramp-up": "spawn_rate", "--workers": "workers", "--threshold": "thresholds",
                  "--profile": "profile", "-s": "scenario", "--scenario": "scenario", "URL": "url",
                  "-c": "config", "--config": "config"}


def _text(form: dict, key: str) -> str | None:
    value = form.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise UiError(f"{key}: expected text", 400, key)
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise UiError(f"{key}: longer than {MAX_TEXT} characters", 400, key)
    return text or None


def _number(form: dict, key: str, integer: bool):
    text = _text(form, key)
    if text is None:
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise UiError(f"{key}: {text!r} is not a {'whole ' if integer else ''}number", 400, key) from None
    if value < 0 or value != value or value == float("inf"):
        raise UiError(f"{key}: must be a positive number, got {text}", 400, key)
    return value


def _thresholds(form: dict) -> list[str]:
    value = form.get("thresholds") or []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UiError("thresholds: one per line", 400, "thresholds")
    return [v.strip() for v in value if v.strip()][:100]


def plan_from_form(form: dict, workdir: Path, output: Path):
    """The Plan the form describes; UiError (400, naming the field) for what is wrong."""
    from driver.config import load_config
    from driver.planning import make_plan
    from driver.reports import FORMATS

    if not isinstance(form, dict):
        raise UiError("expected a JSON object", 400)
    unknown = sorted(set(form) - set(FIELDS))
    if unknown:
        raise UiError(f"unknown field {unknown[0]!r}", 400, unknown[0])
    url, config = _text(form, "url"), _text(form, "config")
    users, rate = _number(form, "users", True), _number(form, "rate", False)
    spawn = _number(form, "spawn_rate", False)
    settings = {"users": users, "rate": rate, "duration": _text(form, "duration"),
                "requests": _number(form, "requests", True), "workers": _number(form, "workers", True),
                "ramp_up": f"{users / spawn:g}s" if users and spawn else None,
                "output": str(output), "report": FORMATS}
    if spawn is not None and not users:
        raise UiError("spawn_rate: give the users it starts", 400, "spawn_rate")
    profile, thresholds = _text(form, "profile"), _thresholds(form)
    try:
        if config:
            if url or _text(form, "scenario"):
                raise UiError("give a URL or a config file, not both (a config names its own target and "
                              "scenario)", 400, "config")
            path = inside(workdir, config, "config")
            if not path.is_file():
                raise UiError(f"config: {config}: no such file in the working directory", 404, "config")
            return load_config(path, {**settings, "profile": profile, "thresholds": thresholds})
        if not url:
            raise UiError("give a target URL or choose a config file", 400, "url")
        scenario = _text(form, "scenario")
        if scenario is not None:
            file_part, sep, cls = scenario.partition(":")
            scenario = str(inside(workdir, file_part, "scenario")) + sep + cls
        return make_plan(url, profile=profile, scenario=scenario, thresholds=thresholds, **settings)
    except PlanError as exc:
        field = _FIELD_OF_FLAG.get(getattr(exc, "flag", None) or "", None)
        raise UiError(str(exc), 400, field) from None
