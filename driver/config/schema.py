"""Reading a composed YAML config node by node, so every error can name file:line.

`Doc` wraps one config file: it knows the file name, the environment `${VAR}`
expands from, and the secrets met so far (values tagged `!secret`). Its readers
(`fields`, `string`, `integer`, `duration`, ...) turn PyYAML nodes into checked
Python values or raise a PlanError placed at the file and line. Nothing here opens
files; driver.config.loader does that.
"""
from __future__ import annotations

import math
import re

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from driver.errors import PlanError, suggest
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

THINK_KINDS = ("constant", "between", "pacing")


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
        """A PlanError placed at the node's line (or at the file, without a node)."""
        return PlanError(message, file=self.file, line=None if node is None else node.start_mark.line + 1)

    def line(self, node: Node) -> int:
        return node.start_mark.line + 1

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
