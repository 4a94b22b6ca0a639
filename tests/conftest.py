"""Shared fixtures: real servers on loopback (see tests/servers.py for the helpers)."""
from __future__ import annotations

import pytest

from tests.servers import NginxServer, nginx_server


@pytest.fixture(scope="session")
def demo_target():
    """The demo bot in its own process, shared by the session: a DemoTargetProcess
    (`.url`, `.port`). Its /health update count only grows: compare deltas."""
    from driver.targets.process import DemoTargetProcess

    with DemoTargetProcess() as target:
        yield target


@pytest.fixture
def nginx(tmp_path) -> NginxServer:
    """A fresh nginx on 127.0.0.1 (skipped when nginx is missing, failed on CI)."""
    with nginx_server(tmp_path) as server:
        yield server


from tests.pg import pg, pg_own  # noqa: E402,F401  (a real PostgreSQL: tests/pg.py)
