"""Requests declared in YAML -> the normalised task and flow dicts a ScenarioSpec holds.

`scenario_tasks` and `scenario_flows` read `scenario.tasks` and `scenario.flows` node
by node (a flow step with a `ws:` key is a WebSocket step: driver.config.wssteps; a task
with `job:` an async job, driver.config.jobs; with `sql:` a query, driver.config.sql)
with a `driver.config.schema.Doc` (so every error names file:line) into the
dicts documented on `driver.plan.ScenarioSpec`: method, path under the target's base
path, headers merged over the target's, a body (JSON, text, or a generated Telegram
update / WhatsApp message), what to expect and what to capture.
"""
from __future__ import annotations

import difflib
import re

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from driver.config.schema import Doc, join, shown
from driver.config.wssteps import connection_name, is_ws_step, ws_step
from driver.errors import suggest

_CAPTURED = re.compile(r"\{\{\s*captured\.([^}\s]+)\s*\}\}")
_STATUS_CLASS = re.compile(r"^[1-5]xx$")
_METHOD = re.compile(r"^[A-Z]+$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TASK_KEYS = ("name", "weight", "method", "path", "headers", "json", "body", "telegram", "whatsapp",
             "expect", "capture", "think", "reply")
STEP_KEYS = tuple(k for k in TASK_KEYS if k != "weight")
FLOW_KEYS = ("name", "weight", "steps")
BODY_KEYS = ("json", "body", "telegram", "whatsapp")
EXPECT_KEYS = ("status", "json", "contains", "headers")
CAPTURE_KINDS = ("json", "header", "regex")
# The bodies driver.payloads generates, by kind (the generator's method names): the YAML
# keys each kind takes -> the generator's keyword argument; the first key is required
# when marked "!" (and tells the kind when `kind:` is left out).
TELEGRAM_KINDS = {
    "command": {"command!": "command", "args": "args", "mention": "mention", "bot_username": "bot_username"},
    "text": {"text!": "text"},
    "callback_query": {"data!": "data", "button_text": "button_text", "message_text": "message_text"},
    "photo": {"caption": "caption"},
    "document": {"caption": "caption", "file_name": "file_name"},
    "video": {"caption": "caption"},
    "voice": {},
    "sticker": {"emoji": "emoji"},
    "location": {},
    "contact": {},
    "edited_message": {"text": "text"},
    "inline_query": {"query": "query"},
    "my_chat_member": {"blocked": "blocked"},
    "audio": {"title": "title", "performer": "performer", "duration": "duration", "caption": "caption"},
    "animation": {"caption": "caption"},
    "venue": {"title": "title", "address": "address", "latitude": "latitude", "longitude": "longitude"},
    "video_note": {"duration": "duration", "length": "length"},
    "dice": {"emoji": "emoji", "value": "value"},
    "poll": {"question": "question", "options": "options", "option": "option"},
    "poll_answer": {"option": "option", "retract": "retract"},
    "edited_media": {"media": "media", "caption": "caption", "message_id": "message_id"},
    "group": {"text": "text", "mention": "mention", "reply": "reply", "bot_username": "bot_username"},
    "supergroup": {"text": "text", "mention": "mention", "reply": "reply", "bot_username": "bot_username"},
    "channel_post": {"text": "text"},
    "chat_member": {"joined": "joined"},
    "chat_join_request": {"bio": "bio"},
    "message_reaction": {"emoji": "emoji", "message_id": "message_id"},
    "pre_checkout_query": {"payload": "payload", "currency": "currency", "total_amount": "total_amount"},
    "successful_payment": {"payload": "payload", "currency": "currency", "total_amount": "total_amount"},
}
WHATSAPP_KINDS = {
    "text": {"text!": "body"},
    "button_reply": {"id!": "button_id", "title": "title", "context_id": "context_id"},
    "list_reply": {"id!": "row_id", "title": "title", "description": "description", "context_id": "context_id"},
    "image": {"caption": "caption"},
    "video": {"caption": "caption"},
    "sticker": {"animated": "animated"},
    "document": {"caption": "caption", "filename": "filename"},
    "audio": {},
    "location": {"name": "name", "address": "address"},
    "reaction": {"emoji": "emoji", "message_id": "message_id"},
    "status": {"status": "status", "message_id": "message_id", "error_code": "error_code"},
}




