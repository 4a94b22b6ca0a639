"""Request templates with placeholders, compiled once, rendered per request.

    t = compile_template({"user_id": "{{user.id}}", "text": "hi {{user.first_name}}",
                          "n": "{{seq}}", "token": "{{captured.token}}"})
    body = t.render_json(user, captured, rng)      # bytes, orjson

Placeholders (whitespace inside the braces is ignored):

    {{user.ATTR}}       an attribute of the SyntheticUser: id, tier, username, phone, ...
    {{seq}}             this template's render counter: 1, 2, 3, ...
    {{now}} {{now_ms}}  unix time in seconds / milliseconds (int)
    {{uuid}}            a random UUID4 string
    {{randint:A,B}}     an int in [A, B], drawn from `rng`
    {{choice:a,b,c}}    one of the (string) items, drawn from `rng`
    {{captured.NAME}}   a value an earlier step captured (TemplateError when unset)

`seq`, `now` and `now_ms` are evaluated once per render (every occurrence in one body
agrees); `uuid`, `randint` and `choice` are drawn per occurrence.

A string that is exactly one placeholder keeps the value's type ("{{user.id}}" renders
as the int); inside a longer string the value is formatted (ints as digits, None /
bools / objects as JSON). Keys may hold placeholders too; they always render as text.
Unknown placeholders raise TemplateError at compile time, naming the placeholder and
where it is.

What is compiled: a string becomes a constant, one getter (exactly one placeholder),
or a formatter (an f-string around one placeholder, str.format for more). A
structure becomes a tree in which each container on a path to a placeholder copies
its precompiled static part and fills in only its placeholder slots (static subtrees
are shared between renders: treat results as read-only). For `render_json` the
template is serialised once with markers in place of the placeholder strings and cut
into byte chunks at the markers: a render serialises only the placeholder values and
joins them with the chunks (a 4 KB body with two placeholders costs about as much as
a 50-byte one).

`rng` is a `random.Random` (anything with `.random()`); None uses the `random` module.
"""
from __future__ import annotations

import dataclasses
import operator
import random as _random
import re
import secrets
import uuid
from time import time_ns as _time_ns
from typing import Any, Callable

import orjson
from orjson import dumps as _dumps

from driver.payloads.users import SyntheticUser

__all__ = ["Template", "TemplateError", "compile_template"]


class TemplateError(ValueError):
    """A template that cannot compile, or a value missing when it renders."""


_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_INT = re.compile(r"\s*(-?\d+)\s*")
_NAME = re.compile(r"[A-Za-z_][\w.-]*")
_MAX_SPAN = 2**53  # randint draws int(random() * span): exact up to 2**53
_USER_ATTRS = frozenset(
    [f.name for f in dataclasses.fields(SyntheticUser)]
    + [n for n, v in vars(SyntheticUser).items() if isinstance(v, property)])

# A getter is g(user, captured, rng, ctx) -> value; ctx = (seq, now_ns) of this render.
Getter = Callable[[Any, Any, Any, tuple], Any]


def _text(value) -> str:
    """A value as it reads inside a larger string."""
    if type(value) is str:
        return value
    if type(value) is int or type(value) is float:
        return str(value)
    return orjson.dumps(value).decode()  # None -> null, True -> true, dict -> {...}


def _same(get: Getter, clock: bool = False) -> tuple[Getter, Getter, bool]:
    return get, get, clock


