"""A real PostgreSQL for the tests: a cluster of its own in a temporary directory.

    with pg_cluster() as pg:          # initdb, start on 127.0.0.1:PORT and a unix socket
        pg.dsn                        # postgresql://driver:PASSWORD@127.0.0.1:PORT/postgres
        pg.sql("SELECT 1")            # psql-free: one statement through asyncpg
        pg.stop(); pg.start(); pg.kill()

The server refuses to run as root, so as root (CI) it runs as the `postgres` user
Debian's package makes (or a user made here when there is none), through `runuser`.
The binaries come from PATH or /usr/lib/postgresql/*/bin (tests/install.sh installs
Debian's postgresql). Without them a test skips, except under CI (CI=true), where it
fails: CI must run the database tests.
"""
from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PASSWORD = "pg-s3cret-pw"  # the tests check that it never reaches a result or a message
USER = "driver"
START_TIMEOUT_S = 30

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, tier text NOT NULL, email text UNIQUE NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), amount int NOT NULL);
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0));
CREATE TABLE events (id bigserial PRIMARY KEY, user_id int NOT NULL, kind text NOT NULL);
INSERT INTO users SELECT i, 'user ' || i, (ARRAY['free','pro','enterprise'])[1 + i % 3], 'u' || i || '@example.com'
    FROM generate_series(0, 999) AS i;
INSERT INTO orders (user_id, amount) SELECT i % 1000, i % 97 FROM generate_series(1, 5000) AS i;
INSERT INTO accounts SELECT i, 1000 FROM generate_series(1, 100) AS i;
"""


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]) if
                  d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            return Path(d)
    return None


def need_binaries() -> Path:
    """The binaries' directory; skip (fail under CI) without them."""
    found = binaries()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, and CI must run the database tests: "
                        "run tests/install.sh (it installs Debian's postgresql)")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    return found


def server_user() -> str | None:
    """Who runs the server: None (this user) unless root, which the server refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "driverpg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "driverpg"],
                   check=True, capture_output=True)
    return "driverpg"


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: no procps needed)."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One cluster under `root`; `core`: pin the server (and its backends) to these CPUs
    with taskset (benchmarks/run_pg.py)."""

    def __init__(self, bindir: Path, root: Path, runas: str | None, core: str | None = None):
        self.bindir, self.root, self.runas, self.core = bindir, root, runas, core
        self.data = root / "data"
        self.socket_dir = root / "sock"
        self.port = free_port()
        self.log = root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    @property
    def socket_dsn(self) -> str:
        """Over the unix socket (local connections trust: no password)."""
        return f"postgresql://{USER}@/postgres?host={self.socket_dir}&port={self.port}"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.core is not None and args[0] == "pg_ctl":
            cmd = ["taskset", "-c", self.core, *cmd]
        return ["runuser", "-u", self.runas, "--", *cmd] if self.runas else cmd

    def init(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        self.socket_dir.mkdir()
        if self.runas:
            entry = pwd.getpwnam(self.runas)
            for p in (self.root, pwfile, self.socket_dir):
                os.chown(p, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._cmd("initdb", "-D", str(self.data), "-U", USER, "-E", "UTF8", "--no-sync",
                                 "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"),
                       check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 "
                "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all")
        proc = subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts,
                                        "-w", "-t", str(START_TIMEOUT_S), "start"),
                              capture_output=True, timeout=START_TIMEOUT_S + 10)
        if proc.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"postgres did not start: {proc.stderr.decode()} {log[-2000:]}")

    def stop(self) -> None:
        subprocess.run(self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                       capture_output=True, timeout=60)

    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash would."""
        pid = self.pid()
        for p in [pid, *_children(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    break
            time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            (self.data / "postmaster.pid").unlink()

    def sql(self, query: str, *args, fetch: str = "execute"):
        """One statement through asyncpg (over the unix socket); `fetch`: execute, rows, value."""
        import asyncpg

        async def go():
            conn = await asyncpg.connect(self.socket_dsn)
            try:
                if fetch == "rows":
                    return [dict(r) for r in await conn.fetch(query, *args)]
                if fetch == "value":
                    return await conn.fetchval(query, *args)
                return await conn.execute(query, *args)
            finally:
                await conn.close()

        return asyncio.run(go())

    def calls(self, pattern: str) -> int:
        """How many times the server ran statements whose text contains `pattern`."""
        return int(self.sql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE $1",
                            f"%{pattern}%", fetch="value"))

    def reset_stats(self) -> None:
        self.sql("SELECT pg_stat_statements_reset()")


@contextlib.contextmanager
def pg_cluster(schema: str = SCHEMA):
    """A started cluster with `schema` loaded, stopped and removed at the end."""
    bindir = need_binaries()
    root = Path(tempfile.mkdtemp(prefix="driver-pg-"))
    os.chmod(root, 0o755)
    cluster = Cluster(bindir, root, server_user())
    try:
        cluster.init()
        cluster.start()
        cluster.sql(schema)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    """A PostgreSQL cluster shared by the session (the schema above loaded)."""
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_own():
    """A cluster of the test's own, for tests that stop or kill the server."""
    with pg_cluster() as cluster:
        yield cluster
