"""Async jobs (driver.scenario.jobs) against the demo job API in its own process: followed
by polling and by the event stream, submission only, a full queue, failing jobs, jobs
that never finish, polls that are reset or stalled, and the relations of the counts.
Every run is bounded by its count of iterations and by the jobs' timeout."""
from __future__ import annotations

import textwrap

import pytest

import driver
from driver.cli import build_plan
from driver.config import load_config
from driver.targets.process import JobsDemoTargetProcess
from tests.test_jobs_demo import counts_of


def scenario(tmp_path, body: str) -> str:
    path = tmp_path / "jobs_scenario.py"
    path.write_text("from driver.scenario import User, task\n" + textwrap.dedent(body))
    return str(path)


def python_run(tmp_path, url: str, call: str, users: int = 1, iterations: int = 1, **plan):
    path = scenario(tmp_path, f"""
        class Jobs(User):
            @task
            async def go(self):
                await self.jobs.run({call})
    """)
    load = {"users": users, "workers": 1, **plan} | ({"requests": iterations} if iterations else {})
    return driver.run(build_plan(url, load, path))


def ends(result, name: str) -> dict:
    """The counts of a job name, read from its endpoints as driver.scenario.jobs says, with
    the relations between them checked on every run."""
    submit = result.endpoint(f"job:{name}:submit")
    got = {"submitted": submit.sent, "accepted": submit.checks - submit.check_failures,
           "rejected": submit.check_failures}
    assert got["submitted"] == got["accepted"] + got["rejected"] + submit.errors
    if f"job:{name}" not in {ep.name for ep in result.endpoints}:  # nothing followed
        return got
    job = result.endpoint(f"job:{name}")
    got.update(completed=job.flows, failed=job.errors_by_kind["other"],
               timed_out=job.errors_by_kind["request_timeout"], unfinished=job.unfinished, followed=job.sent)
    assert got["followed"] == got["accepted"] == got["completed"] + got["failed"] + got["timed_out"] + got["unfinished"]
    assert result.endpoint(f"job:{name}:first_progress").sent == got["followed"]
    return got


def reasons(result) -> dict:
    return {(c["endpoint"], c["reason"]): c["failures"] for c in result.checks}


def test_polling_follows_every_job_to_done(tmp_path):
    with JobsDemoTargetProcess(workers=4, processing_ms=30) as t:
        result = python_run(tmp_path, t.url, '"r", submit={"path": "/jobs", "json": {"n": 1}}, interval=0.01, '
                                           'processing="processing_ms", jobs=12, batch_size=4, timeout=10',
                            users=2, iterations=4)  # -n: iterations in all
        server = counts_of(t.url)
    got = ends(result, "r")
    assert got == {"submitted": 48, "accepted": 48, "rejected": 0, "completed": 48, "failed": 0, "timed_out": 0,
                   "unfinished": 0, "followed": 48}
    assert server["done"] == 48
    assert result.endpoint("job:r:first_progress").flows == 48
    processing = result.endpoint("job:r:processing")
    assert processing.flows == 48
    e2e = result.endpoint("job:r").latency()
    # end to end covers the processing the server reported, plus queueing and polling
    assert e2e["p50_ns"] >= processing.latency()["p50_ns"]
    assert result.endpoint("job:r:poll").requests >= 48


def test_the_event_stream_follows_every_job_to_done(tmp_path):
    with JobsDemoTargetProcess(workers=4, processing_ms=30, progress_steps=4) as t:
        result = python_run(tmp_path, t.url, '"s", submit={"path": "/jobs", "json": {}}, track="events", '
                                           'processing="processing_ms", jobs=8, batch_size=8, timeout=10')
    got = ends(result, "s")
    assert (got["submitted"], got["completed"], got["failed"], got["timed_out"]) == (8, 8, 0, 0)
    events = result.endpoint("job:s:events")
    assert events.requests == 8 and events.status["2xx"] == 8 and events.check_failures == 0
    assert result.endpoint("job:s:first_progress").flows == 8
    assert result.endpoint("job:s:processing").flows == 8
    assert "job:s:poll" not in {ep.name for ep in result.endpoints}


def test_a_websocket_progress_stream_follows_every_job_to_done(tmp_path):
    with JobsDemoTargetProcess(workers=4, processing_ms=30, progress_steps=4) as t:
        result = python_run(tmp_path, t.url, '"w", submit={"path": "/jobs", "json": {}}, track="ws", '
                                           'processing="processing_ms", jobs=8, batch_size=8, timeout=10')
    got = ends(result, "w")
    assert (got["submitted"], got["completed"], got["failed"], got["timed_out"]) == (8, 8, 0, 0)
    stream = result.endpoint("job:w:events")  # the progress streams' endpoint, SSE or WebSocket
    assert stream.requests == 8 and stream.status["1xx"] == 8 and stream.check_failures == 0  # 101: upgraded
    assert result.endpoint("job:w:first_progress").flows == 8
    assert result.endpoint("job:w:processing").flows == 8
    assert "job:w:poll" not in {ep.name for ep in result.endpoints}