def _status(doc: Doc, node: Node, where: str) -> tuple:
    items = doc.seq(node, where) if isinstance(node, SequenceNode) else [node]
    out = []
    for item in items:
        value = doc.scalar(item, where)
        text = str(value).strip().lower() if not isinstance(value, bool) else ""
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            out.append(value)
        elif text.isdigit() and 100 <= int(text) <= 599:
            out.append(int(text))
        elif _STATUS_CLASS.match(text):
            out.append(text)
        else:
            raise doc.error(item, f"{where} must be an HTTP status (100-599) or a class like 2xx, "
                                  f"got {shown(item)}")
    return tuple(out)


def _expect(doc: Doc, node: Node, where: str) -> dict:
    got = doc.fields(node, where, EXPECT_KEYS)
    out = {"status": (), "json": {}, "contains": None, "headers": {}}
    if "status" in got:
        out["status"] = _status(doc, got["status"], join(where, "status"))
    if "json" in got:
        out["json"] = {path: doc.data(v, join(join(where, "json"), path))
                       for path, _, v in doc.items(got["json"], join(where, "json"))}
    if "contains" in got:
        out["contains"] = doc.string(got["contains"], join(where, "contains"))
    if "headers" in got:
        out["headers"] = doc.headers(got["headers"], join(where, "headers"), template=False)
    return out


def _capture(doc: Doc, node: Node, where: str) -> dict:
    out = {}
    for var, key, value in doc.items(node, where):
        at = join(where, var)
        if not _VAR.match(var):
            raise doc.error(key, f"{where}: capture name {var!r} must be a name like order_id "
                                 "(it is used as {{" + var + "}})")
        got = doc.fields(value, at, CAPTURE_KINDS)
        if len(got) != 1:
            raise doc.error(value, f"{at} takes exactly one of {', '.join(CAPTURE_KINDS)}")
        (kind, source), = got.items()
        text = doc.string(source, join(at, kind))
        if kind == "regex":
            try:
                re.compile(text)
            except re.error as exc:
                raise doc.error(source, f"{join(at, kind)} is not a valid regular expression: {exc}") from None
        out[var] = {kind: text}
    return out


def _message(doc: Doc, node: Node, where: str, kinds: dict) -> dict:
    """A Telegram update or WhatsApp message to generate: {"kind": KIND, generator kwarg: template}."""
    items = doc.items(node, where)
    given = {name for name, _, _ in items}
    if "kind" in given:
        kind_node = next(v for name, _, v in items if name == "kind")
        kind = doc.choice(kind_node, join(where, "kind"), tuple(kinds))
    else:  # the kind follows from its required key (command:, text:, data:, id:)
        kind = next((k for k, keys in kinds.items() for key in keys
                     if key.endswith("!") and key[:-1] in given), None)
        if kind is None:
            raise doc.error(node, f"{where} has no 'kind' (one of {', '.join(kinds)})")
    keys = {key.rstrip("!"): arg for key, arg in kinds[kind].items()}
    for name, key, _ in items:
        if name != "kind" and name not in keys:
            takes = f"takes {', '.join(keys)}" if keys else "takes no other keys"
            raise doc.error(key, f"unknown key '{name}' in {where}{suggest(name, keys)} (kind {kind} {takes})")
    got = doc.fields(node, where, ("kind", *keys))
    out = {"kind": kind}
    for key, arg in keys.items():
        if key in got:
            out[arg] = doc.string(got[key], join(where, key), template=True)
    required = [key[:-1] for key in kinds[kind] if key.endswith("!")]
    for key in required:
        if key not in got:
            raise doc.error(node, f"{where}: kind {kind} needs '{key}'")
    if kind == "command" and not out["command"].startswith(("/", "{{")):
        raise doc.error(got["command"], f"{join(where, 'command')} must start with /, got {out['command']!r}")
    return out


