"""The pytest plugin (driver.pytest_plugin): the `driver_load` fixture in a test's own
process, its failures, and the session's "driver loads" section. Each case is a pytest
run of its own (`-p driver.pytest_plugin`, the worktree's driver on PYTHONPATH)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(directory: Path, *args, env=None, timeout=300):
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "driver.pytest_plugin",
                           *args], cwd=directory, capture_output=True, timeout=timeout, env=environ)


def write_test(tmp_path: Path, body: str) -> None:
    (tmp_path / "test_it.py").write_text(textwrap.dedent(body))


def test_the_fixture_loads_the_tests_own_component(tmp_path):
    write_test(tmp_path, """
        import asyncio

        class Counter:
            def __init__(self):
                self.calls = 0

            async def hit(self, ctx):
                self.calls += 1
                await asyncio.sleep(0)

        def test_counter(driver_load):
            counter = Counter()
            result = driver_load(counter.hit, users=5, requests=100)
            assert counter.calls == 100 == result.success   # the very object the test made
            result.assert_p95_below(5)
            result.assert_memory_growth_below(50)
            assert driver_load.last is result

        def test_async_test_awaits_arun(driver_load):
            async def main():
                async def call():
                    pass
                return await driver_load.arun(call, users=2, requests=10, memory=False)
            assert asyncio.run(main()).success == 10
    """)
    proc = run_pytest(tmp_path)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    assert "2 passed" in out and "driver loads" in out
    assert "test_it.py::test_counter" in out and "hit: 100 calls" in out and "p95" in out and "memory" in out


def test_a_failed_memory_assertion_shows_the_allocation_sites(tmp_path):
    write_test(tmp_path, """
        kept = []

        def leak():
            kept.append(bytearray(100_000))

        def test_leak(driver_load):
            driver_load(leak, users=1, requests=100).assert_memory_growth_below(1)
    """)
    proc = run_pytest(tmp_path, "--driver-report=none")
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "memory growth" in out and "is not below 1 MiB" in out
    assert "top allocation sites" in out and "test_it.py:5: +9." in out
    assert "== driver loads ==" not in out  # --driver-report=none


def test_the_fixture_refuses_inside_a_running_loop(tmp_path):
    write_test(tmp_path, """
        import asyncio
        import pytest

        def test_inside(driver_load):
            async def main():
                async def call():
                    pass
                driver_load(call, users=1, requests=1)
            with pytest.raises(RuntimeError, match="await driver_load.arun"):
                asyncio.run(main())
    """)
    proc = run_pytest(tmp_path)
    assert proc.returncode == 0, proc.stdout.decode()