def test_a_websocket_stream_for_an_unknown_job_is_a_refused_upgrade(tmp_path):
    # the id read from the answer is not the job's: every stream is answered 404, until the deadline
    with JobsDemoTargetProcess(workers=2, processing_ms=5) as t:
        result = python_run(tmp_path, t.url, '"u", submit={"path": "/jobs", "json": {}}, track="ws", '
                                           'ws="/jobs/nope-{id}/ws", interval=0.05, jobs=2, batch_size=2, timeout=1')
    got = ends(result, "u")
    assert got["timed_out"] == 2
    stream = result.endpoint("job:u:events")
    # each job's stream tried at least once, every try answered 404, none opened (no check)
    assert stream.requests >= 2 and stream.status["4xx"] == stream.requests and stream.checks == 0


def test_submission_only_into_a_full_queue_counts_the_rejections(tmp_path):
    # one worker on a long job and 3 places in the queue: 4 of 8 are accepted
    with JobsDemoTargetProcess(workers=1, processing_ms=5000, queue_limit=3) as t:
        result = python_run(tmp_path, t.url, '"q", submit={"path": "/jobs", "json": {}}, track="none", '
                                           'jobs=8, batch_size=1')
        server = counts_of(t.url)
    got = ends(result, "q")
    assert (got["submitted"], got["accepted"], got["rejected"]) == (8, 4, 4)
    assert (server["submitted"], server["rejected"]) == (4, 4)
    submit = result.endpoint("job:q:submit")
    assert submit.throttled == 4 and submit.status["2xx"] == 4
    assert reasons(result)[("job:q:submit", "job rejected: status 429")] == 4
    assert "job:q" not in {ep.name for ep in result.endpoints}  # nothing followed


def test_failing_jobs_are_errors_with_their_reason(tmp_path):
    with JobsDemoTargetProcess(workers=2, processing_ms=5, fail_share=1.0) as t:
        result = python_run(tmp_path, t.url, '"f", submit={"path": "/jobs", "json": {}}, interval=0.01, '
                                           'jobs=6, batch_size=3, timeout=10')
    got = ends(result, "f")
    assert (got["accepted"], got["failed"], got["completed"], got["timed_out"]) == (6, 6, 0, 0)
    assert reasons(result)[("job:f", "job failed")] == 6
    assert result.totals().errors >= 6  # the failures weigh on the run's errors


@pytest.mark.parametrize("track", ["poll", "events", "ws"])
def test_jobs_that_never_finish_time_out(tmp_path, track):
    with JobsDemoTargetProcess(workers=2, processing_ms=5, hang_every=2) as t:
        result = python_run(tmp_path, t.url, '"h", submit={"path": "/jobs", "json": {}}, interval=0.02, '
                                           f'backoff=2, max_interval=0.1, jobs=6, batch_size=6, timeout=1.5, '
                                           f'track="{track}"')
    got = ends(result, "h")
    assert (got["accepted"], got["completed"], got["timed_out"], got["failed"]) == (6, 3, 3, 0)
    assert reasons(result)[("job:h", "job timed out after 1.5s")] == 3
    assert got["followed"] == 6 and result.endpoint("job:h").checks == 0  # reasons, not checks
    assert result.endpoint("job:h:first_progress").flows == 6  # the hung ones did start


def test_reset_and_stalled_polls_are_counted_and_polled_again(tmp_path):
    with JobsDemoTargetProcess(workers=4, processing_ms=100, reset_poll_every=3, stall_poll_every=7) as t:
        result = python_run(tmp_path, t.url, '"p", submit={"path": "/jobs", "json": {}}, interval=0.02, '
                                           'jobs=8, batch_size=4, timeout=10', timeout="0.3s")
    got = ends(result, "p")
    assert (got["accepted"], got["completed"], got["failed"], got["timed_out"]) == (8, 8, 0, 0)
    poll = result.endpoint("job:p:poll")
    assert poll.errors_by_kind["connection_reset"] >= 1
    assert poll.errors_by_kind["request_timeout"] >= 1
    assert poll.sent == poll.requests + poll.errors  # every poll sent has one outcome


def test_jobs_followed_when_the_run_ends_are_unfinished(tmp_path):
    # every job hangs and may wait 60 s, the run lasts 1 s: the jobs followed are unfinished
    with JobsDemoTargetProcess(workers=2, processing_ms=5, hang_every=1) as t:
        result = python_run(tmp_path, t.url, '"u", submit={"path": "/jobs", "json": {}}, interval=0.05, '
                                           'jobs=4, batch_size=4, timeout=60', iterations=None, duration="1s")
    got = ends(result, "u")
    assert got["accepted"] == 4 and got["unfinished"] == 4
    assert got["completed"] + got["failed"] + got["timed_out"] == 0
    assert got["followed"] == 4  # followed = completed + failed + timed out + unfinished


@pytest.mark.parametrize("kw", [
    dict(track="websocket"),  # not a way to follow a job (ws is)
    dict(jobs=0),
    dict(batch_size=0),
    dict(backoff=0.5),
    dict(timeout_s=0),
    dict(processing_unit="us"),
])
def test_bad_job_settings_are_refused(kw):
    from driver.scenario.jobs import JobSpec

    with pytest.raises(ValueError):
        JobSpec("x", **kw)


