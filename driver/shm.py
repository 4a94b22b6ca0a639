"""Create, attach and release the shared memory of a run; numpy views over it.

The parent creates one block per worker plus one control block, and is the only
process that unlinks them (`SharedBlocks.close`, called from a `finally`). Workers
attach by name. Segment names carry the parent's pid (`driver_<pid>_<n>_...`), so
segments left by a parent that was itself killed can be found and removed by the
next run (`remove_stale`).
"""
from __future__ import annotations

import os
import secrets
from multiprocessing import shared_memory

import numpy as np

from driver.layout import CTL_LEN, BlockLayout, names_length
from driver.replies.ring import ring_length

PREFIX = "driver_"
_SHM_DIR = "/dev/shm"


class Segment:
    """One shared-memory segment seen as a flat int64 numpy array."""

    def __init__(self, shm: shared_memory.SharedMemory, length: int, owner: bool):
        self.shm = shm
        self.owner = owner
        self.array = np.ndarray((length,), dtype=np.int64, buffer=shm.buf)

    @property
    def name(self) -> str:
        return self.shm.name

    @classmethod
    def create(cls, name: str, length: int) -> "Segment":
        shm = shared_memory.SharedMemory(name=name, create=True, size=max(8, length * 8))
        return cls(shm, length, owner=True)

    @classmethod
    def attach(cls, name: str, length: int) -> "Segment":
        return cls(shared_memory.SharedMemory(name=name), length, owner=False)

    def close(self) -> None:
        self.array = None  # drop the view first: an exported buffer blocks close()
        try:
            self.shm.close()
        except BufferError:  # a caller still holds a view; the mapping goes with the process
            pass
        if self.owner:
            try:
                self.shm.unlink()
            except FileNotFoundError:
                pass


class SharedBlocks:
    """The segments of one run: a control block and one block per worker (parent side)."""

    def __init__(self, n_workers: int, layout: BlockLayout, rings: int = 0, groups: tuple = ()):
        """`n_workers` stats blocks with their name tables (a run with a bot side has one
        more than it has workers), and `rings` rings of updates (driver.replies.ring).

        `groups`: a grouped run's groups after the first, a BlockLayout each (its own
        endpoint slots): `n_workers` more blocks and name tables per group, in
        `group_blocks[g - 1]` and `group_names[g - 1]` (the first group records into
        the workers' own blocks)."""
        self.layout = layout
        self.names_len = names_length(layout.n_endpoints)
        tag = f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        self.segments: list[Segment] = []
        try:
            self.control = self._create(f"{tag}_ctl", CTL_LEN)
            self.control.array[:] = 0
            self.blocks, self.names = [], []
            for i in range(n_workers):
                seg = self._create(f"{tag}_w{i}", layout.length)
                layout.initialise(seg.array)
                self.blocks.append(seg)
                table = self._create(f"{tag}_n{i}", self.names_len)
                table.array[:] = 0
                self.names.append(table)
            self.group_blocks, self.group_names = [], []
            for g, group_layout in enumerate(groups, start=1):
                blocks, tables = [], []
                for i in range(n_workers):
                    seg = self._create(f"{tag}_g{g}w{i}", group_layout.length)
                    group_layout.initialise(seg.array)
                    blocks.append(seg)
                    table = self._create(f"{tag}_g{g}n{i}", names_length(group_layout.n_endpoints))
                    table.array[:] = 0
                    tables.append(table)
                self.group_blocks.append(blocks)
                self.group_names.append(tables)
            self.rings, self.back_rings = [], []
            for i in range(rings):  # updates to the bot side, and back: which were answered
                for name, into in ((f"{tag}_r{i}", self.rings), (f"{tag}_b{i}", self.back_rings)):
                    ring = self._create(name, ring_length())
                    ring.array[:] = 0
                    into.append(ring)
        except BaseException:
            self.close()
            raise

    def _create(self, name: str, length: int) -> Segment:
        seg = Segment.create(name, length)
        self.segments.append(seg)
        return seg

    @property
    def block_names(self) -> list[str]:
        return [b.name for b in self.blocks]

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.names]

    def snapshot(self) -> np.ndarray:
        """A copy of every worker block, shape (n_workers, layout.length)."""
        return np.stack([b.array.copy() for b in self.blocks])

    def close(self) -> None:
        for seg in self.segments:
            seg.close()
        self.segments = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def remove_stale() -> list[str]:
    """Unlink segments whose creating process no longer exists. Returns their names."""
    removed = []
    try:
        names = os.listdir(_SHM_DIR)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(PREFIX):
            continue
        try:
            pid = int(name[len(PREFIX):].split("_", 1)[0])
        except ValueError:
            continue
        if _alive(pid):
            continue
        try:
            os.unlink(os.path.join(_SHM_DIR, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_segments() -> list[str]:
    """Names of the driver segments present now (for tests and diagnostics)."""
    try:
        return sorted(n for n in os.listdir(_SHM_DIR) if n.startswith(PREFIX))
    except OSError:
        return []