# Telegram kinds whose text may be a command (checked against the catalog) and kinds that
# take the scenario's bot_username when they do not name their own
_COMMAND_TEXT = {"command": "command", "text": "text", "group": "text", "supergroup": "text"}
_NAMES_BOT = ("command", "group", "supergroup")


def _telegram(doc: Doc, node: Node, where: str, ctx: dict) -> dict:
    """A Telegram update to generate (`_message`), plus what the scenario adds: its
    bot_username where the task names none, and a command checked against the catalog
    (`scenario.catalog`) unless the task says `unlisted: true` (a command the bot does
    not list, sent on purpose)."""
    unlisted, own = False, node
    if isinstance(node, MappingNode):
        pairs = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == "unlisted"]
        if pairs:
            unlisted = doc.boolean(pairs[0][1], join(where, "unlisted"))
            own = MappingNode(node.tag, [(k, v) for k, v in node.value if (k, v) not in pairs],
                              node.start_mark, node.end_mark, node.flow_style)
    out = _message(doc, own, where, TELEGRAM_KINDS)
    kind = out["kind"]
    if ctx.get("bot_username") and kind in _NAMES_BOT and "bot_username" not in out:
        out["bot_username"] = ctx["bot_username"]
    key = _COMMAND_TEXT.get(kind)
    commands = ctx.get("commands")
    text = out.get(key, "") if key else ""
    if commands is None or unlisted or not text.startswith("/") or "{{" in text.split(" ", 1)[0]:
        return out
    command = text.split(None, 1)[0].split("@", 1)[0]
    if command not in commands:
        close = difflib.get_close_matches(command, commands, n=3, cutoff=0.6)
        hint = f" — did you mean {', '.join(close)}?" if close else ""
        at = next((v for k, v in own.value if k.value == key), own)
        raise doc.error(at, f"{join(where, key)}: {command} is not in scenario.catalog{hint} "
                            f"(set unlisted: true to send a command the bot does not list)")
    return out


def _body(doc: Doc, got: dict, where: str, ctx: dict):
    given = [k for k in BODY_KEYS if k in got]
    if len(given) > 1:
        raise doc.error(got[given[1]], f"{where} has both '{given[0]}' and '{given[1]}': give one body")
    if not given:
        return None
    key = given[0]
    node, at = got[key], join(where, key)
    if key == "json":
        return {"json": doc.data(node, at, template=True)}
    if key == "body":
        return {"text": doc.string(node, at, empty=True, template=True)}
    if key == "telegram":
        return {"telegram": _telegram(doc, node, at, ctx)}
    return {"whatsapp": _message(doc, node, at, WHATSAPP_KINDS)}


def _path(doc: Doc, node: Node, where: str, base_path: str) -> str:
    path = doc.string(node, where, template=True)
    if path.lower().startswith(("http://", "https://")) or any(c.isspace() for c in path):
        raise doc.error(node, f"{where} must be a path like /webhook/telegram (the host comes from "
                              f"target.base_url), got {path!r}")
    return base_path + "/" + path.lstrip("/")


