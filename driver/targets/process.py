"""The demo target in a process of its own: `python -m driver.targets.demo` started,
its bound port read from its first line, stopped on exit (`driver demo` and the tests
use it, so that the target never shares the load generator's CPU or event loop)."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from typing import Any

from driver.targets.serving import LISTENING_PREFIX

_SECRET_FLAGS = frozenset({"--secret", "--app-secret", "--bot-token", "--whatsapp-token"})


class TargetStartError(RuntimeError):
    """The demo target process did not come up (it exited, or never said it listens)."""


def _package_root() -> str:
    # The directory holding the `driver` package, so the child imports this same copy
    # even when the package is not installed (tests run from a checkout).
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class DemoTargetProcess:
    """The demo target in a subprocess, for tests and demos.

        with DemoTargetProcess() as target:
            ...  # target.url == "http://127.0.0.1:PORT"

    Starts `python -m driver.targets.demo --port 0`, reads the bound port from its
    first stdout line (TargetStartError after `startup_timeout` seconds or when the
    child exits first, with its stderr), and on exit sends SIGTERM, then SIGKILL
    after `stop_timeout` seconds.

    API mode (replies through a platform API, see `driver.targets.api_mode`):
    `api_url` (Telegram Bot API base, e.g. a mock's URL) with `bot_token`,
    `whatsapp_api_url` (Graph API base) with `whatsapp_token`, and the breaker
    settings `breaker_failures` (consecutive failures that open it) and
    `breaker_reset_s` (seconds open before a probe); `api_timeout_s` per call.
    None leaves the target's default. Tokens and secrets never appear in errors.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 secret: str | None = None, delay_ms: float = 0,
                 rate_limit: float | None = None, verify_token: str | None = None,
                 app_secret: str | None = None, api_url: str | None = None,
                 bot_token: str | None = None, whatsapp_api_url: str | None = None,
                 whatsapp_token: str | None = None, breaker_failures: int | None = None,
                 breaker_reset_s: float | None = None, api_timeout_s: float | None = None,
                 startup_timeout: float = 15.0, stop_timeout: float = 3.0) -> None:
        self.host = host
        self.requested_port = port
        self.secret = secret
        self.delay_ms = delay_ms
        self.rate_limit = rate_limit
        self.verify_token = verify_token  # None: the default, DEFAULT_VERIFY_TOKEN
        self.app_secret = app_secret
        self.api_url = api_url
        self.bot_token = bot_token
        self.whatsapp_api_url = whatsapp_api_url
        self.whatsapp_token = whatsapp_token
        self.breaker_failures = breaker_failures
        self.breaker_reset_s = breaker_reset_s
        self.api_timeout_s = api_timeout_s
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.port: int | None = None
        self.url: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "driver.targets.demo",
               "--host", self.host, "--port", str(self.requested_port)]
        if self.secret is not None:
            cmd += ["--secret", self.secret]
        if self.delay_ms:
            cmd += ["--delay-ms", str(self.delay_ms)]
        if self.rate_limit is not None:
            cmd += ["--rate-limit", str(self.rate_limit)]
        if self.verify_token is not None:
            cmd += ["--verify-token", self.verify_token]
        for flag, value in (("--app-secret", self.app_secret), ("--api-url", self.api_url),
                            ("--bot-token", self.bot_token),
                            ("--whatsapp-api-url", self.whatsapp_api_url),
                            ("--whatsapp-token", self.whatsapp_token),
                            ("--breaker-failures", self.breaker_failures),
                            ("--breaker-reset", self.breaker_reset_s),
                            ("--api-timeout", self.api_timeout_s)):
            if value is not None:
                cmd += [flag, str(value)]
        return cmd

    def _shown_command(self) -> str:
        """The command line for messages, with the values of secret flags masked."""
        cmd = self._command()[1:]
        return " ".join("***" if i and cmd[i - 1] in _SECRET_FLAGS else arg
                        for i, arg in enumerate(cmd))

    def start(self) -> "DemoTargetProcess":
        if self.proc is not None:
            raise RuntimeError("DemoTargetProcess already started")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_root(), env.get("PYTHONPATH")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env,
        )
        try:
            line = self._read_listening_line()
            self.url = line[len(LISTENING_PREFIX):].strip()
            self.port = int(self.url.rsplit(":", 1)[1])
        except BaseException:
            self.stop()
            raise
        return self

    def _read_listening_line(self) -> str:
        """The `demo target listening on ...` line (other lines before it are skipped)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        while True:
            for line in buf.split(b"\n")[:-1]:
                if line.startswith(LISTENING_PREFIX.encode()):
                    return line.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._start_error(
                    f"did not report listening within {self.startup_timeout:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                try:
                    self.proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    raise self._start_error("closed its stdout before listening") from None
                raise self._start_error(f"exited with code {self.proc.returncode}")
            buf += chunk

    def _start_error(self, what: str) -> TargetStartError:
        stderr = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            stderr = self._stderr.read()[-4000:].decode("utf-8", "replace").strip()
        msg = f"demo target ({self._shown_command()}) {what}"
        return TargetStartError(msg + (f"; its stderr:\n{stderr}" if stderr else ""))

    def stop(self) -> None:
        """Terminate the target (SIGTERM, then SIGKILL) and reap it; idempotent."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def __enter__(self) -> "DemoTargetProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DemoTargetProcess(url={self.url!r}, pid={self.pid})"


