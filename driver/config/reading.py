"""Reading a config file into YAML nodes, within bounds a hostile file cannot break.

    root = compose_file("driver.yaml")   # a yaml Node (None for an empty file), or PlanError

A config is text a person wrote, so every way a file can make the reader hang, recurse
or balloon is refused with one line naming the file (and the line, where there is one):
a file that is not regular (`/dev/zero` would be read forever, a FIFO would block), one
over MAX_CONFIG_BYTES, nesting deeper than MAX_DEPTH (100,000 `[` reached Python's
recursion limit), and aliases that expand past MAX_VALUES values or MAX_TEXT characters
(a "billion laughs" inside a JSON body took 1.85 GB and more than a minute). The file
is composed, not constructed: values stay nodes with their marks, for
driver.config.schema to read.
"""
from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from driver.errors import PlanError
from driver.limits import read_regular

MAX_CONFIG_BYTES = 4 * 2**20  # a config is text a person wrote: 4 MiB is far beyond a real one
MAX_DEPTH = 64  # nesting, also through aliases: walkers recurse; orjson refuses 255+
MAX_VALUES = 1_000_000  # values after YAML aliases are expanded (a "billion laughs" has 10^9)
MAX_TEXT = 32 * 2**20  # characters of scalars after aliases are expanded


class _TooLarge(yaml.MarkedYAMLError):
    """The document goes over one of the bounds above (raised while composing)."""


class _Loader(yaml.SafeLoader):
    """Composes only: values stay nodes with their marks; `!secret` is left as a tag.

    Composing recurses once per level of nesting, so the depth is bounded here, before
    100,000 nested `[` can reach Python's recursion limit.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooLarge(problem=f"nested deeper than {MAX_DEPTH} levels",
                                problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose_file(path) -> Node | None:
    """The file's root node (None when it holds no document), or PlanError."""
    file = str(path)
    try:
        text = read_regular(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise PlanError(f"config file not found: {file}", flag="--config") from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"not UTF-8 text (byte {exc.start})", file=file) from None
    except ValueError as exc:  # a directory, a device or pipe, or too large
        raise PlanError(f"{exc}; give a config file", file=file) from None
    except OSError as exc:
        raise PlanError(f"cannot read config file {file}: {exc.strerror}", flag="--config") from None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except _TooLarge as exc:
        raise PlanError(f"the config is {exc.problem}", file=file, line=exc.problem_mark.line + 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        if exc.context and exc.problem and exc.context_mark:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise PlanError(f"YAML syntax error: {problem}", file=file, line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise PlanError(f"YAML error: {' '.join(str(exc).split())}", file=file) from None
    if root is not None:
        too_large = _expansion(root)
        if too_large is not None:
            node, problem = too_large
            raise PlanError(problem, file=file, line=node.start_mark.line + 1)
    return root


def _expansion(root: Node) -> tuple[Node, str] | None:
    """(node, problem) for the smallest value that, with every alias expanded where it is
    used, holds more than MAX_VALUES values or MAX_TEXT characters, or nests deeper than
    MAX_DEPTH; None if the document stays within them.

    Each distinct node is measured once (iteratively, children first), so a "billion
    laughs" costs as many steps as it has lines. An alias to a node that contains it is
    skipped here: Doc.enter reports it on its line.
    """
    sizes: dict[int, tuple[int, int, int]] = {}  # id -> (values, characters, depth)
    open_ids: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if not done:
            if key in sizes or key in open_ids:
                continue
            open_ids.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children)
            continue
        open_ids.discard(key)
        known = [sizes[id(c)] for c in children if id(c) in sizes]
        values = 1 + sum(k[0] for k in known)
        text = (len(node.value) if isinstance(node, ScalarNode) else 0) + sum(k[1] for k in known)
        depth = 1 + max((k[2] for k in known), default=0)
        sizes[key] = (values, text, depth)
        if values > MAX_VALUES:
            return node, f"this value expands to more than {MAX_VALUES:,} values (YAML aliases count " \
                         "each time they are used)"
        if text > MAX_TEXT:
            return node, f"this value expands to more than {MAX_TEXT // 2**20} MiB of text (YAML aliases " \
                         "count each time they are used)"
        if depth > MAX_DEPTH:
            return node, f"this value nests deeper than {MAX_DEPTH} levels through YAML aliases"
    return None


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []
