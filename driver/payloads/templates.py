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

What is compiled: a string becomes a constant or one generated function (see
driver.payloads.placeholders: an f-string of its literals and placeholder
expressions, or the one placeholder's expression when it is exact). A
structure becomes a tree in which each container on a path to a placeholder copies
its precompiled static part and fills in only its placeholder slots (static subtrees
are shared between renders: treat results as read-only). For `render_json` the
template is serialised once with markers in place of the placeholder strings and cut
into byte chunks at the markers: a render serialises only the placeholder values and
joins them with the chunks in one generated function (a 4 KB body with two
placeholders costs about as much as a 50-byte one).

`rng` is a `random.Random` (anything with `.random()`); None uses the `random` module.
"""
from __future__ import annotations

import dataclasses
import random as _random
import re
import secrets
from time import time_ns as _time_ns

import orjson
from orjson import dumps as _dumps

from driver.payloads.placeholders import Getter, TemplateError, bind, function, parse, text_of

__all__ = ["Template", "TemplateError", "compile_template"]

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_text = text_of


@dataclasses.dataclass(frozen=True)
class _Str:
    """A compiled string: a constant, or `value` (typed when the string is exactly one
    placeholder, else text) and `text` (always text) getters, with the expressions
    they were generated from (render_json inlines those)."""

    const: str | None  # set when the string has no placeholder
    value: Getter | None
    text: Getter | None
    names: tuple[str, ...]
    timed: bool
    value_src: str = ""
    text_src: str = ""


def _compile_str(s: str, where: str, ns: dict) -> _Str:
    """Compile one string; helpers and literals go into the template's namespace `ns`."""
    parts, names, timed = [], [], False
    pos, exact = 0, None
    for m in _PLACEHOLDER.finditer(s):
        expr = m.group(1)
        value_src, text_src, clock = parse(expr, where, ns)
        if m.start() == 0 and m.end() == len(s):
            exact = value_src  # the whole string is this one placeholder: keep the value's type
        if m.start() > pos:
            parts.append("{" + bind(ns, s[pos:m.start()]) + "}")
        parts.append("{" + text_src + "}")
        names.append(expr)
        timed = timed or clock
        pos = m.end()
    if not names:
        return _Str(s, None, None, (), False)
    if pos < len(s):
        parts.append("{" + bind(ns, s[pos:]) + "}")
    if exact is not None:
        value_src, text_src = exact, f"{bind(ns, _text)}({exact})"
    else:  # an f-string of bound literals and placeholder expressions: str and int format as such
        value_src = text_src = 'f"' + "".join(parts) + '"'
    value, text = function(value_src, ns), function(text_src, ns)
    return _Str(None, value, text, tuple(names), timed, value_src, text_src)


def _compile_node(obj, path: str, slots: list, ns: dict):
    """(static?, value or render function); records placeholder strings in `slots`."""
    if isinstance(obj, str):
        compiled = _compile_str(obj, f" at {path}" if path else "", ns)
        if compiled.const is not None:
            return True, obj
        slots.append((compiled, False))
        return False, compiled
    if isinstance(obj, dict):
        items, static = [], True
        for key, value in obj.items():
            key_c = _compile_str(key, f" in a key at {path or '$'}", ns)
            if key_c.const is None:
                slots.append((key_c, True))
                static = False
            value_static, value_node = _compile_node(value, f"{path or '$'}.{key}", slots, ns)
            static = static and value_static
            items.append((key_c, value_static, value_node))
        if static:
            return True, obj
        return False, _dict_renderer(items)
    if isinstance(obj, list):
        nodes = [_compile_node(v, f"{path or '$'}[{i}]", slots, ns) for i, v in enumerate(obj)]
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

    __slots__ = ("source", "placeholders", "is_static", "_root", "_json", "_timed", "_seq", "_const_json")

    def __init__(self, source, root, static: bool, slots: list, chunks: list[bytes], ns: dict):
        self.source = source
        self.placeholders: tuple[str, ...] = tuple(
            name for compiled, _ in slots for name in compiled.names)
        self.is_static = static
        self._root = root
        self._json = _json_function(slots, chunks, ns) if not static else None
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
        return self._json(user, captured, rng or _random, (seq, _time_ns() if self._timed else 0))

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
    ns: dict = {}
    static, node = _compile_node(source, "", slots, ns)
    if static:
        return Template(source, source, True, [], [plain], ns)
    root = node.value if isinstance(node, _Str) else node
    chunks = _chunks(source, slots, token)
    return Template(source, root, False, slots, chunks, ns)


def _json_function(slots: list, chunks: list[bytes], ns: dict) -> Getter:
    """One generated getter for the JSON bytes: chunk 0, value 0, chunk 1, ... (chunk i+1
    follows the value of slot i), each value an inlined placeholder expression."""
    dumps = bind(ns, _dumps)
    parts = [bind(ns, chunks[0])]
    for (compiled, as_key), chunk in zip(slots, chunks[1:]):
        parts.append(f"{dumps}({compiled.text_src if as_key else compiled.value_src})")
        if chunk:
            parts.append(bind(ns, chunk))
    if len(parts) <= 4:  # head + value + tail: concatenation beats building a tuple
        return function(" + ".join(parts), ns)
    return function(f"b''.join(({', '.join(parts)},))", ns)


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