class _FlaggedTargetProcess(DemoTargetProcess):
    """A demo target module run with `--OPTION VALUE` flags for its keyword options
    (`MODULE`, `OPTIONS`: the flags it takes, underscores for dashes)."""

    MODULE = ""
    OPTIONS: tuple[str, ...] = ()

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 startup_timeout: float = 15.0, stop_timeout: float = 3.0,
                 **options: float | int | str | None) -> None:
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown option(s) {', '.join(unknown)}")
        super().__init__(host, port, startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self.options = {k: v for k, v in options.items() if v is not None}

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", self.MODULE, "--host", self.host, "--port", str(self.requested_port)]
        for name in self.OPTIONS:
            if name in self.options:
                cmd += ["--" + name.replace("_", "-"), str(self.options[name])]
        return cmd

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, pid={self.pid})"


class WsDemoTargetProcess(_FlaggedTargetProcess):
    """The WebSocket demo target (`driver.targets.ws_demo`) in a subprocess:

        with WsDemoTargetProcess(close_every=3, close_after=5) as target:
            ...  # target.url == "ws://127.0.0.1:PORT" (routes /echo, /broadcast, /push)

    Same start, stop and errors as DemoTargetProcess; the keywords are ws_demo's flags
    (`push_interval_ms`, `max_message`, and the faults `close_every`, `close_after`,
    `drop_every`, `drop_after`, `stall_every`, `stall_after`, `garbage_every`; None
    leaves the default)."""

    MODULE = "driver.targets.ws_demo"
    OPTIONS = ("push_interval_ms", "max_message", "close_every", "close_after", "drop_every",
                "drop_after", "stall_every", "stall_after", "garbage_every")


class JobsDemoTargetProcess(_FlaggedTargetProcess):
    """The demo job API (`driver.targets.jobs_demo`) in a subprocess:

        with JobsDemoTargetProcess(workers=2, processing_ms=20, fail_share=0.1) as target:
            ...  # target.url == "http://127.0.0.1:PORT" (POST /jobs, GET /jobs/{id}[/events], /metrics)

    Same start, stop and errors as DemoTargetProcess; the keywords are jobs_demo's flags
    (`workers`, `processing_ms`, `distribution`, `spread_ms`, `fail_share`, `queue_limit`,
    `full_status`, `progress_steps`, `seed`, and the faults `hang_every`,
    `reset_poll_every`, `stall_poll_every`, `cut_events_every`; None leaves the default)."""

    MODULE = "driver.targets.jobs_demo"
    OPTIONS = ("workers", "processing_ms", "distribution", "spread_ms", "fail_share", "queue_limit",
                "full_status", "progress_steps", "seed", "hang_every", "reset_poll_every", "stall_poll_every",
                "cut_events_every")


class CallsDemoTargetProcess(_FlaggedTargetProcess):
    """The demo call API (`driver.targets.calls_demo`) in a subprocess:

        with CallsDemoTargetProcess(max_calls=4, drop_every=3) as target:
            ...  # target.url == "http://127.0.0.1:PORT" (POST /calls, WS /calls/{id}/media, GET /calls/{id})

    Same start, stop and errors as DemoTargetProcess; the keywords are calls_demo's flags
    (`max_calls`, `busy_status`, `setup_ms`, `codec`, `sample_rate`, `frame_ms`, `late_ms`,
    `event_every`, and the faults `drop_every`, `fail_every`, `drop_after`,
    `stall_status_every`; None leaves the default)."""

    MODULE = "driver.targets.calls_demo"
    OPTIONS = ("max_calls", "busy_status", "setup_ms", "codec", "sample_rate", "frame_ms", "late_ms", "event_every",
               "drop_every", "fail_every", "drop_after", "stall_status_every")
