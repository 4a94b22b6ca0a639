"""The Prometheus text formats, read: exposition format 0.0.4 and OpenMetrics 1.0 text.

Pure: text in, samples out; no I/O. driver.runner.metrics scrapes a target's endpoint
(--metrics-url) once a second and keeps the series the user names (--metric) with a
`Selector`. Every sample is kept as its own series, so a summary gives one series per
quantile plus `_sum` and `_count`, and a histogram `_sum`, `_count` and (when named)
each `_bucket{le=...}`.

    samples = parse(text)                  # ExpositionError("line 3: ...") when malformed
    sel = parse_selector('queue_depth{queue="mail"}')
    {series_name(s): s.value for s in samples if sel.matches(s)}

What is read: `# HELP` / `# TYPE` / other comments, label values with the escapes
`\\\\`, `\\"` and `\\n`, a trailing comma in the label set, the values NaN, +Inf and -Inf,
an optional timestamp (milliseconds in 0.0.4, seconds in OpenMetrics: both become
seconds, as prometheus_client reads them), OpenMetrics exemplars (` # {...} v`,
skipped) and `# EOF`. Not read: metric names in quotes (the UTF-8 names of newer
Prometheus servers) — such a line is an ExpositionError naming it.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Sample", "Selector", "ExpositionError", "parse", "parse_selector", "series_name", "finite_or_none"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_FAMILY_SUFFIXES = ("_total", "_sum", "_count")  # kept under the family's name; buckets only when named


class ExpositionError(ValueError):
    """Text that is not the Prometheus text format; the message names the line."""


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]  # as written, in order
    value: float
    timestamp: float | None = None  # seconds since the epoch, when the line gives one
    family: str = ""  # the name in the # TYPE line it follows ("" when none)

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def parse(text: str, openmetrics: bool | None = None) -> list[Sample]:
    """Every sample of an exposition, in order. `openmetrics`: None to tell from the
    text (a `# EOF` line), which only changes the timestamp unit."""
    lines = text.split("\n")
    if openmetrics is None:
        openmetrics = any(line.strip() == "# EOF" for line in lines)
    samples, family = [], ""
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line[1:].split(None, 3)
            if len(parts) >= 3 and parts[0] == "TYPE":
                if not _NAME.fullmatch(parts[1]):
                    raise ExpositionError(f"line {n}: bad metric name in # TYPE: {parts[1]!r}")
                family = parts[1]
            continue
        samples.append(_sample(line, n, family, openmetrics))
    return samples


def _sample(line: str, n: int, family: str, openmetrics: bool) -> Sample:
    match = _NAME.match(line)
    if match is None:
        raise ExpositionError(f"line {n}: expected a metric name, got {line[:40]!r}")
    name, pos = match.group(), match.end()
    labels: tuple = ()
    if pos < len(line) and line[pos] == "{":
        labels, pos = _labels(line, pos + 1, n)
    rest = line[pos:]
    if rest[:1] not in (" ", "\t"):
        raise ExpositionError(f"line {n}: expected a space and a value after {name}")
    if openmetrics:
        rest = rest.split(" # ", 1)[0]  # an exemplar
    fields = rest.split()
    if not 1 <= len(fields) <= 2:
        raise ExpositionError(f"line {n}: expected a value and an optional timestamp after {name}, "
                              f"got {rest.strip()[:40]!r}")
    value = _number(fields[0], n)
    timestamp = None
    if len(fields) == 2:
        timestamp = _number(fields[1], n)
        if not openmetrics:
            timestamp /= 1000  # 0.0.4 timestamps are milliseconds
    if not family or not (name == family or name.startswith(family + "_")):
        family = ""  # a sample of no declared family (untyped)
    return Sample(name, labels, value, timestamp, family)


def _labels(line: str, pos: int, n: int) -> tuple[tuple, int]:
    """The label pairs from `pos` (just after the `{`) and the position after the `}`."""
    out = []
    while True:
        pos = _skip_spaces(line, pos)
        if pos < len(line) and line[pos] == "}":
            return tuple(out), pos + 1
        match = _LABEL.match(line, pos)
        if match is None:
            raise ExpositionError(f"line {n}: expected a label name at column {pos + 1}")
        pos = _skip_spaces(line, match.end())
        if line[pos:pos + 1] != "=":
            raise ExpositionError(f"line {n}: expected = after label {match.group()}")
        pos = _skip_spaces(line, pos + 1)
        if line[pos:pos + 1] != '"':
            raise ExpositionError(f"line {n}: the value of label {match.group()} must be in double quotes")
        value, pos = _quoted(line, pos + 1, n)
        out.append((match.group(), value))
        pos = _skip_spaces(line, pos)
        if line[pos:pos + 1] == ",":
            pos += 1
        elif line[pos:pos + 1] != "}":
            raise ExpositionError(f"line {n}: expected , or }} after label {match.group()}")


def _quoted(line: str, pos: int, n: int) -> tuple[str, int]:
    """A label value from just after its opening quote: (value, position after the closing quote)."""
    chars = []
    while pos < len(line):
        c = line[pos]
        if c == '"':
            return "".join(chars), pos + 1
        if c == "\\" and pos + 1 < len(line):
            nxt = line[pos + 1]
            chars.append(_ESCAPES.get(nxt, "\\" + nxt))  # an unknown escape stays as written
            pos += 2
            continue
        chars.append(c)
        pos += 1
    raise ExpositionError(f"line {n}: a label value's quote is never closed")


def _skip_spaces(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _number(text: str, n: int) -> float:
    try:
        return float(text)  # float() reads NaN, +Inf, -Inf and Go's 1e+06 alike
    except ValueError:
        raise ExpositionError(f"line {n}: {text[:40]!r} is not a number") from None


def series_name(sample: Sample) -> str:
    """`name` or `name{label="value",...}` (labels sorted, values escaped as in the format)."""
    if not sample.labels:
        return sample.name
    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels))
    return f"{sample.name}{{{pairs}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Selector:
    """A --metric: a family or sample name, and labels every kept sample must carry."""

    text: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    json_path: str | None = None  # `json:PATH`: a value read from a JSON document, not a sample

    def matches(self, sample: Sample) -> bool:
        """The sample is `name` itself, or `name`'s `_total` / `_sum` / `_count` (a counter,
        summary or histogram named by its family), with the selector's labels."""
        if sample.name != self.name:
            if not (sample.name.startswith(self.name) and sample.name[len(self.name):] in _FAMILY_SUFFIXES
                    and sample.family in (self.name, sample.name)):
                return False
        if not self.labels:
            return True
        have = sample.label_dict
        return all(have.get(k) == v for k, v in self.labels)


