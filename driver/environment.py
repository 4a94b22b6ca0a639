"""What a result records about where it was measured: versions, CPU, workers."""
from __future__ import annotations

import os
import platform
import sys

from driver import __version__


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_environment(workers: int) -> dict:
    from driver import _speedups

    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:  # pragma: no cover - uvloop is a dependency
        uvloop_version = None
    import numpy

    return {
        "driver": __version__,
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "workers": workers,
        "compiled_core": _speedups.COMPILED,
        "compiled_http": _speedups.HTTP_COMPILED,
        "uvloop": uvloop_version,
        "numpy": numpy.__version__,
    }