def _getter(expr: str, where: str) -> tuple[Getter, Getter, bool]:
    """(getter, getter for use inside text, needs the clock) for one placeholder.

    The text getter returns a str or an int (both format as themselves); only captured
    values, which may be anything, need a different one.
    """
    name, _, arg = expr.partition(":")
    if expr.startswith("user."):
        attr = expr[5:]
        if attr not in _USER_ATTRS:
            raise TemplateError(f"unknown placeholder {{{{{expr}}}}}{where}: SyntheticUser has "
                                f"no attribute {attr!r} (known: {', '.join(sorted(_USER_ATTRS))})")
        get = operator.attrgetter(attr)  # every SyntheticUser attribute is a str or an int
        user_attr = lambda u, c, r, x: get(u)  # noqa: E731
        return user_attr, user_attr, False
    if expr.startswith("captured."):
        key = expr[9:]
        if not _NAME.fullmatch(key):
            raise TemplateError(f"bad placeholder {{{{{expr}}}}}{where}: "
                                "captured names are letters, digits, _, . and -")

        def captured(u, c, r, x):
            try:
                return c[key]
            except (KeyError, TypeError):
                raise TemplateError(f"captured value {key!r} not set") from None

        def captured_text(u, c, r, x):
            try:
                value = c[key]
            except (KeyError, TypeError):
                raise TemplateError(f"captured value {key!r} not set") from None
            return value if type(value) is str else _text(value)
        return captured, captured_text, False
    if expr == "seq":
        return _same(lambda u, c, r, x: x[0])
    if expr == "now":
        return _same(lambda u, c, r, x: x[1] // 1_000_000_000, clock=True)
    if expr == "now_ms":
        return _same(lambda u, c, r, x: x[1] // 1_000_000, clock=True)
    if expr == "uuid":
        return _same(lambda u, c, r, x: str(uuid.uuid4()))
    if name == "randint":
        bounds = arg.split(",")
        matches = [_INT.fullmatch(b) for b in bounds]
        if len(bounds) != 2 or not all(matches):
            raise TemplateError(f"bad placeholder {{{{{expr}}}}}{where}: use {{{{randint:A,B}}}} "
                                "with integers A <= B")
        low, high = (int(m.group(1)) for m in matches)
        span = high - low + 1
        if span < 1 or span > _MAX_SPAN:
            raise TemplateError(f"bad placeholder {{{{{expr}}}}}{where}: need A <= B and "
                                f"B - A < 2**53")
        return _same(lambda u, c, r, x: low + int(r.random() * span))
    if name == "choice":
        items = tuple(arg.split(","))
        if not arg:
            raise TemplateError(f"bad placeholder {{{{{expr}}}}}{where}: "
                                "use {{choice:a,b,...}} with at least one item")
        n = len(items)
        return _same(lambda u, c, r, x: items[int(r.random() * n)])
    raise TemplateError(f"unknown placeholder {{{{{expr}}}}}{where}; expected user.ATTR, seq, "
                        "now, now_ms, uuid, randint:A,B, choice:a,b,... or captured.NAME")


@dataclasses.dataclass(frozen=True)
class _Str:
    """A compiled string: a constant, or `value` (typed when the string is exactly one
    placeholder, else text) and `text` (always text) getters."""

    const: str | None  # set when the string has no placeholder
    value: Getter | None
    text: Getter | None
    names: tuple[str, ...]
    timed: bool


def _compile_str(s: str, where: str) -> _Str:
    literals, getters, names, timed = [], [], [], False
    pos, exact = 0, None
    for m in _PLACEHOLDER.finditer(s):
        expr = m.group(1)
        get, get_text, clock = _getter(expr, where)
        if m.start() == 0 and m.end() == len(s):
            exact = get  # the whole string is this one placeholder: keep the value's type
        literals.append(s[pos:m.start()])
        getters.append(get_text)
        names.append(expr)
        timed = timed or clock
        pos = m.end()
    if not getters:
        return _Str(s, None, None, (), False)
    literals.append(s[pos:])
    text = _formatter(literals, getters)
    if exact is not None:
        value, text = exact, (lambda g: lambda u, c, r, x: _text(g(u, c, r, x)))(exact)
    else:
        value = text
    return _Str(None, value, text, tuple(names), timed)


def _formatter(literals: list[str], getters: list[Getter]) -> Getter:
    """A getter for the text: literals[0] + value0 + literals[1] + ... (str or int values)."""
    if len(getters) == 1:  # the common case, one f-string, no format() parsing
        (pre, post), (g,) = literals, getters
        return lambda u, c, r, x: f"{pre}{g(u, c, r, x)}{post}"
    pattern = "{}".join(lit.replace("{", "{{").replace("}", "}}") for lit in literals)
    fmt = pattern.format
    return lambda u, c, r, x: fmt(*[g(u, c, r, x) for g in getters])


def _compile_node(obj, path: str, slots: list):
    """(static?, value or render function); records placeholder strings in `slots`."""
    if isinstance(obj, str):
        compiled = _compile_str(obj, f" at {path}" if path else "")
        if compiled.const is not None:
            return True, obj
        slots.append((compiled, False))
        return False, compiled
    if isinstance(obj, dict):
        items, static = [], True
        for key, value in obj.items():
            key_c = _compile_str(key, f" in a key at {path or '$'}")
            if key_c.const is None:
                slots.append((key_c, True))
                static = False
            value_static, value_node = _compile_node(value, f"{path or '$'}.{key}", slots)
            static = static and value_static
            items.append((key_c, value_static, value_node))
        if static:
            return True, obj
        return False, _dict_renderer(items)
    if isinstance(obj, list):
        nodes = [_compile_node(v, f"{path or '$'}[{i}]", slots) for i, v in enumerate(obj)]
        if all(s for s, _ in nodes):
            return True, obj
        return False, _list_renderer(nodes)
    return True, obj  # int, float, bool, None


def _fn(node):
    """The render function of a dynamic node: a string's value getter or a container's."""
    return node.value if isinstance(node, _Str) else node


def _dict_renderer(items):
    if all(k.const is not None for k, _, _ in items):
        # Constant keys: copy a dict holding the static values, then overwrite the
        # dynamic ones in place (an existing key keeps its position: order is kept).
        base = {k.const: (v if s else None) for k, s, v in items}
        dynamic = [(k.const, _fn(v)) for k, s, v in items if not s]

        def render(u, c, r, x):
            out = base.copy()
            for key, value in dynamic:
                out[key] = value(u, c, r, x)
            return out
        return render
    compiled = [((lambda k: lambda u, c, r, x: k)(k.const) if k.const is not None else k.text,
                 (lambda v: lambda u, c, r, x: v)(v) if s else _fn(v)) for k, s, v in items]

    def render_keys(u, c, r, x):  # some keys hold placeholders: build key by key
        return {key(u, c, r, x): value(u, c, r, x) for key, value in compiled}
    return render_keys


def _list_renderer(nodes):
    base = [v if s else None for s, v in nodes]
    dynamic = [(i, _fn(v)) for i, (s, v) in enumerate(nodes) if not s]

    def render(u, c, r, x):
        out = base.copy()
        for i, value in dynamic:
            out[i] = value(u, c, r, x)
        return out
    return render


class Template:
    """A compiled template; build with `compile_template`. Not thread-safe (`seq`)."""

    __slots__ = ("source", "placeholders", "is_static", "_root", "_head", "_pairs",
                 "_timed", "_seq", "_const_json")

    def __init__(self, source, root, static: bool, slots: list, chunks: list[bytes]):
        self.source = source
        self.placeholders: tuple[str, ...] = tuple(
            name for compiled, _ in slots for name in compiled.names)
        self.is_static = static
        self._root = root
        values = [(c.text if as_key else c.value) for c, as_key in slots]
        self._head = chunks[0]
        self._pairs = list(zip(values, chunks[1:]))
        self._timed = any(c.timed for c, _ in slots)
        self._seq = 0
        self._const_json = orjson.dumps(source) if static else None

    def render(self, user=None, captured: dict | None = None, rng=None):
        """The rendered value: str (or the placeholder's own type), or a structure."""
        if self.is_static:
            return self._root
        self._seq = seq = self._seq + 1
        x = (seq, _time_ns() if self._timed else 0)  # this render's seq and clock
        return self._root(user, captured, rng or _random, x)

    def render_json(self, user=None, captured: dict | None = None, rng=None) -> bytes:
        """The rendered value as JSON bytes (orjson), from the precompiled chunks."""
        if self._const_json is not None:
            return self._const_json
        self._seq = seq = self._seq + 1
        x = (seq, _time_ns() if self._timed else 0)
        r = rng or _random
        pairs = self._pairs
        if len(pairs) == 1:  # the common case: head + value + tail
            value, tail = pairs[0]
            return self._head + _dumps(value(user, captured, r, x)) + tail
        out = [self._head]
        for value, chunk in pairs:  # chunk i+1 follows the value of slot i
            out += (_dumps(value(user, captured, r, x)), chunk)
        return b"".join(out)

    def render_str(self, user=None, captured: dict | None = None, rng=None) -> str:
        """Always text: a string template's text, a structure's JSON (for headers, paths)."""
        value = self.render(user, captured, rng)
        return value if type(value) is str else _text(value)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(obj) -> Template:
    """Compile a string or a JSON-like structure (dict / list / scalars) once."""
    try:
        plain = orjson.dumps(obj)  # validates: JSON types, str keys, finite floats
    except TypeError as exc:
        raise TemplateError(f"template is not JSON-serialisable: {exc}") from None
    source = orjson.loads(plain)  # a private deep copy: later edits of `obj` do not leak in
    token = secrets.token_hex(8)
    while token.encode() in plain:
        token = secrets.token_hex(8)
    slots: list = []
    static, node = _compile_node(source, "", slots)
    if static:
        return Template(source, source, True, [], [plain])
    root = node.value if isinstance(node, _Str) else node
    chunks = _chunks(source, slots, token)
    return Template(source, root, False, slots, chunks)


def _chunks(source, slots: list, token: str) -> list[bytes]:
    """The template serialised with a marker per placeholder string, cut at the markers.

    Markers are assigned in the order `_compile_node` met the strings (depth-first, keys
    before their values), which is also the order orjson writes them.
    """
    counter = iter(range(len(slots)))

    def mark(obj):
        if isinstance(obj, str):
            return f"@@{token}:{next(counter)}@@" if _PLACEHOLDER.search(obj) else obj
        if isinstance(obj, dict):
            out = {}
            for key, value in obj.items():
                new_key = f"@@{token}:{next(counter)}@@" if _PLACEHOLDER.search(key) else key
                out[new_key] = mark(value)
            return out
        if isinstance(obj, list):
            return [mark(v) for v in obj]
        return obj

    marked = orjson.dumps(mark(source))
    parts = re.split(rb'"@@' + token.encode() + rb":(\d+)@@\"", marked)
    chunks, order = parts[0::2], [int(i) for i in parts[1::2]]
    if order != list(range(len(slots))):  # an invariant, not a user error
        raise AssertionError(f"template markers out of order: {order}")
    return chunks
