"""Turn the tasks and flows of a YAML scenario into a User class.

Everything that can be done once is done when the class is built, in each worker:
templates are compiled, regexes compiled, generators made. A step at run time
renders its path, headers and body, sends one request, checks it, captures values
for later steps, and says whether it went well.

A flow is one task whose iteration runs its steps in order with a fresh set of
captured values; a step that fails ends the flow (later steps depend on what it
should have captured). A flow that runs to its end records its duration, from the
iteration's start (its intended start in open loop), under `flow:NAME`.
"""
from __future__ import annotations

import asyncio
import re

import orjson

from driver._speedups import now_ns
from driver.layout import C_FLOWS, H_LATENCY
from driver.plan import ScenarioSpec
from driver.scenario.api import User
from driver.scenario.session import json_path


def _compile(obj):
    from driver.payloads.templates import compile_template

    return compile_template(obj)


def _generators(context):
    """The Telegram and WhatsApp body generators of one worker (made on first use)."""
    gens = context.shared.get("payload_generators")
    if gens is None:
        from driver.payloads.telegram import TelegramUpdates
        from driver.payloads.whatsapp import WhatsAppNotifications

        spec = context.spec
        gens = {
            "telegram": TelegramUpdates(secret_token=spec.telegram_secret, worker_index=context.index,
                                        n_workers=context.n_workers),
            "whatsapp": WhatsAppNotifications(app_secret=spec.whatsapp_app_secret, worker_index=context.index,
                                              n_workers=context.n_workers),
        }
        context.shared["payload_generators"] = gens
    return gens


class _Step:
    """One request of a task or flow, compiled."""

    def __init__(self, task: dict):
        self.name = task["name"]
        self.method = task.get("method", "GET").upper()
        self.path = _compile(task["path"])
        self.headers = {k: _compile(v) for k, v in (task.get("headers") or {}).items()}
        body = task.get("body") or {}
        self.body_kind = next(iter(body), None)
        if self.body_kind == "json":
            self.body = _compile(body["json"])
        elif self.body_kind == "text":
            self.body = _compile(body["text"])
        elif self.body_kind in ("telegram", "whatsapp"):
            args = dict(body[self.body_kind])
            self.kind = args.pop("kind", "text")
            self.body = {k: _compile(v) for k, v in args.items()}
        self.expect = _compact_expect(task.get("expect") or {})
        self.capture = {}
        for var, how in (task.get("capture") or {}).items():
            (source, arg), = how.items()
            self.capture[var] = (source, re.compile(arg) if source == "regex" else arg)
        self.think = task.get("think")

    def _body(self, user, context) -> tuple[bytes, dict]:
        ident, captured, rng = user.user, user.captured, user.rng
        if self.body_kind == "json":
            return self.body.render_json(ident, captured, rng), {"Content-Type": "application/json"}
        if self.body_kind == "text":
            return self.body.render_str(ident, captured, rng).encode(), {}
        if self.body_kind in ("telegram", "whatsapp"):
            gen = _generators(context)[self.body_kind]
            kw = {k: t.render(ident, captured, rng) for k, t in self.body.items()}
            data = gen.render(self.kind, ident, **kw)
            extra = gen.headers() if self.body_kind == "telegram" else gen.headers(data)
            return data, {"Content-Type": "application/json", **extra}
        return b"", {}

    async def run(self, user) -> bool:
        ident, captured, rng = user.user, user.captured, user.rng
        body, headers = self._body(user, user.http.context)
        headers.update({k: t.render_str(ident, captured, rng) for k, t in self.headers.items()})
        path = self.path.render_str(ident, captured, rng)
        resp = await user.http.request(self.method, path, body=body, headers=headers, name=self.name)
        ok = resp.error is None
        if self.expect:
            ok = resp.expect(**self.expect) and ok
        elif ok:
            ok = resp.status < 400
        if self.capture and resp.error is None:
            ok = self._capture(user, resp) and ok
        if self.think is not None:
            pause = self.think.pause(0.0, rng.random)
            if pause > 0:
                await asyncio.sleep(pause)
        return ok

    def _capture(self, user, resp) -> bool:
        missing = []
        for var, (source, arg) in self.capture.items():
            value = None
            if source == "json":
                try:
                    value = json_path(resp.json(), arg)
                except orjson.JSONDecodeError:
                    value = None
            elif source == "header":
                value = resp.header(arg)
            elif source == "regex":
                m = arg.search(resp.text)
                value = (m.group(1) if m.groups() else m.group(0)) if m else None
            if value is None:
                missing.append(f"capture {var}: {source} {getattr(arg, 'pattern', arg)} not found")
            else:
                user.captured[var] = value
        user.http.context.checks(resp.slot, len(self.capture), missing)
        return not missing


def _compact_expect(expect: dict) -> dict | None:
    """The checks that are really there (the config writes empty ones), a lone status as an int."""
    out = {k: v for k, v in expect.items() if v not in (None, "", (), [], {})}
    status = out.get("status")
    if isinstance(status, (list, tuple)) and len(status) == 1:
        out["status"] = status[0]
    return out or None


def build_user_class(spec: ScenarioSpec) -> type[User]:
    namespace = {"wait": spec.think, "__module__": __name__}
    for i, task in enumerate(spec.tasks):
        namespace[f"task_{i}"] = _task_method(_Step(task), task.get("weight", 1))
    for j, flow in enumerate(spec.flows):
        steps = [_Step(s) for s in flow["steps"]]
        namespace[f"flow_{j}"] = _flow_method("flow:" + flow["name"], steps, flow.get("weight", 1))
    return type("YamlScenario", (User,), namespace)


def _task_method(step: _Step, weight: float):
    async def run(self):
        await step.run(self)

    run.driver_task_weight = float(weight)
    return run


def _flow_method(flow_name: str, steps: list[_Step], weight: float):
    async def run(self):
        ctx = self.http.context
        slot = ctx.slot(flow_name)
        start = self.iteration_start_ns
        self.captured = {}
        for step in steps:
            if not await step.run(self):
                ctx.checks(slot, 1, [f"step {step.name} failed"])
                return
        ctx.checks(slot, 1, ())
        ctx.count(slot, C_FLOWS, 1)
        ctx.record(slot, H_LATENCY, now_ns() - start)

    run.driver_task_weight = float(weight)
    return run
