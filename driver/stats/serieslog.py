"""The per-second series of a run, kept on disk while the run lasts.

A run adds one point a second (driver.stats.window.Window.point: ~25 figures, and the
watched processes, driver's own RSS, the target's metrics...). Kept as Python dicts that
is about 2.4 KB a second: 8.6 MB an hour in the parent, which a soak's memory verdict
then reads as driver leaking. So the points go to an unlinked temporary file as
they come (one JSON line each: about a fifth of the size, and on disk, not in memory),
and only the last point stays in memory, for the figures that look at it. `points()`
reads the whole series back at the end of the run; a checkpoint, written every minute
while it lasts, copies the lines (`lines()`) and reads only the figures it judges
(`figures()`): reading the whole series back each minute made the supervisor's memory
peak, and with it its RSS, grow with the run (benchmarks/run_stability.py).

    log = SeriesLog()
    log.append({"t": 1.0, "requests": 10})
    log[-1]["t"], len(log), log.points()
"""
from __future__ import annotations

import tempfile

import orjson

__all__ = ["SeriesLog"]


class SeriesLog:
    """An append-only list of JSON-ready dicts, spooled to a temporary file."""

    def __init__(self, points=()):
        self._file = tempfile.TemporaryFile(prefix="driver-series-")  # unlinked: gone with the process
        self._n = 0
        self._last: dict | None = None
        for p in points:
            self.append(p)

    def append(self, point: dict) -> None:
        self._file.write(orjson.dumps(point, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        self._n += 1
        self._last = point

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __getitem__(self, index: int) -> dict:
        """The last point (`log[-1]`) without a read; any other index reads the file."""
        if index == -1 and self._last is not None:
            return self._last
        return self.points()[index]

    def __iter__(self):
        return iter(self.points())

    def points(self) -> list[dict]:
        """The whole series, in order (a new list of new dicts)."""
        self._file.flush()
        self._file.seek(0)
        out = [orjson.loads(line) for line in self._file]
        self._file.seek(0, 2)  # appends go on at the end
        return out

    def lines(self):
        """Each point's JSON line (bytes, no newline), in order, read as they are needed
        (no point is appended until the iteration ends: the caller's thread is the only one)."""
        self._file.flush()
        self._file.seek(0)
        try:
            for line in self._file:
                yield line.rstrip(b"\n")
        finally:
            self._file.seek(0, 2)

    def figures(self, keys: tuple[str, ...]) -> list[dict]:
        """Every point with only `keys` (those it has): a light copy of the series."""
        return [{k: p[k] for k in keys if k in p} for p in map(orjson.loads, self.lines())]

    def close(self) -> None:
        self._file.close()
