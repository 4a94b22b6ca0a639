"""The job queue's depth over time, from the demo job API's Prometheus metrics (the
`watch:` / --metrics-url path: driver.runner.metrics), kept in the per-second series and
charted in report.html's Target metrics beside the run's throughput
(driver.reports.target_metrics)."""
import textwrap

import pytest

import driver
from driver.config import load_config
from driver.errors import PlanError
from driver.reports.target_metrics import THROUGHPUT, metrics_section
from driver.targets.process import JobsDemoTargetProcess


def _watched_run(tmp_path, path: str, metrics: str):
    """Batches of jobs against the demo job API (one worker, 150 ms a job, batches of 10:
    the queue fills with each batch and drains), its `path` watched for `metrics`."""
    with JobsDemoTargetProcess(workers=1, processing_ms=150) as t:
        config = tmp_path / "jobs.yaml"
        config.write_text(textwrap.dedent(f"""
            target: {{base_url: "{t.url}"}}
            scenario:
              tasks:
                - name: rep
                  job:
                    submit: {{path: /jobs, json: {{}}}}
                    poll: {{path: "/jobs/{{id}}", interval: 50ms}}
                    timeout: 10s
                    jobs: 20
                    batch_size: 10
            load: {{users: 1, requests: 1, workers: 1}}
            watch:
              metrics_url: {t.url}{path}
              metrics: {metrics}
        """))
        return driver.run(load_config(config, env={}))


def test_queue_depth_is_sampled_every_second_and_charted_beside_throughput(tmp_path):
    result = _watched_run(tmp_path, "/metrics", "[queue_depth, jobs_running]")
    depths = [p["metrics"]["queue_depth"] for p in result.series if "queue_depth" in (p.get("metrics") or {})]
    assert len(depths) >= 2  # one sample a second over a run of about 3 s
    assert max(depths) > 0  # a batch waited in the queue
    html = metrics_section(result)
    assert THROUGHPUT in html and "queue_depth" in html and "jobs_running" in html
    assert html.index(THROUGHPUT) < html.index("queue_depth")  # the load first, the queue beside it
    assert html.count("<svg") == 3


def test_queue_depth_from_a_json_endpoint(tmp_path):
    # the same queue read from the job API's JSON /queue ({"depth": N, "running": M, ...})
    result = _watched_run(tmp_path, "/queue", '["json:depth", "json:running", "json:no.such.path"]')
    points = [p["metrics"] for p in result.series if p.get("metrics")]
    assert len(points) >= 2 and all(set(p) == {"json:depth", "json:running"} for p in points)
    assert max(p["json:depth"] for p in points) > 0  # a batch waited in the queue
    assert all(p["json:running"] in (0, 1) for p in points)  # one worker
    assert any("json:no.such.path: no such series" in n for n in result.notes)
    html = metrics_section(result)
    assert THROUGHPUT in html and "json:depth" in html


@pytest.mark.parametrize("bad", ["json:", "json:a..b", "json:.a", "json:a b"])
def test_a_bad_json_selector_is_one_line(tmp_path, bad):
    config = tmp_path / "w.yaml"
    config.write_text(f'target: http://127.0.0.1:9/\nwatch:\n  metrics_url: http://127.0.0.1:9/q\n  metrics: ["{bad}"]\n')
    with pytest.raises(PlanError, match=r"json:PATH"):
        load_config(config, env={})
