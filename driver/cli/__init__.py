"""The `driver` command line (click): the group and entry point are in driver.cli.app;
importing this package registers every command module on the group."""
from __future__ import annotations

from driver.cli.app import DEFAULT_FORMATS, DEFAULT_OUTPUT, cli, execute, main, warnings_shown
from driver.cli import capacity, demo, mock, run, tools, ui  # noqa: F401  (each registers its commands)
from driver.cli.demo import demo_chaos
from driver.cli.run import build_plan

__all__ = ["DEFAULT_FORMATS", "DEFAULT_OUTPUT", "build_plan", "cli", "demo_chaos", "execute", "main",
           "warnings_shown"]
