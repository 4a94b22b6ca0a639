"""Reading a composed YAML config node by node, so every error can name file:line.

`Doc` wraps one config file: it knows the file name, the environment `${VAR}`
expands from, and the secrets met so far (values tagged `!secret`). Its readers
(`fields`, `string`, `integer`, `duration`, ...) turn PyYAML nodes into checked
Python values or raise PlanError("FILE:LINE: problem"). `scenario_tasks` and
`scenario_flows` normalise requests declared in YAML into the dicts documented on
`driver.plan.ScenarioSpec`. Nothing here opens files; driver.config.loader does that.
"""
from __future__ import annotations

import difflib
import math
import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from driver.errors import PlanError
from driver.masking import is_secret_header
from driver.plan import ThinkTime, header_value_problem, parse_header
from driver.durations import parse_duration

try:  # the placeholder grammar lives with the template engine: compile once here to check
    from driver.payloads.templates import TemplateError, compile_template
except ImportError:  # pragma: no cover - without it, only the braces are checked
    compile_template = None

STR, INT, FLOAT, BOOL, NULL, TIMESTAMP, MAP, SEQ, MERGE = (
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "merge")
)
SECRET = "!secret"

_CONSTRUCT = yaml.constructor.SafeConstructor()
_SCALARS = {
    INT: yaml.constructor.SafeConstructor.construct_yaml_int,
    FLOAT: yaml.constructor.SafeConstructor.construct_yaml_float,
    BOOL: yaml.constructor.SafeConstructor.construct_yaml_bool,
    NULL: yaml.constructor.SafeConstructor.construct_yaml_null,
}
_RESOLVER = yaml.resolver.Resolver()
# ${NAME} or ${NAME:-default} (default also used when NAME is empty, as in sh);
# $${ is a literal ${; any other ${ is a mistake worth reporting.
_ENV = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METHOD = re.compile(r"^[A-Z]+$")
_STATUS_CLASS = re.compile(r"^[1-5]xx$")
_CAPTURED = re.compile(r"\{\{\s*captured\.([^}\s]+)\s*\}\}")

TASK_KEYS = ("name", "weight", "method", "path", "headers", "json", "body", "telegram", "whatsapp",
             "expect", "capture", "think")
STEP_KEYS = tuple(k for k in TASK_KEYS if k != "weight")
FLOW_KEYS = ("name", "weight", "steps")
BODY_KEYS = ("json", "body", "telegram", "whatsapp")
EXPECT_KEYS = ("status", "json", "contains", "headers")
CAPTURE_KINDS = ("json", "header", "regex")
THINK_KINDS = ("constant", "between", "pacing")
# The bodies driver.payloads generates, by kind (the generator's method names): the YAML
# keys each kind takes -> the generator's keyword argument; the first key is required
# when marked "!" (and tells the kind when `kind:` is left out).
TELEGRAM_KINDS = {
    "command": {"command!": "command", "args": "args"},
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
    "my_chat_member": {},
}
WHATSAPP_KINDS = {
    "text": {"text!": "body"},
    "button_reply": {"id!": "button_id", "title": "title", "context_id": "context_id"},
    "list_reply": {"id!": "row_id", "title": "title", "description": "description", "context_id": "context_id"},
    "image": {"caption": "caption"},
    "document": {"caption": "caption", "filename": "filename"},
    "audio": {},
    "location": {"name": "name", "address": "address"},
    "status": {"status": "status", "message_id": "message_id"},
}


def suggest(name: str, options) -> str:
    """' — did you mean 'x'?' for the closest option, or ''."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def join(where: str, key) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def shown(node: Node) -> str:
    """How a wrong value appears in a message: 'many', a mapping, a list, an empty value."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL or (node.tag == STR and node.value == "" and node.style is None):
        return "an empty value"
    if node.tag == SECRET:
        return "a !secret value"  # never into a message
    return repr(node.value)


