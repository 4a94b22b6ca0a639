"""A worker's watchdog: a thread that says where the event loop is stuck.

User code that blocks (a `time.sleep`, a synchronous client, a long computation in a
task) stops the worker's event loop: no request is sent or timed, no heartbeat is
written. The parent sees the heartbeat go stale; this thread, which runs while the
loop is blocked (blocking calls release the GIL), writes *where* into the worker's
name table so the parent can say it: the innermost frame of code outside the
standard library, e.g. `slow_task (bot.py:12)`.
"""
from __future__ import annotations

import os
import sys
import sysconfig
import threading
import time

import numpy as np

from driver.layout import (
    NOTE_WORDS,
    PHASE_RUNNING,
    PHASE_STOPPING,
    ST_HEARTBEAT_NS,
    ST_PHASE,
    encode_name,
    note_offset,
)

STUCK_S = 1.0  # a heartbeat older than this: the loop is blocked (it beats every 0.1 s)
_STDLIB = tuple(os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib"))


_DRIVER = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def where(frame) -> str:
    """`function (file:line)` of the innermost frame of the user's own code (not the
    standard library, an installed package or driver); else of the innermost frame."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return "unknown"

    def path(f):
        return os.path.realpath(f.f_code.co_filename)

    def own(p):
        return not (p.startswith(_STDLIB) or "site-packages" in p or p.startswith(_DRIVER))

    chosen = next((f for f in frames if own(path(f))), frames[0])
    return f"{chosen.f_code.co_name} ({os.path.basename(path(chosen))}:{chosen.f_lineno})"


class Watchdog(threading.Thread):
    def __init__(self, status: np.ndarray, names: np.ndarray, max_endpoints: int, now_ns):
        super().__init__(name="driver-watchdog", daemon=True)
        self.status = status
        self.names = names
        self.base = note_offset(max_endpoints)
        self.now_ns = now_ns
        self.main = threading.main_thread().ident
        self.done = threading.Event()

    def run(self) -> None:
        noted = 0
        while not self.done.wait(STUCK_S / 4):
            beat = int(self.status[ST_HEARTBEAT_NS])
            if self.status[ST_PHASE] not in (PHASE_RUNNING, PHASE_STOPPING):
                continue  # waiting for the start, or done: no heartbeat is due
            if beat == noted or self.now_ns() - beat < STUCK_S * 1e9:
                continue
            frame = sys._current_frames().get(self.main)
            text = f"blocked in {where(frame)}" if frame is not None else "blocked"
            words = np.frombuffer(encode_name(text, NOTE_WORDS), dtype=np.int64)
            self.names[self.base: self.base + NOTE_WORDS] = words
            noted = beat  # one note per stall

    def stop(self) -> None:
        self.done.set()
