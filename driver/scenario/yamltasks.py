"""Turn the tasks and flows of a YAML scenario into a User class.

Everything that can be done once is done when the class is built, in each worker:
templates are compiled, regexes compiled, generators made. A step at run time
renders its path, headers and body, sends one request, checks it, captures values
for later steps, and says whether it went well.

A flow is one task whose iteration runs its steps in order with a fresh set of
captured values; a step that fails ends the flow (later steps depend on what it
should have captured). A flow that runs to its end records its duration, from the
iteration's start (its intended start in open loop), under `flow:NAME`. A flow step
with `ws:` is a WebSocket step (driver.scenario.wssteps).
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
                                        n_workers=context.n_workers,
                                        **({"bot_username": spec.bot_username} if spec.bot_username else {})),
            "whatsapp": WhatsAppNotifications(app_secret=spec.whatsapp_app_secret, worker_index=context.index,
                                              n_workers=context.n_workers),
        }
        context.shared["payload_generators"] = gens
    return gens


class _Step:
    """One request of a task or flow, compiled.

    Per request a step renders only what has placeholders: a constant path, a constant
    set of headers and a body whose arguments are fixed are prepared once, when the step
    first runs in a worker (`_bind`: the body generators are per worker). Generated
    Telegram / WhatsApp bodies come from a renderer compiled for the step's kind and
    arguments (driver.payloads.renderers).
    """

    def __init__(self, task: dict):
        self.name = task["name"]
        self.method = task.get("method", "GET").upper()
        self.path = _compile(task["path"])
        self.const_path = self.path.source if self.path.is_static else None
        headers = {k: _compile(v) for k, v in (task.get("headers") or {}).items()}
        self.static_headers = {k: t.source for k, t in headers.items() if t.is_static}
        self.dynamic_headers = [(k, t) for k, t in headers.items() if not t.is_static]
        body = task.get("body") or {}
        self.body_kind = next(iter(body), None)
        self.body = None
        if self.body_kind in ("json", "text"):
            self.body = _compile(body[self.body_kind])
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
        self.reply = task.get("reply")  # None: follow the replies of message updates (driver.scenario.replies)
        self._context = None  # the worker's ScenarioContext _bind prepared the fields below for
        self._render = None  # render(user, captured, rng) -> body bytes
        self._headers = None  # the request's headers when none depends on the request
        self._signed = None  # WhatsApp with an app secret: headers(body) per request
        self._base_headers: dict = {}

    def _bind(self, context) -> None:
        """Prepare the body renderer and the constant headers for this worker's context."""
        kind = self.body_kind
        headers = {}
        self._signed = None
        if kind == "json":
            self._render, headers = self.body.render_json, {"Content-Type": "application/json"}
        elif kind == "text":
            render_str = self.body.render_str
            self._render = lambda u, c, r: render_str(u, c, r).encode()
        elif kind in ("telegram", "whatsapp"):
            gen = _generators(context)[kind]
            static = {k: t.source for k, t in self.body.items() if t.is_static}
            dynamic = {k: t.render for k, t in self.body.items() if not t.is_static}
            self._render = gen.compile(self.kind, static, dynamic)
            headers = {"Content-Type": "application/json"}
            if kind == "telegram":
                headers.update(gen.headers())
            elif gen.headers(b""):  # a signature per body
                self._signed = gen.headers
        else:
            self._render = lambda u, c, r: b""
        headers.update(self.static_headers)  # the task's own headers win
        self._headers = headers if not self.dynamic_headers and self._signed is None else None
        self._base_headers = headers
        self._context = context

    def _request_headers(self, body: bytes, ident, captured, rng) -> dict:
        """The headers when some depend on the request: a signature, or a templated header."""
        headers = dict(self._base_headers)
        if self._signed is not None:
            headers.update(self._signed(body))
            headers.update(self.static_headers)
        for k, t in self.dynamic_headers:
            headers[k] = t.render_str(ident, captured, rng)
        return headers

    def _body(self, user, context) -> tuple[bytes, dict]:
        """The body and headers of one request (what `run` sends)."""
        if context is not self._context:
            self._bind(context)
        ident, captured, rng = user.user, user.captured, user.rng
        body = self._render(ident, captured, rng)
        headers = self._headers
        if headers is None:
            headers = self._request_headers(body, ident, captured, rng)
        return body, headers

    async def run(self, user) -> bool:
        http = user.http
        context = http.context
        body, headers = self._body(user, context)
        path = self.const_path or self.path.render_str(user.user, user.captured, user.rng)
        ids = None
        if context.replies is not None and self.reply is not False and self.body_kind in ("telegram", "whatsapp"):
            ids = reply_ids(self.body_kind, body)  # handed to the bot side before the update leaves
            if ids is not None:
                context.replies.track(ids[0], ids[1], context.slot(self.name),
                                      user.iteration_start_ns if context.open_loop else None)
        resp = await http.request(self.method, path, body=body, headers=headers, name=self.name)
        if ids is not None and not context.open_loop and resp.error is None and resp.status < 400:
            await context.replies.wait(ids[0], ids[1])  # a person waits for the answer
        ok = resp.error is None
        if self.expect:
            ok = resp.expect(**self.expect) and ok
        elif ok:
            ok = resp.status < 400
        if self.capture and resp.error is None:
            ok = self._capture(user, resp) and ok
        if self.think is not None:
            pause = self.think.pause(0.0, user.rng.random)
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


def reply_ids(kind: str, body: bytes) -> tuple | None:
    """(chat, message id) of an update that expects an answer, None for one that does not
    (Telegram: a message or a button press; WhatsApp: an incoming message, not a status)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if kind == "telegram":
        msg = doc.get("message") or doc.get("edited_message")
        if isinstance(msg, dict):
            return (msg.get("chat") or {}).get("id"), msg.get("message_id")
        query = doc.get("callback_query")
        if isinstance(query, dict):  # its message is the bot's own: nothing of the user's to quote
            chat = ((query.get("message") or {}).get("chat") or {}).get("id") or (query.get("from") or {}).get("id")
            return chat, None
        return None
    try:
        value = doc["entry"][0]["changes"][0]["value"]
        message = value["messages"][0]
    except (KeyError, IndexError, TypeError):
        return None
    return message.get("from"), message.get("id")


def _compact_expect(expect: dict) -> dict | None:
    """The checks that are really there (the config writes empty ones), a lone status as an int."""
    out = {k: v for k, v in expect.items() if v not in (None, "", (), [], {})}
    status = out.get("status")
    if isinstance(status, (list, tuple)) and len(status) == 1:
        out["status"] = status[0]
    return out or None


def build_user_class(spec: ScenarioSpec) -> type[User]:
    namespace = {"wait": spec.think, "__module__": __name__}
    steps = [(None if task.get("sql") else _Step(task), float(task.get("weight", 1))) for task in spec.tasks]
    jobs = [task.get("job") for task in spec.tasks]  # a job task's request is its submission
    calls = [task.get("call") for task in spec.tasks]  # a call task's request is its initiate
    if not any(jobs) and not any(calls) and not any(task.get("sql") for task in spec.tasks):
        namespace["driver_steps"] = tuple(steps)  # for driver.scenario.steps: the same tasks on callbacks
    for i, (step, weight) in enumerate(steps):
        if spec.tasks[i].get("sql"):
            from driver.scenario.sqltasks import sql_method  # asyncpg only for scenarios that query

            namespace[f"task_{i}"] = sql_method(spec.tasks[i], weight)
        else:
            namespace[f"task_{i}"] = (_job_method(step, jobs[i], weight) if jobs[i] else
                                      _call_method(step, calls[i], weight) if calls[i] else
                                      _task_method(step, weight))
    for j, flow in enumerate(spec.flows):
        steps = [_ws_step(s) if "ws" in s else _Step(s) for s in flow["steps"]]
        namespace[f"flow_{j}"] = _flow_method("flow:" + flow["name"], steps, flow.get("weight", 1))
    return type("YamlScenario", (User,), namespace)


def _ws_step(step: dict):
    from driver.scenario.wssteps import WsStep  # picows only for scenarios that use it

    return WsStep(step)


def _task_method(step: _Step, weight: float):
    def run(self):  # the step's coroutine itself: one coroutine less per request than an async def
        return step.run(self)

    run.driver_task_weight = float(weight)
    run.driver_coroutine = True  # returns one, as an async def would (driver.scenario.loader)
    return run


def _job_method(step: _Step, job: dict, weight: float):
    """A `job:` task (driver.config.jobs): its step renders each submission."""
    from driver.scenario.jobs import JobSpec

    spec = JobSpec(step.name, **job)

    async def run(self):
        ctx = self.http.context

        def submit(_number: int) -> dict:
            body, headers = step._body(self, ctx)
            path = step.const_path or step.path.render_str(self.user, self.captured, self.rng)
            return {"method": step.method, "path": path, "body": body, "headers": headers}

        await self.jobs.run_spec(spec, submit)

    run.driver_task_weight = float(weight)
    return run


def _call_method(step: _Step, call: dict, weight: float):
    """A `call:` task (driver.config.calls): its step renders each initiate request."""
    from driver.scenario.calls import CallSpec

    spec = CallSpec(step.name, **call)

    async def run(self):
        body, headers = step._body(self, self.http.context)
        path = step.const_path or step.path.render_str(self.user, self.captured, self.rng)
        await self.calls.run_spec(spec, {"method": step.method, "path": path, "body": body, "headers": headers})

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
