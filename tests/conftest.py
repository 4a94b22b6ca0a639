"""Shared fixtures: real servers on loopback (see tests/servers.py for the helpers)."""
from __future__ import annotations

import signal

import pytest

from tests.servers import NginxServer, nginx_server

# Tests send SIGINT to the CLIs they start, as a terminal's Ctrl-C would. A shell that
# starts the suite in the background (`nohup`, `&`) leaves SIGINT ignored, and every
# child would inherit that and never see it: give the session Python's default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