def test_a_yaml_plan_gives_job_tasks_their_endpoints():
    from driver.plan import ScenarioSpec, scenario_endpoints
    from driver.scenario.jobs import endpoint_names

    for track in ("poll", "events", "ws", "none"):
        task = {"name": "rep", "job": {"track": track}}
        assert set(endpoint_names("rep", track)) <= set(scenario_endpoints(ScenarioSpec(tasks=(task,))))


YAML = """
target: {{base_url: "{url}"}}
scenario:
  tasks:
    - name: rep
      job:
        submit: {{path: /jobs, json: {{user: "{{{{user.id}}}}", n: "{{{{seq}}}}"}}, expect: {{status: 202}}}}
        {follow}
        processing: processing_ms
        timeout: 10s
        jobs: 6
        batch_size: 3
load: {{users: 2, requests: 2, workers: 1}}
"""


@pytest.mark.parametrize("follow", ['poll: {path: "/jobs/{id}", interval: 10ms, backoff: 2, max_interval: 50ms}',
                                    'events: "/jobs/{id}/events"', 'ws: {path: "/jobs/{id}/ws"}'])
def test_a_yaml_job_task_runs_its_batches(tmp_path, follow):
    with JobsDemoTargetProcess(workers=4, processing_ms=20, fail_share=0.5, seed=7) as t:
        path = tmp_path / "jobs.yaml"
        path.write_text(YAML.format(url=t.url, follow=follow))
        result = driver.run(load_config(path, env={}))
        server = counts_of(t.url)
    got = ends(result, "rep")
    assert got["submitted"] == got["accepted"] == 12  # 2 iterations of 6 jobs
    assert (got["completed"], got["failed"]) == (server["done"], server["failed"])
    assert got["completed"] + got["failed"] == 12 and got["timed_out"] == got["unfinished"] == 0
    assert result.endpoint("job:rep:processing").flows == 12


def test_a_yaml_submission_only_task(tmp_path):
    with JobsDemoTargetProcess(workers=1, processing_ms=1) as t:
        path = tmp_path / "jobs.yaml"
        path.write_text(YAML.format(url=t.url, follow="submit_only: true"))
        result = driver.run(load_config(path, env={}))
    assert ends(result, "rep") == {"submitted": 12, "accepted": 12, "rejected": 0}


@pytest.mark.parametrize("follow, message", [
    ('poll: "/jobs/{id}"\n        events: "/jobs/{id}/events"', "has both 'poll' and 'events'"),
    ('events: "/jobs/{id}/events"\n        ws: "/jobs/{id}/ws"', "has both 'events' and 'ws'"),
    ('poll: {path: "jobs/{id}"}', "must be a path like /jobs/{id}"),
    ('poll: {path: /j, every: 1s}', "unknown key 'every'"),
    ('pol: /j', "unknown key 'pol'"),
    ('poll: {path: /j, interval: 2s, max_interval: 1s}', "max_interval >= interval"),
    ('processing_unit: us', "processing_unit must be one of ms, s"),
])
def test_yaml_job_mistakes_name_their_line(tmp_path, follow, message):
    from driver.errors import PlanError

    path = tmp_path / "bad.yaml"
    path.write_text(YAML.format(url="http://127.0.0.1:9", follow=follow))
    with pytest.raises(PlanError) as err:
        load_config(path, env={})
    assert message in str(err.value) and "bad.yaml:" in str(err.value)


def test_open_loop_arrivals_are_jobs_timed_from_their_intended_start(tmp_path):
    with JobsDemoTargetProcess(workers=4, processing_ms=10) as t:
        result = python_run(tmp_path, t.url, '"o", submit={"path": "/jobs", "json": {}}, interval=0.01, timeout=10',
                            iterations=None, rate=20, duration="1s")
    got = ends(result, "o")
    arrivals = result.endpoint("iteration")
    assert got["completed"] == got["accepted"] == arrivals.flows > 0  # one job per arrival, each completed
    # a job's time covers its submission and polls, from the arrival's intended start
    assert result.endpoint("job:o").latency()["p50_ns"] >= result.endpoint("job:o:submit").latency()["p50_ns"]


@pytest.mark.parametrize("track", ["events", "ws"])
def test_a_cut_event_stream_is_a_failed_check_and_is_opened_again(tmp_path, track):
    with JobsDemoTargetProcess(workers=4, processing_ms=40, cut_events_every=2) as t:
        result = python_run(tmp_path, t.url, f'"c", submit={{"path": "/jobs", "json": {{}}}}, track="{track}", '
                                           'interval=0.01, jobs=6, batch_size=6, timeout=10')
    got = ends(result, "c")
    assert got["completed"] == 6  # each job followed to its end over the streams opened again
    events = result.endpoint("job:c:events")
    assert events.check_failures >= 1 and events.requests == events.checks  # one check per stream answered
    assert events.requests == 6 + events.check_failures  # each cut stream was opened again
    assert reasons(result)[("job:c:events", "stream ended before a terminal state")] == events.check_failures
