"""driver._speedups: the compiled core loads where it is built (CI), the switch
forces the references silently, and a missing extension warns once."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import driver._speedups as speedups
import driver.recorder as reference

ROOT = Path(__file__).resolve().parents[1]
WARNING = "compiled core not built"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "DRIVER_NO_EXTENSIONS"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI promises a built extension")
def test_compiled_core_loaded_in_ci():
    assert speedups.COMPILED, "driver._recorder did not load: build it with `python setup.py build_ext --inplace`"
    assert speedups.Recorder.__module__ == "driver._recorder"


def test_flag_matches_what_loaded():
    if speedups.FORCED_OFF:
        assert not speedups.COMPILED and not speedups.HTTP_COMPILED
    if speedups.COMPILED:
        import driver._recorder as core

        assert (speedups.Recorder, speedups.now_ns) == (core.Recorder, core.now_ns)
    else:
        assert (speedups.Recorder, speedups.now_ns) == (reference.Recorder, time.monotonic_ns)


@pytest.mark.parametrize("value", ["1", "yes"])
def test_switch_forces_the_reference_without_a_warning(value):
    done = run_python(
        "import driver._speedups as s, time;"
        "print(s.COMPILED, s.HTTP_COMPILED, s.Recorder.__module__, s.now_ns is time.monotonic_ns)",
        DRIVER_NO_EXTENSIONS=value,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "driver.recorder", "True"]
    assert done.stderr == ""


@pytest.mark.parametrize("value", ["", "0"])
def test_switch_empty_or_zero_does_not_force(value):
    done = run_python("import driver._speedups as s; print(s.FORCED_OFF)", DRIVER_NO_EXTENSIONS=value)
    assert done.stdout.split() == ["False"]


def test_missing_extensions_warn_once_and_fall_back():
    # Block both extensions as if they were never built, import twice.
    done = run_python(
        "import sys; sys.modules['driver._recorder'] = None; sys.modules['driver._httpparse'] = None;"
        "import driver._speedups as s; import driver._speedups;"
        "print(s.COMPILED, s.HTTP_COMPILED, s.Recorder.__module__)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "driver.recorder"]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("driver: " + WARNING)
    assert "driver._recorder" in lines[0] and "driver._httpparse" in lines[0]
    assert lines[0].endswith("running the slower pure-Python reference")


def test_response_parser_reference_is_imported_lazily():
    pytest.importorskip("driver.httpparse")
    done = run_python(
        "import sys, driver._speedups as s;"
        "lazy = 'driver.httpparse' not in sys.modules or s.HTTP_COMPILED;"
        "print(lazy, s.ResponseParser.__module__)",
        DRIVER_NO_EXTENSIONS="1",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "driver.httpparse"]
