"""Scenarios: what a virtual user does (Python `User` classes or YAML tasks and flows).

    from driver.scenario import User, task, between

`api` holds the public classes, `session` the HTTP client a user calls (`self.http`),
`yamltasks` builds User classes from YAML, `loader` finds a scenario's User class,
and `unit` runs virtual users as units of the engine's scheduler.
"""
from driver.scenario.api import CheckFailed, Response, User, between, constant, pacing, task

__all__ = ["User", "task", "constant", "between", "pacing", "CheckFailed", "Response"]
