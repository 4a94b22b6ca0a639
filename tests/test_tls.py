"""TLS: a certificate that does not verify is a reachability failure before the run
(exit 3, one line), not a clean run of errors; TLS errors during a run have a kind."""
import asyncio
import contextlib
import ssl
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

import driver
from driver.runner.supervisor import run as supervisor_run

trustme = pytest.importorskip("trustme")
ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def self_signed_server(hostname="127.0.0.1"):
    """An aiohttp https server on loopback with a certificate from a CA nobody trusts."""
    from aiohttp import web

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(ctx)

    async def ok(request):
        return web.json_response({"tls": True})

    app = web.Application()
    app.router.add_get("/", ok)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state = {}

    async def start():
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        state["runner"] = runner
        state["port"] = site._server.sockets[0].getsockname()[1]
        ready.set()

    t = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield f"https://127.0.0.1:{state['port']}/"
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True, timeout=120)


def test_an_unverifiable_certificate_stops_the_run_before_it_starts(tmp_path):
    with self_signed_server() as url:
        proc = _cli("run", url, "-u", "2", "-d", "1s", "-w", "1", "-q", "-o", str(tmp_path))
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "certificate" in lines[0] and "--insecure" in lines[0]
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*/result.json"))  # nothing ran


def test_insecure_runs_against_a_self_signed_certificate(tmp_path):
    with self_signed_server() as url:
        proc = _cli("run", url, "-k", "-u", "2", "-n", "40", "-w", "1", "-q", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    (path,) = tmp_path.glob("*/result.json")
    totals = orjson.loads(path.read_bytes())["totals"]
    assert totals["requests"] == 40 and totals["errors"] == 0


def test_tls_errors_during_a_run_are_their_own_kind():
    # the certificate goes bad after the check (here: no check): every connect fails
    # verification, and the errors say so instead of "other"
    with self_signed_server() as url:
        plan = replace(driver.make_plan(url, users=2, duration="0.5s", workers=1), grace_s=0.2)
        result = supervisor_run(plan, check_target=False)
    tot = result.totals()
    assert tot.requests == 0
    assert tot.errors_by_kind["tls"] >= 2
    assert tot.errors == tot.errors_by_kind["tls"]