class Doc:
    """One config file being read: error locations, `${VAR}` expansion, `!secret` values."""

    def __init__(self, file: str, env):
        self.file = file
        self.env = env
        self.secrets: list[str] = []
        self.secret_headers: tuple[str, ...] = ()  # the config's own names of secret headers
        self._open: set[int] = set()  # ids of the mappings and lists being walked

    # --- errors and structure -------------------------------------------------

    def error(self, node: Node | None, message: str) -> PlanError:
        if node is None:
            return PlanError(f"{self.file}: {message}")
        return PlanError(f"{self.file}:{node.start_mark.line + 1}: {message}")

    def enter(self, node: Node, where: str) -> None:
        """Refuse an alias to a node that contains it (`&a [*a]`): walking it would never end."""
        if id(node) in self._open:
            raise self.error(node, f"{where} refers to itself through a YAML alias")
        self._open.add(id(node))

    def secret(self, value: str) -> None:
        if value and value not in self.secrets:
            self.secrets.append(value)

    def items(self, node: Node, where: str) -> list[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, `<<` merges applied, duplicates refused."""
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{where} must be a mapping, got {shown(node)}")
        self.plain(node, where)
        own: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if key.tag == MERGE:  # `<<: *defaults`: earlier sources win, own keys win over all
                sources = value.value if isinstance(value, SequenceNode) else [value]
                self.enter(node, where)
                try:
                    for source in sources:
                        for name, k, v in self.items(source, where):
                            merged.setdefault(name, (k, v))
                finally:
                    self._open.discard(id(node))
                continue
            if not isinstance(key, ScalarNode) or key.tag == NULL or not key.value:
                raise self.error(key, f"keys in {where or 'the config'} must be names, got {shown(key)}")
            if key.value in own:
                first = own[key.value][0].start_mark.line + 1
                raise self.error(key, f"duplicate key '{key.value}' in {where or 'the config'} "
                                      f"(first at line {first})")
            own[key.value] = (key, value)
        pairs = {**{k: kv for k, kv in merged.items() if k not in own}, **own}
        return [(name, k, v) for name, (k, v) in pairs.items()]

    def fields(self, node: Node, where: str, allowed, required=()) -> dict[str, Node]:
        """Value nodes by key; an unknown key (with a suggestion) or a missing one is an error."""
        got: dict[str, Node] = {}
        for name, key, value in self.items(node, where):
            if name not in allowed:
                inside = f" in {where}" if where else ""
                hint = suggest(name, allowed) or f" (expected one of: {', '.join(allowed)})"
                raise self.error(key, f"unknown key '{name}'{inside}{hint}")
            got[name] = value
        for name in required:
            if name not in got:
                raise self.error(node, f"{where} has no '{name}' (required)")
        return got

    def plain(self, node: Node, where: str) -> None:
        """Refuse tags on mappings and lists (`!secret` marks strings, nothing else is known)."""
        if node.tag not in (MAP, SEQ):
            raise self.error(node, f"{where}: YAML tag {node.tag!r} is not supported here "
                                   "(!secret marks a string value)")

    def seq(self, node: Node, where: str, nonempty: bool = True) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(node, f"{where} must be a list, got {shown(node)}")
        self.plain(node, where)
        if nonempty and not node.value:
            raise self.error(node, f"{where} must not be empty")
        return node.value

    # --- scalars ----------------------------------------------------------------

    def shown(self, node: Node) -> str:
        """`shown`, with ${VAR} expanded: the value the user's environment made."""
        if isinstance(node, ScalarNode) and node.tag == STR and "${" in node.value:
            return repr(self.expand(node)[0])
        return shown(node)

    def expand(self, node: ScalarNode) -> tuple[str, list[str]]:
        """The scalar's text with ${VAR} expanded, and the environment values used."""
        text, used = node.value, []
        if "${" not in text:
            return text, used

        def sub(m: re.Match) -> str:
            if m.group(0) == "$${":
                return "${"
            name, default = m.group(1), m.group(2)
            if name is None:
                raise self.error(node, f"malformed environment reference in {text!r}: write ${{NAME}} "
                                       "or ${NAME:-default} ($${ for a literal ${)")
            value = self.env.get(name)
            if default is not None and not value:
                return default
            if value is None:
                raise self.error(node, f"environment variable '{name}' is not set "
                                       f"(set it, or write ${{{name}:-default}})")
            used.append(value)
            return value

        return _ENV.sub(sub, text), used

    def scalar(self, node: Node, where: str, want: str = "a single value"):
        """A scalar's Python value, typed as YAML types it, after ${VAR} expansion.

        An unquoted `${N}` is typed after expansion (`users: ${USERS:-10}` is an int);
        `!secret` marks a string secret.
        """
        if not isinstance(node, ScalarNode):
            raise self.error(node, f"{where} must be {want}, got {shown(node)}")
        if node.tag in (STR, SECRET):
            value, used = self.expand(node)
            if node.tag == SECRET:
                self.secret(value)
                for part in used:
                    self.secret(part)
                return value
            if node.style is not None or value == node.value:
                return value
            tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
            if tag in (STR, TIMESTAMP):
                return value
            node = ScalarNode(tag, value, node.start_mark, node.end_mark)
        if node.tag == TIMESTAMP:
            return node.value  # a date stays text: it is going into a request
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise self.error(node, f"{where}: unsupported YAML tag {node.tag!r} (only !secret is known)")
        return construct(_CONSTRUCT, node)

    def string(self, node: Node, where: str, empty: bool = False, template: bool = False) -> str:
        """Text; numbers and booleans count as their text (`X-Version: 2`)."""
        if isinstance(node, ScalarNode) and node.tag == STR:
            value = self.expand(node)[0]
        elif isinstance(node, ScalarNode) and node.tag in (INT, FLOAT, BOOL, TIMESTAMP):
            value = node.value
        else:
            value = self.scalar(node, where, "a string")  # a !secret string, or an error
        if not isinstance(value, str):
            raise self.error(node, f"{where} must be a string, got {shown(node)}")
        if not value and not empty:
            raise self.error(node, f"{where} must not be empty")
        if template:
            self.check_template(node, value, where)
        return value

    def check_template(self, node: Node, text: str, where: str) -> None:
        pos = 0
        while (start := text.find("{{", pos)) >= 0:
            end = text.find("}}", start + 2)
            if end < 0 or "{{" in text[start + 2:end]:
                raise self.error(node, f"{where}: unclosed placeholder in {text!r} (write {{{{name}}}})")
            if not text[start + 2:end].strip():
                raise self.error(node, f"{where}: empty placeholder {{{{}}}} in {text!r}")
            pos = end + 2
        if pos and compile_template is not None:
            try:
                compile_template(text)
            except TemplateError as exc:
                raise self.error(node, f"{where}: {exc}") from None

    def integer(self, node: Node, where: str, minimum: int = 1) -> int:
        value = self.scalar(node, where, "an integer")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, f"{where} must be an integer, got {self.shown(node)}")
        if value < minimum:
            raise self.error(node, f"{where} must be {'> 0' if minimum == 1 else f'>= {minimum}'}, got {value}")
        return value

    def number(self, node: Node, where: str, zero: bool = False) -> float:
        value = self.scalar(node, where, "a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(node, f"{where} must be a number, got {self.shown(node)}")
        if value < 0 or (value == 0 and not zero):
            raise self.error(node, f"{where} must be {'>= 0' if zero else '> 0'}, got {node.value}")
        return float(value)

    def duration(self, node: Node, where: str, zero: bool = False) -> float:
        """Seconds from `30`, `30s`, `500ms`, `2m`, `1h`, `1m30s`."""
        want = "a duration like 30s, 500ms, 2m or 1h"
        value = self.scalar(node, where, want)
        try:
            if isinstance(value, bool) or value is None:
                raise ValueError
            seconds = parse_duration(value)
        except ValueError:
            raise self.error(node, f"{where} must be {want}, got {self.shown(node)}") from None
        if seconds < 0 or (seconds == 0 and not zero) or not math.isfinite(seconds):
            raise self.error(node, f"{where} must be {'>= 0' if zero else '> 0'}, got {node.value}")
        return seconds

    def boolean(self, node: Node, where: str) -> bool:
        value = self.scalar(node, where, "true or false")
        if not isinstance(value, bool):
            raise self.error(node, f"{where} must be true or false, got {self.shown(node)}")
        return value

    def choice(self, node: Node, where: str, options) -> str:
        value = self.string(node, where)
        if value not in options:
            raise self.error(node, f"{where} must be one of {', '.join(options)}, got {value!r}"
                                   f"{suggest(value, options)}")
        return value

    def data(self, node: Node, where: str, template: bool = False):
        """Any YAML structure as plain dicts, lists and scalars (a JSON body, an expected value)."""
        if isinstance(node, (MappingNode, SequenceNode)):
            self.enter(node, where)
            try:
                if isinstance(node, MappingNode):
                    return {k: self.data(v, join(where, k), template) for k, _, v in self.items(node, where)}
                self.plain(node, where)
                return [self.data(v, join(where, i), template) for i, v in enumerate(node.value)]
            finally:
                self._open.discard(id(node))
        value = self.scalar(node, where)
        if template and isinstance(value, str):
            self.check_template(node, value, where)
        return value

    def headers(self, node: Node, where: str, template: bool = True) -> dict[str, str]:
        """Header names and values that can be sent (ASCII, no control characters). The value
        of a secret header (`is_secret_header`, with the config's `secret_headers`) becomes a
        secret unless it is a template; no message shows a value."""
        out: dict[str, str] = {}
        for name, key, value in self.items(node, where):
            text = self.string(value, join(where, name), empty=True, template=template)
            try:
                parse_header(f"{name}: x")
            except PlanError:
                raise self.error(key, f"{where}: invalid header name {name!r}") from None
            problem = header_value_problem(text)
            if problem:
                raise self.error(value, f"{join(where, name)} has {problem}")
            if is_secret_header(name, self.secret_headers) and "{{" not in text:
                self.secret(text)
            out[name] = text
        return out

    def think(self, node: Node, where: str) -> ThinkTime:
        """`1s` | {constant: 1s} | {between: [0.5s, 2s]} | {pacing: 5s}."""
        if not isinstance(node, MappingNode):
            return ThinkTime("constant", self.duration(node, where, zero=True))
        got = self.fields(node, where, THINK_KINDS)
        if len(got) != 1:
            raise self.error(node, f"{where} takes one of {', '.join(THINK_KINDS)}")
        (kind, value), = got.items()
        if kind == "constant":
            return ThinkTime("constant", self.duration(value, join(where, kind), zero=True))
        if kind == "pacing":
            return ThinkTime("pacing", self.duration(value, join(where, kind)))
        bounds = self.seq(value, join(where, kind))
        if len(bounds) != 2:
            raise self.error(value, f"{join(where, kind)} must be [min, max], e.g. [0.5s, 2s]")
        a, b = (self.duration(n, join(where, kind), zero=True) for n in bounds)
        if a > b:
            raise self.error(value, f"{join(where, kind)}: min {bounds[0].value} is above max {bounds[1].value}")
        return ThinkTime("between", a, b)


# --- tasks and flows -------------------------------------------------------------


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


def _body(doc: Doc, got: dict, where: str):
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
        return {"telegram": _message(doc, node, at, TELEGRAM_KINDS)}
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
    body = _body(doc, got, where)
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
    }


def _captures_used(obj) -> set[str]:
    """Names of the {{captured.NAME}} placeholders in a task's path, headers and body."""
    if isinstance(obj, str):
        return set(_CAPTURED.findall(obj))
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    return set().union(*(_captures_used(v) for v in values)) if values else set()


def _check_captures(doc: Doc, node: Node, where: str, task: dict, known: set, before: str) -> None:
    used = _captures_used([task["path"], task["headers"], task["body"]]) - known
    if used:
        name = sorted(used)[0]
        raise doc.error(node, f"{where} uses {{{{captured.{name}}}}}, but no {before} captures '{name}'")


def scenario_tasks(doc: Doc, node: Node, where: str, ctx: dict) -> tuple:
    items = doc.seq(node, where)
    tasks = tuple(task(doc, item, join(where, i), ctx) for i, item in enumerate(items))
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
        for n, step_node in enumerate(doc.seq(got["steps"], join(at, "steps"))):
            step_at = join(join(at, "steps"), n)
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
