"""A YAML task that is a simulated call: `call:` instead of a request (driver.scenario.calls).

    - name: support
      call:
        initiate: {path: /calls, json: {codec: pcmu, sample_rate: 8000, frame_ms: 20}, expect: {status: 201}}
        media: "/calls/{id}/media"
        status: {path: "/calls/{id}", interval: 1s}
        hangup: {method: DELETE, path: "/calls/{id}"}
        duration: 30s
        codec: pcmu
        sample_rate: 8000
        frame_ms: 20
        audio: tone            # or a WAV file (relative to the config file)

The task's request is the initiate (`initiate` takes a task's method, path, headers,
json/body, and `expect: {status: ...}` — the statuses that accept a call, 2xx when not
given); the normalised task gets a `call` dict of driver.scenario.calls.CallSpec's
fields. `status: false` polls nothing, `hangup: false` ends calls by closing the media
socket; `{id}` in a path is the call's id. The audio is checked here: a WAV file that is
missing or not PCM WAV is an error at its line.
"""
from __future__ import annotations

from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from driver.config.schema import Doc, join
from driver.payloads.audio import CODECS, read_wav
from driver.scenario.calls import CallSpec

__all__ = ["CALL_KEYS", "call_task", "is_call"]

CALL_TASK_KEYS = ("name", "weight", "call")
CALL_KEYS = ("initiate", "id", "state", "failure", "media", "status", "hangup", "duration", "codec", "sample_rate",
             "frame_ms", "audio")
INITIATE_KEYS = ("method", "path", "headers", "json", "body", "expect")
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"


def is_call(node: Node) -> bool:
    """Whether a task's node declares a call (has a `call` key)."""
    return isinstance(node, MappingNode) and any(isinstance(k, ScalarNode) and k.value == "call" for k, _ in node.value)


def _off(node: Node) -> bool:
    """`false` or `null`: the step is not done (no polls, no hangup request)."""
    return isinstance(node, ScalarNode) and (node.tag == _NULL or (node.tag == _BOOL and node.value.lower() == "false"))


def _path(doc: Doc, node: Node, where: str, base_path: str, ws: bool = False) -> str:
    path = doc.string(node, where)
    full = ws and path.startswith(("ws://", "wss://"))
    if (not path.startswith("/") and not full) or any(c.isspace() for c in path):
        raise doc.error(node, f"{where} must be a path like /calls/{{id}}{' (or a ws:// URL)' if ws else ''}, "
                              f"got {path!r}")
    return path if full else base_path + path


def _request_path(doc: Doc, node: Node, where: str, base_path: str, keys: tuple) -> tuple[str, dict]:
    """A status or hangup: a path, or a mapping with `path` and `keys`."""
    if isinstance(node, ScalarNode):
        return _path(doc, node, where, base_path), {}
    got = doc.fields(node, where, keys, required=("path",))
    return _path(doc, got["path"], join(where, "path"), base_path), got


def _steps(doc: Doc, fields: dict, at: str, base_path: str) -> dict:
    """The media, status and hangup paths (and the poll interval, the hangup's method)."""
    out: dict = {"media": _path(doc, fields["media"], join(at, "media"), base_path, ws=True) if "media" in fields
                 else base_path + CallSpec.media}
    out["status"] = base_path + CallSpec.status
    if "status" in fields:
        where = join(at, "status")
        if _off(fields["status"]):
            out["status"] = None
        else:
            out["status"], got = _request_path(doc, fields["status"], where, base_path, ("path", "interval"))
            if "interval" in got:
                out["poll_interval_s"] = doc.duration(got["interval"], join(where, "interval"))
    out["hangup"] = base_path + CallSpec.hangup
    if "hangup" in fields:
        where = join(at, "hangup")
        if _off(fields["hangup"]):
            out["hangup"] = None
        else:
            out["hangup"], got = _request_path(doc, fields["hangup"], where, base_path, ("path", "method"))
            if "method" in got:
                out["hangup_method"] = doc.choice(got["method"], join(where, "method"),
                                                  ("DELETE", "POST", "PUT", "PATCH", "GET"))
    return out


def _audio(doc: Doc, fields: dict, at: str) -> dict:
    """codec, sample_rate, frame_ms and audio (a WAV path made absolute, relative to the file)."""
    out: dict = {}
    if "codec" in fields:
        out["codec"] = doc.choice(fields["codec"], join(at, "codec"), tuple(CODECS))
    if "sample_rate" in fields:
        out["sample_rate"] = doc.integer(fields["sample_rate"], join(at, "sample_rate"))
    if "frame_ms" in fields:
        out["frame_ms"] = doc.number(fields["frame_ms"], join(at, "frame_ms"))
    if "audio" in fields:
        audio = doc.string(fields["audio"], join(at, "audio"))
        if audio != "tone":
            path = Path(audio).expanduser()
            if not path.is_absolute() and doc.file:
                path = Path(doc.file).resolve().parent / path
            audio = str(path)
        out["audio"] = audio
    return out


def call_task(doc: Doc, node: Node, where: str, ctx: dict) -> dict:
    """A task with `call:`: the initiate as the task's request, plus its `call` fields."""
    from driver.config.tasks import task

    got = doc.fields(node, where, CALL_TASK_KEYS, required=("name", "call"))
    name = doc.string(got["name"], join(where, "name"))
    at = join(where, "call")
    fields = doc.fields(got["call"], at, CALL_KEYS, required=("initiate",))
    initiate_at = join(at, "initiate")
    initiate = doc.fields(fields["initiate"], initiate_at, INITIATE_KEYS, required=("path",))
    out = task(doc, fields["initiate"], initiate_at, ctx, step_name=name)
    if "method" not in initiate:
        out["method"] = "POST"
    expect = out["expect"]
    if expect["json"] or expect["contains"] or expect["headers"]:
        raise doc.error(initiate["expect"], f"{join(initiate_at, 'expect')} takes only status: the statuses "
                                            "that accept a call")
    out["weight"] = doc.number(got["weight"], join(where, "weight")) if "weight" in got else 1.0
    call: dict = {"accept": expect["status"] or ("2xx",)}
    for key in ("id", "state"):
        if key in fields:
            call[key] = doc.string(fields[key], join(at, key))
    if "failure" in fields:
        items = [fields["failure"]] if isinstance(fields["failure"], ScalarNode) else \
            doc.seq(fields["failure"], join(at, "failure"))
        call["failure"] = tuple(doc.string(item, join(at, "failure")) for item in items)
    if "duration" in fields:
        call["duration_s"] = doc.duration(fields["duration"], join(at, "duration"))
    call.update(_steps(doc, fields, at, ctx["base_path"]))
    call.update(_audio(doc, fields, at))
    if ctx["headers"]:  # the target's headers (its auth) go with the media socket, polls and hangup too
        call["headers"] = tuple(ctx["headers"].items())
    try:
        spec = CallSpec(name, **call)
    except ValueError as exc:
        bad = next((k for k in ("frame_ms", "sample_rate", "codec", "duration") if k in fields and k in str(exc)), None)
        raise doc.error(fields[bad] if bad else got["call"], f"{at}: {exc}") from None
    if spec.audio != "tone":
        try:
            read_wav(spec.audio, spec.sample_rate)
        except ValueError as exc:
            raise doc.error(fields["audio"], f"{join(at, 'audio')}: {exc}") from None
    out["call"] = call
    return out
