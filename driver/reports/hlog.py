"""HdrHistogram interval logs (`latency.hlog`): one interval per second per endpoint.

The file is HdrHistogram's own log format (version 1.3), which its tools read
(HistogramLogProcessor, HdrHistogram_py's HistogramLogReader, HdrHistogramVisualizer):

    #[Histogram log format version 1.3]
    #[StartTime: 1764504000.123 (seconds since epoch), 2026-11-30T12:00:00+00:00]
    #[BaseTime: 1764504000.123 (seconds since epoch)]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    Tag=GET_/,0.000,1.000,1.204,HISTFAAAA...

Timestamps are seconds since the start of the load (the BaseTime); the max is in
milliseconds (values are nanoseconds: HdrHistogram's tools take an output value unit
ratio of 1e6 for that). The payload is the V2 compressed encoding of the window's
latency histogram: `driver.histogram` uses HdrHistogram's bucket layout (lowest 1 ns,
highest 1 h, 3 significant digits), so its counts array is written as it is, index for
index, and a reader gets the very buckets, hence the very percentiles, of the run's
own per-second figures.

A tag may not hold ',', spaces or line breaks (the format splits on them): those
characters become '_', and a comment line before the first interval of an endpoint
says which name a changed tag stands for.
"""
from __future__ import annotations

import base64
import re
import struct
import time
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from driver.layout import COUNTS_LEN, H_LATENCY, HIGHEST_NS, LOWEST_NS, SIGNIFICANT_DIGITS
from driver.histogram import highest_equivalent, value_from_index

__all__ = ["HlogWriter", "encode", "tag_of", "FORMAT_VERSION"]

FORMAT_VERSION = "1.3"
# V2 cookies with the word-size nibble HdrHistogram sets (0x10): encoding, then compression
ENCODING_COOKIE = 0x1C849303 | 0x10
COMPRESSION_COOKIE = 0x1C849304 | 0x10
_HEADER = struct.Struct(">iiiiqqd")  # cookie, payload length, normalizing offset, digits, lowest, highest, ratio
_UNSAFE_TAG = re.compile(r"[^\x21-\x7e]|,")  # the log is ASCII; a space or a comma would end the tag


def _varint(value: int, out: bytearray) -> None:
    """ZigZag LEB128 of a signed 64-bit value, as HdrHistogram writes counts (ZigZagEncoding)."""
    v = ((value << 1) ^ (value >> 63)) & 0xFFFF_FFFF_FFFF_FFFF
    for _ in range(8):  # up to 8 groups of 7 bits, then a whole 9th byte (HdrHistogram's form)
        if v < 0x80:
            out.append(v)
            return
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v & 0xFF)


def encode(counts: np.ndarray) -> str:
    """One histogram (COUNTS_LEN ns counts) as HdrHistogram's base64 V2 compressed encoding.

    Counts are written up to the last non-empty one; a run of k > 1 empty counts is
    written as -k (HdrHistogram's zero-run encoding).
    """
    counts = np.asarray(counts)
    if counts.shape != (COUNTS_LEN,):
        raise ValueError(f"a histogram has shape ({COUNTS_LEN},), not {counts.shape}")
    body = bytearray()
    last = -1
    for i in np.flatnonzero(counts):
        gap = int(i) - last - 1
        if gap == 1:
            _varint(0, body)
        elif gap > 1:
            _varint(-gap, body)
        _varint(int(counts[i]), body)
        last = int(i)
    header = _HEADER.pack(ENCODING_COOKIE, len(body), 0, SIGNIFICANT_DIGITS, LOWEST_NS, HIGHEST_NS, 1.0)
    compressed = zlib.compress(header + bytes(body))
    return base64.b64encode(struct.pack(">ii", COMPRESSION_COOKIE, len(compressed)) + compressed).decode("ascii")


def tag_of(name: str) -> str:
    """An endpoint name as an hlog tag: ',', spaces, line breaks and anything not printable
    ASCII as '_'."""
    return _UNSAFE_TAG.sub("_", name) or "_"


def _max_ms(counts: np.ndarray) -> float:
    top = int(np.flatnonzero(counts)[-1])
    return highest_equivalent(value_from_index(top)) / 1e6


class HlogWriter:
    """Writes a run's windows (driver.stats.window.Window) to an hlog file as they come.

    `write(window)` is meant for the supervisor's per-second progress callback: each
    endpoint with latencies in the window gets one interval line, flushed at once, so a
    run that dies keeps every second it had. `clock` (epoch seconds) dates the start.
    """

    def __init__(self, path: str | Path, clock=time.time):
        self.path = Path(path)
        self.clock = clock
        self.file = None
        self.tags: dict[str, str] = {}

    def _open(self, start_epoch: float) -> None:
        self.file = open(self.path, "w", encoding="ascii")
        when = datetime.fromtimestamp(start_epoch, timezone.utc).isoformat(timespec="seconds")
        self.file.write(f"#[Histogram log format version {FORMAT_VERSION}]\n"
                        f"#[Written by driver: latency from the intended start, ns; one interval per "
                        f"second per endpoint, tag = endpoint]\n"
                        f"#[StartTime: {start_epoch:.3f} (seconds since epoch), {when}]\n"
                        f"#[BaseTime: {start_epoch:.3f} (seconds since epoch)]\n"
                        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n')

    def write(self, win) -> None:
        if self.file is None:
            self._open(self.clock() - win.t)  # the load started win.t seconds ago
        start = max(0.0, win.t - win.dt)
        lines = []
        for row in sorted(win.rows, key=lambda r: r.name):
            counts = row.hists[H_LATENCY]
            if not counts.any():
                continue
            tag = self.tags.get(row.name)
            if tag is None:
                tag = base = tag_of(row.name)
                taken = set(self.tags.values())
                n = 1
                while tag in taken:  # two names that read the same as tags ("a b", "a,b") stay apart
                    n += 1
                    tag = f"{base}~{n}"
                self.tags[row.name] = tag
                if tag != row.name:
                    lines.append(f"#[Tag {tag}: endpoint {ascii(row.name)}]\n")
            lines.append(f"Tag={tag},{start:.3f},{win.dt:.3f},{_max_ms(counts):.3f},{encode(counts)}\n")
        self.file.write("".join(lines))
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
