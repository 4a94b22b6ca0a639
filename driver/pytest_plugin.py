"""pytest plugin: load a Python component from a test, in the test's own process, and
assert on the result. Registered through the `pytest11` entry point (installed with
driver); without the install, `pytest -p driver.pytest_plugin`.

    def test_global_limit(driver_load):
        manager = ConversationManager(max_concurrent=20)

        async def start(ctx):
            await manager.start(f"user-{ctx.user}")

        result = driver_load(start, users=50, requests=50, rejected=[LimitReached])
        result.assert_counts(success=20, rejected=30)
        result.assert_p95_below(5.0)
        result.assert_memory_growth_below(50)
        assert manager.started == 20           # the component is the test's own object

The fixture `driver_load(target, **options)` runs driver.runner.inline.run_load: the
same scheduler, unit kind and statistics as `driver run`, on a fresh event loop in this
thread, and returns a LoadResult (min/max/mean/p50/p95/p99 in seconds, success /
rejected / error counts and rates, throughput, memory before/after/peak/growth with the
top allocation sites). In an `async def` test, `await driver_load.arun(...)` runs on the
test's own loop. Every load's figures are printed at the end of the session (section
"driver loads"; `--driver-report=none` to leave them out).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the runner (numpy, psutil...) is imported when a test first loads, not by every pytest
    from driver.runner.loadresult import LoadResult

_RESULTS = pytest.StashKey[list]()


def pytest_addoption(parser) -> None:
    group = parser.getgroup("driver", "driver: in-process loads")
    group.addoption("--driver-report", choices=("summary", "none"), default="summary",
                    help="print every driver_load's figures at the end of the session (default: summary)")


def pytest_configure(config) -> None:
    config.stash[_RESULTS] = []


class DriverLoad:
    """The `driver_load` fixture: call it to run a load; `results` holds this test's loads."""

    def __init__(self, request):
        self.request = request
        self.results: list = []

    def __call__(self, target, **options) -> "LoadResult":
        from driver.runner.inline import run_load

        return self._keep(run_load(target, **options))

    async def arun(self, target, **options) -> "LoadResult":
        from driver.runner.inline import arun_load

        return self._keep(await arun_load(target, **options))

    @property
    def last(self) -> "LoadResult":
        if not self.results:
            raise LookupError("no load has run in this test yet")
        return self.results[-1]

    def _keep(self, result: "LoadResult") -> "LoadResult":
        self.results.append(result)
        config = self.request.config
        config.stash.setdefault(_RESULTS, []).append((self.request.node.nodeid, result))
        self.request.node.add_report_section("call", "driver load", result.report())
        return result


@pytest.fixture
def driver_load(request) -> DriverLoad:
    """Run an in-process load inside this test: `driver_load(callable_or_"module:function",
    users=, rate=, requests=, duration=, rejected=, classify=, ...) -> LoadResult`."""
    return DriverLoad(request)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    results = config.stash.get(_RESULTS, [])
    if not results or config.getoption("driver_report") == "none":
        return
    terminalreporter.section("driver loads")
    for nodeid, result in results:
        terminalreporter.write_line(f"{nodeid}")
        for line in result.report().splitlines():
            terminalreporter.write_line(f"  {line}")
