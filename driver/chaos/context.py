"""What the chaos runner needs from the process that runs it: the target, the mock's
fault switch, and a place to record what each fault did.

The run's bot-side process (driver.runner) implements it: `record` writes an endpoint
row "chaos:<name>" into its shared-memory stats block, so chaos requests are counted,
timed and checked like any others; tests implement it with a small class that keeps
the calls. `Faults` is driver.mock.faults.Faults; it is only named here (driver.mock is
a sibling package of the same layer), and the runner derives a window's faults from
`base_faults()` with dataclasses.replace.
"""
from __future__ import annotations

from typing import Any, Protocol

__all__ = ["ChaosContext"]


class ChaosContext(Protocol):
    start_ns: int  # time.monotonic_ns() of t=0 of the load: event times count from here
    target_url: str  # the webhook's origin, "http://127.0.0.1:8080" (no path)
    webhook_path: str  # "/webhook"
    platform: str  # "telegram" | "whatsapp"
    secret_token: str | None  # X-Telegram-Bot-Api-Secret-Token the bot expects, if any
    app_secret: str | None  # signs WhatsApp bodies (X-Hub-Signature-256), if the bot checks them
    health_path: str | None  # polled every second through the run when set ("/health")

    def set_faults(self, faults: Any) -> None:
        """Make `faults` (a driver.mock.faults.Faults) the mock's current fault config."""

    def base_faults(self) -> Any:
        """The mock's fault config outside chaos windows (the config's `mock` faults)."""

    def record(self, name: str, *, status: int = 0, error: str | None = None, latency_ns: int = 0,
               check: tuple[bool, str] | None = None) -> None:
        """One chaos request (or connection) under endpoint "chaos:<name>": its HTTP status
        (0: none), its transport error (a key of driver.layout.ERROR_COUNTERS), its latency,
        and a check (passed, reason when failed)."""

    def stopping(self) -> bool:
        """True once the run is ending: every fault stops."""

    def update_body(self) -> bytes:
        """A valid webhook body for the platform (a fresh update each call)."""
