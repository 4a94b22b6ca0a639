"""Pick the compiled core when it is built, else the pure-Python reference.

Exports `Recorder`, `now_ns` (from driver._recorder or driver.recorder) and
`ResponseParser` (from driver._httpparse or driver.httpparse), plus the flags
`COMPILED` (the compiled Recorder loaded) and `HTTP_COMPILED`.

Set DRIVER_NO_EXTENSIONS to any non-empty value other than "0" to force the
references (no warning). Otherwise a missing extension prints one warning line on
stderr per process and the reference runs (slower, same results).

The HTTP reference is imported only when `ResponseParser` is first used, so this
module works whichever of its two halves exists.
"""
from __future__ import annotations

import os
import sys

__all__ = ["Recorder", "now_ns", "ResponseParser", "COMPILED", "HTTP_COMPILED", "FORCED_OFF"]

FORCED_OFF = os.environ.get("DRIVER_NO_EXTENSIONS", "") not in ("", "0")

_missing: list[str] = []

COMPILED = False
if not FORCED_OFF:
    try:
        from driver._recorder import Recorder, now_ns
        COMPILED = True
    except ImportError as exc:
        _missing.append(f"driver._recorder: {exc}")
if not COMPILED:
    from driver.recorder import Recorder, now_ns

HTTP_COMPILED = False
if not FORCED_OFF:
    try:
        from driver._httpparse import ResponseParser
        HTTP_COMPILED = True
    except ImportError as exc:
        _missing.append(f"driver._httpparse: {exc}")


def __getattr__(name: str):
    # PEP 562: resolve the HTTP reference on first use, then cache it.
    if name == "ResponseParser":
        from driver.httpparse import ResponseParser

        globals()["ResponseParser"] = ResponseParser
        return ResponseParser
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# This module body runs once per process. Worker processes inherit the environment,
# so the variable below keeps the warning to one line per run, not one per worker.
_WARNED = "DRIVER_SLOW_PATH_WARNED"
if _missing and not os.environ.get(_WARNED):
    os.environ[_WARNED] = "1"
    print(
        f"driver: compiled core not built ({'; '.join(_missing)}); "
        "running the slower pure-Python reference",
        file=sys.stderr,
    )
