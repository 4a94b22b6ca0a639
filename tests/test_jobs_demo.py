"""The demo job API in its own process, driven by aiohttp's client: submit, poll, the
event stream, the queue limit, failures, the metrics text (read by driver's own
exposition parser) and each fault (jobs that hang, polls reset or stalled)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request

import aiohttp
import orjson
import pytest

from driver.stats.exposition import parse
from driver.targets.jobs_demo import JobsConfig
from driver.targets.process import JobsDemoTargetProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET_S = 0.5  # how long "no answer" is waited for: a bound on the test, not a measurement


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def submit(s: aiohttp.ClientSession, url: str, body=None) -> tuple[int, dict]:
    async with s.post(url + "/jobs", json={"n": 1} if body is None else body) as r:
        return r.status, await r.json()


async def until_terminal(s: aiohttp.ClientSession, url: str, job_id: str) -> dict:
    while True:
        async with s.get(f"{url}/jobs/{job_id}") as r:
            assert r.status == 200
            doc = await r.json()
        if doc["state"] in ("done", "failed"):
            return doc
        await asyncio.sleep(0.01)


def counts_of(url: str) -> dict:
    """The target's /queue counts, read without an event loop (for tests that run driver)."""
    with urllib.request.urlopen(url + "/queue", timeout=10) as r:
        return orjson.loads(r.read())


async def counts(s: aiohttp.ClientSession, url: str) -> dict:
    async with s.get(url + "/queue") as r:
        return await r.json()


@pytest.fixture(scope="module")
def target():
    with JobsDemoTargetProcess(workers=4, processing_ms=20, progress_steps=4) as t:
        yield t


def test_submit_answers_202_and_the_job_runs_to_done(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            status, doc = await submit(s, target.url)
            assert status == 202 and doc["state"] == "queued" and doc["id"]
            final = await until_terminal(s, target.url, doc["id"])
            assert final["state"] == "done" and final["progress"] == 1.0
            assert final["processing_ms"] > 0
            async with s.get(target.url + "/jobs/nope") as r:
                assert r.status == 404
            async with s.post(target.url + "/jobs", data=b"[1, 2]") as r:
                assert r.status == 400
            async with s.get(target.url + "/health") as r:
                assert (await r.json()) == {"ok": True}
    run(go())


def test_events_stream_progress_until_the_terminal_state(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            _, doc = await submit(s, target.url)
            states = []
            async with s.get(f"{target.url}/jobs/{doc['id']}/events") as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                async for line in r.content:  # the stream ends after the terminal state
                    if line.startswith(b"data: "):
                        states.append(orjson.loads(line[6:]))
            assert states[-1]["state"] == "done"
            assert [d["progress"] for d in states] == sorted(d["progress"] for d in states)
            assert {"running"} <= {d["state"] for d in states}
            assert any(0 < d["progress"] < 1 for d in states)
    run(go())


def test_queue_and_metrics_count_the_same_jobs(target):
    async def go():
        async with aiohttp.ClientSession() as s:
            ids = [(await submit(s, target.url))[1]["id"] for _ in range(10)]
            for job_id in ids:
                await until_terminal(s, target.url, job_id)
            c = await counts(s, target.url)
            async with s.get(target.url + "/metrics") as r:
                samples = {x.name: x.value for x in parse(await r.text())}
            assert c["submitted"] >= 10 and c["done"] + c["failed"] + c["running"] + c["depth"] == c["submitted"]
            assert samples["queue_depth"] == c["depth"] and samples["jobs_done_total"] == c["done"]
            assert samples["jobs_submitted_total"] == c["submitted"]
    run(go())


@pytest.mark.parametrize("full_status", [429, 503])
def test_a_full_queue_refuses_with_retry_after(full_status):
    # one worker on a long job: the queue fills after queue_limit submissions
    with JobsDemoTargetProcess(workers=1, processing_ms=5000, queue_limit=3, full_status=full_status) as t:
        async def go():
            async with aiohttp.ClientSession() as s:
                got = [await submit(s, t.url) for _ in range(8)]
                refused = [d for status, d in got if status == full_status]
                assert len([1 for status, _ in got if status == 202]) == 4  # one running + 3 waiting
                assert len(refused) == 4 and refused[0] == {"error": "queue full"}
                async with s.post(t.url + "/jobs", json={}) as r:
                    assert r.headers["Retry-After"] == "1"
                c = await counts(s, t.url)
                assert (c["depth"], c["running"], c["rejected"]) == (3, 1, 5)
        run(go())


def test_fail_share_one_fails_every_job_with_a_reason():
    with JobsDemoTargetProcess(workers=2, processing_ms=1, fail_share=1.0) as t:
        async def go():
            async with aiohttp.ClientSession() as s:
                for _ in range(3):
                    final = await until_terminal(s, t.url, (await submit(s, t.url))[1]["id"])
                    assert final["state"] == "failed" and final["error"] == "simulated failure"
                assert (await counts(s, t.url))["failed"] == 3
        run(go())


async def raw_get(port: int, path: str) -> str:
    """One GET on a fresh connection, by hand (aiohttp's client resends a GET that was
    reset): the job's state, or "reset" / "stalled"."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), QUIET_S)
    except asyncio.TimeoutError:
        return "stalled"
    except ConnectionError:
        return "reset"
    finally:
        writer.close()
    return orjson.loads(data.split(b"\r\n\r\n", 1)[1])["state"] if data else "reset"


def test_faults_hang_reset_and_stall():
    with JobsDemoTargetProcess(workers=2, processing_ms=1, hang_every=2, reset_poll_every=3,
                               stall_poll_every=4) as t:
        async def go():
            async with aiohttp.ClientSession() as s:
                first = (await submit(s, t.url))[1]["id"]
                second = (await submit(s, t.url))[1]["id"]  # the 2nd job hangs
            await asyncio.sleep(0.2)
            # polls 1..4: answered, answered, reset, stalled; 5: answered
            outcomes = [await raw_get(t.port, f"/jobs/{second}") for _ in range(4)]
            assert outcomes == ["running", "running", "reset", "stalled"]
            assert await raw_get(t.port, f"/jobs/{first}") == "done"
        run(go())


@pytest.mark.parametrize("kw", [dict(workers=0), dict(fail_share=1.5), dict(full_status=500),
                                dict(distribution="normal"), dict(hang_every=-1), dict(processing_ms=-1)])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ValueError):
        JobsConfig(**kw)


def test_a_bad_flag_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "driver.targets.jobs_demo", "--fail-share", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith("--fail-share must be between 0 and 1, got 2.0")
