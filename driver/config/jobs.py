"""A YAML task that is an async job: `job:` instead of a request (driver.scenario.jobs).

    - name: report
      job:
        submit: {path: /jobs, json: {kind: pdf, user: "{{user.id}}"}, expect: {status: 202}}
        poll: {path: "/jobs/{id}", interval: 100ms, backoff: 1.5, max_interval: 2s}
        processing: processing_ms
        timeout: 30s
        jobs: 100
        batch_size: 10

The task's request is the submission (`submit` takes a task's method, path, headers,
json/body, and `expect: {status: ...}` — the statuses that accept a job, 2xx when not
given); the normalised task gets a `job` dict of driver.scenario.jobs.JobSpec's fields.
`events: {path: ...}` follows the job's SSE stream instead of polling, `ws: {path: ...}`
a WebSocket of its progress (each message a JSON document of the job); `submit_only:
true` follows nothing. `{id}` in a path is the job's id.
"""
from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode

from driver.config.schema import Doc, join
from driver.scenario.jobs import JobSpec, UNITS

__all__ = ["JOB_KEYS", "is_job", "job_task"]

JOB_TASK_KEYS = ("name", "weight", "job")
JOB_KEYS = ("submit", "id", "state", "poll", "events", "ws", "submit_only", "success", "failure", "queued", "progress",
            "processing", "processing_unit", "timeout", "jobs", "batch_size")
SUBMIT_KEYS = ("method", "path", "headers", "json", "body", "expect")
POLL_KEYS = ("path", "interval", "backoff", "max_interval")


def is_job(node: Node) -> bool:
    """Whether a task's node declares a job (has a `job` key)."""
    return isinstance(node, MappingNode) and any(isinstance(k, ScalarNode) and k.value == "job" for k, _ in node.value)


def _states(doc: Doc, node: Node, where: str) -> tuple:
    items = doc.seq(node, where) if not isinstance(node, ScalarNode) else [node]
    return tuple(doc.string(item, where) for item in items)


def _path(doc: Doc, node: Node, where: str, keys: tuple) -> tuple[str, dict]:
    """A poll or events path (a string, or a mapping with `path`) and its other fields."""
    if isinstance(node, ScalarNode):
        path, got = doc.string(node, where), {}
    else:
        got = doc.fields(node, where, keys, required=("path",))
        path = doc.string(got["path"], join(where, "path"))
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise doc.error(node, f"{where} must be a path like /jobs/{{id}}, got {path!r}")
    return path, got


def _follow(doc: Doc, got: dict, where: str, base_path: str) -> dict:
    """How the job is followed: track, its path and the polling pace."""
    given = [k for k in ("poll", "events", "ws", "submit_only") if k in got]
    if len(given) > 1:
        raise doc.error(got[given[1]], f"{where} has both '{given[0]}' and '{given[1]}': follow a job one way")
    out: dict = {}
    if "submit_only" in got:
        out["track"] = "none" if doc.boolean(got["submit_only"], join(where, "submit_only")) else "poll"
    if "events" in got:
        path, _ = _path(doc, got["events"], join(where, "events"), ("path",))
        out["track"], out["events"] = "events", base_path + path
    if "ws" in got:
        path, _ = _path(doc, got["ws"], join(where, "ws"), ("path",))
        out["track"], out["ws"] = "ws", base_path + path
    if "poll" in got:
        at = join(where, "poll")
        path, fields = _path(doc, got["poll"], at, POLL_KEYS)
        out["poll"] = base_path + path
        if "interval" in fields:
            out["interval_s"] = doc.duration(fields["interval"], join(at, "interval"), zero=True)
        if "max_interval" in fields:
            out["max_interval_s"] = doc.duration(fields["max_interval"], join(at, "max_interval"))
        if "backoff" in fields:
            out["backoff"] = doc.number(fields["backoff"], join(at, "backoff"))
        if "interval_s" in out and "max_interval_s" not in out:
            out["max_interval_s"] = max(out["interval_s"], JobSpec.max_interval_s)
    out.setdefault("poll", base_path + JobSpec.poll)
    out.setdefault("events", base_path + JobSpec.events)
    out.setdefault("ws", base_path + JobSpec.ws)
    return out


def job_task(doc: Doc, node: Node, where: str, ctx: dict) -> dict:
    """A task with `job:`: the submission as the task's request, plus its `job` fields."""
    from driver.config.tasks import task

    got = doc.fields(node, where, JOB_TASK_KEYS, required=("name", "job"))
    name = doc.string(got["name"], join(where, "name"))
    at = join(where, "job")
    fields = doc.fields(got["job"], at, JOB_KEYS, required=("submit",))
    submit_at = join(at, "submit")
    submit = doc.fields(fields["submit"], submit_at, SUBMIT_KEYS, required=("path",))
    out = task(doc, fields["submit"], submit_at, ctx, step_name=name)
    expect = out["expect"]
    if expect["json"] or expect["contains"] or expect["headers"]:
        raise doc.error(submit["expect"], f"{join(submit_at, 'expect')} takes only status: the statuses "
                                          "that accept a job")
    out["weight"] = doc.number(got["weight"], join(where, "weight")) if "weight" in got else 1.0
    job: dict = {"accept": expect["status"] or ("2xx",)}
    for key in ("id", "state", "progress", "processing"):
        if key in fields:
            job[key] = doc.string(fields[key], join(at, key))
    for key in ("success", "failure", "queued"):
        if key in fields:
            job[key] = _states(doc, fields[key], join(at, key))
    if "processing_unit" in fields:
        job["processing_unit"] = doc.choice(fields["processing_unit"], join(at, "processing_unit"), tuple(UNITS))
    if "timeout" in fields:
        job["timeout_s"] = doc.duration(fields["timeout"], join(at, "timeout"))
    for key in ("jobs", "batch_size"):
        if key in fields:
            job[key] = doc.integer(fields[key], join(at, key))
    job.update(_follow(doc, fields, at, ctx["base_path"]))
    if ctx["headers"]:  # the target's headers (its auth) go with the polls and streams too
        job["headers"] = tuple(ctx["headers"].items())
    try:
        JobSpec(name, **job)
    except ValueError as exc:
        raise doc.error(got["job"], f"{at}: {exc}") from None
    out["job"] = job
    return out
