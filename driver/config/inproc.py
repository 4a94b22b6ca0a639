"""The config's in-process target: `target: {python: FILE.py:function, ...}`.

    target:
      python: component.py:handle      # or module:function; files relative to the config
      setup: make                      # once per worker; a bare name is in the call's module
      teardown: report
      rejected: [LimitReached]         # exception classes (or bases) that are an expected refusal
      rejected_when: is_refusal        # or: a predicate on the return value
      classify: classify               # or: result_or_exc -> "ok" | "rejected" | "error"
      thread: false                    # a sync callable in a thread (default: inline on the loop)
      name: conversation               # the endpoint (default: the function's name)
      timeout: 5s                      # per call

Each callable is imported here, so a broken one is one line at its file:line.
"""
from __future__ import annotations

from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from driver.config.schema import Doc
from driver.engine.callables import check_spec, default_name, inproc_target
from driver.errors import PlanError
from driver.plan import InprocSpec
from driver.planning.layers import Source

PYTHON_KEYS = ("python", "setup", "teardown", "rejected", "rejected_when", "classify", "thread", "name", "timeout")
_HOOKS = ("setup", "teardown", "rejected_when", "classify")


def is_python_target(node: Node) -> bool:
    """Whether the config's target is an in-process one (it has a `python` key)."""
    return isinstance(node, MappingNode) and any(getattr(k, "value", None) == "python" for k, _ in node.value)


def read_python_target(doc: Doc, node: Node, base_dir: Path) -> dict:
    """The loader's target dict (driver.config.loader._target's shape) with `inproc`: the spec."""
    got = doc.fields(node, "target", PYTHON_KEYS, required=("python",))
    call = doc.string(got["python"], "target.python")
    hooks = {k: doc.string(got[k], f"target.{k}") for k in _HOOKS if k in got}
    rejected: tuple[str, ...] = ()
    if "rejected" in got:
        items = doc.seq(got["rejected"], "target.rejected") if isinstance(got["rejected"], SequenceNode) \
            else [got["rejected"]]
        rejected = tuple(doc.string(n, "target.rejected") for n in items)
    spec = InprocSpec(
        call=call, name=doc.string(got["name"], "target.name") if "name" in got else default_name(call),
        rejected=rejected, thread=doc.boolean(got["thread"], "target.thread") if "thread" in got else False,
        base_dir=str(base_dir), **hooks)
    try:
        check_spec(spec)
    except PlanError as exc:
        raise doc.error(got["python"], f"target.python: {exc.message}") from None
    settings = {}
    if "timeout" in got:
        settings["timeout"] = (doc.duration(got["timeout"], "target.timeout"),
                               Source("target.timeout", file=doc.file, line=doc.line(got["timeout"])))
    return {"target": inproc_target(spec), "path": "/", "base_path": "", "headers": {}, "settings": settings,
            "inproc": spec}