JSON_PREFIX = "json:"


def parse_selector(text: str) -> Selector:
    """`queue_depth` or `queue_depth{queue="mail",shard="2"}`, or `json:PATH` (a number at a
    json path, as `json:queue.depth` or `json:queues[0].size`, in an endpoint that answers
    JSON); ValueError saying what is wrong."""
    text = text.strip()
    if text.startswith(JSON_PREFIX):
        path = text[len(JSON_PREFIX):]
        if not path or any(c.isspace() for c in path) or ".." in path or path.startswith(".") or path.endswith("."):
            raise ValueError(f"{text!r}: expected json:PATH, a json path like json:queue.depth")
        return Selector(text, text, (), path)
    match = _NAME.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a metric name (letters, digits, _ and :) or NAME{{label=\"value\"}}")
    pos, labels = match.end(), ()
    if pos < len(text):
        if text[pos] != "{":
            raise ValueError(f"{text!r}: unexpected {text[pos]!r} after the metric name")
        try:
            labels, pos = _labels(text, pos + 1, 1)
        except ExpositionError as exc:
            raise ValueError(f"{text!r}: {str(exc).removeprefix('line 1: ')}") from None
        if pos != len(text):
            raise ValueError(f"{text!r}: unexpected text after the labels")
    return Selector(text, match.group(), labels)


def finite_or_none(value: float) -> float | None:
    """A value for JSON: NaN and ±Inf have no JSON spelling, so they become null."""
    return value if math.isfinite(value) else None