def task(doc: Doc, node: Node, where: str, ctx: dict, step_name: str | None = None) -> dict:
    """One request, normalised; `ctx` holds base_path and the target's headers.

    A flow step (`step_name` given) takes no weight and is named `FLOW:step N` by default.
    """
    required = ("path",) if step_name else ("name", "path")
    got = doc.fields(node, where, STEP_KEYS if step_name else TASK_KEYS, required)
    name = doc.string(got["name"], join(where, "name")) if "name" in got else step_name
    body = _body(doc, got, where, ctx)
    method = "POST" if body is not None else "GET"
    if "method" in got:
        method = doc.string(got["method"], join(where, "method")).upper()
        if not _METHOD.match(method):
            raise doc.error(got["method"], f"{join(where, 'method')}: invalid HTTP method {method!r}")
    headers = dict(ctx["headers"])
    if "headers" in got:
        own = doc.headers(got["headers"], join(where, "headers"))
        lowered = {k.lower() for k in own}
        headers = {k: v for k, v in headers.items() if k.lower() not in lowered} | own
    return {
        "name": name,
        "weight": doc.number(got["weight"], join(where, "weight")) if "weight" in got else 1.0,
        "method": method,
        "path": _path(doc, got["path"], join(where, "path"), ctx["base_path"]),
        "headers": headers,
        "body": body,
        "expect": _expect(doc, got["expect"], join(where, "expect")) if "expect" in got
        else {"status": (), "json": {}, "contains": None, "headers": {}},
        "capture": _capture(doc, got["capture"], join(where, "capture")) if "capture" in got else {},
        "think": doc.think(got["think"], join(where, "think")) if "think" in got else None,
        # with a mock (replies followed at it): false for an update the bot does not answer
        "reply": doc.boolean(got["reply"], join(where, "reply")) if "reply" in got else None,
    }


def _captures_used(obj) -> set[str]:
    """Names of the {{captured.NAME}} placeholders in a task's path, headers and body."""
    if isinstance(obj, str):
        return set(_CAPTURED.findall(obj))
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    return set().union(*(_captures_used(v) for v in values)) if values else set()


def _check_captures(doc: Doc, node: Node, where: str, task: dict, known: set, before: str) -> None:
    templates = task["sql"]["statements"] if "sql" in task else [task["path"], task["headers"], task["body"]]
    used = _captures_used(templates) - known
    if used:
        name = sorted(used)[0]
        raise doc.error(node, f"{where} uses {{{{captured.{name}}}}}, but no {before} captures '{name}'")


def _ws_templates(step: dict) -> dict:
    """A WebSocket step's templates where _check_captures looks for them."""
    ws = step["ws"]
    return {"path": ws.get("path", ""), "headers": ws.get("headers", {}), "body": ws.get("body")}


def scenario_tasks(doc: Doc, node: Node, where: str, ctx: dict) -> tuple:
    from driver.config.calls import call_task, is_call
    from driver.config.jobs import is_job, job_task
    from driver.config.sql import is_sql, sql_task

    items = doc.seq(node, where)
    tasks = tuple((job_task if is_job(item) else call_task if is_call(item) else sql_task if is_sql(item) else task)(
        doc, item, join(where, i), ctx) for i, item in enumerate(items))
    captured = set().union(*(t["capture"] for t in tasks))  # a user keeps what any task captured
    for i, (item, t) in enumerate(zip(items, tasks)):
        _check_captures(doc, item, join(where, i), t, captured, "task")
    return tasks


def scenario_flows(doc: Doc, node: Node, where: str, ctx: dict) -> tuple:
    flows = []
    for i, item in enumerate(doc.seq(node, where)):
        at = join(where, i)
        got = doc.fields(item, at, FLOW_KEYS, required=("name", "steps"))
        name = doc.string(got["name"], join(at, "name"))
        steps, captured = [], set()  # a flow starts with nothing captured
        conn = None  # the endpoint of the WebSocket connection an earlier step opened
        for n, step_node in enumerate(doc.seq(got["steps"], join(at, "steps"))):
            step_at = join(join(at, "steps"), n)
            if is_ws_step(step_node):
                step = ws_step(doc, step_node, step_at, ctx, f"{name}:step {n + 1}", conn)
                conn = connection_name(step) or conn
                _check_captures(doc, step_node, step_at, _ws_templates(step), captured, "earlier step")
            else:
                step = task(doc, step_node, step_at, ctx, f"{name}:step {n + 1}")
                _check_captures(doc, step_node, step_at, step, captured, "earlier step")
            captured |= set(step["capture"])
            steps.append(step)
        flows.append({
            "name": name,
            "weight": doc.number(got["weight"], join(at, "weight")) if "weight" in got else 1.0,
            "steps": tuple(steps),
        })
    return tuple(flows)
