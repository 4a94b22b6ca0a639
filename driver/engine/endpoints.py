"""Worker side of the name table: which endpoint slot a name records into, and which
checks failed why.

Names known at plan time take the first slots in plan order (the same in every
worker). Names met at run time take the next free slot of *this* worker; when none
is left they go to the last slot, "other". The parent merges by name, so two workers
may give one name different slots. The table is written only by its worker; a slot's
name is written before the slot's count is published, so the parent never sees a
count it cannot name.
"""
from __future__ import annotations

import re

import numpy as np

from driver.masking import mask_bot_token
from driver.layout import C_CHECK_FAILED, C_CHECKS, CHECK_WORDS, MAX_CHECKS, NAME_WORDS, OTHER_ENDPOINT, encode_name

_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{16,})$"
)


def default_name(method: str, path: str) -> str:
    """`GET /users/{id}` for `GET /users/123?x=1`: ids, uuids and long hex become {id},
    so dynamic URLs do not make one endpoint each."""
    path = path.split("?", 1)[0].split("#", 1)[0] or "/"
    parts = ["{id}" if _ID_SEGMENT.match(p) else p for p in path.split("/")]
    name = f"{method.upper()} {'/'.join(parts)}"
    return mask_bot_token(name) if "/bot" in name else name  # names reach every report


class EndpointRegistry:
    def __init__(self, table: np.ndarray, slots: int, known: tuple[str, ...]):
        self.table = table
        self.slots = slots
        self.index: dict[str, int] = {}
        self.checks: dict[tuple[int, str], int] = {}
        self.other = slots - 1 if slots > len(known) else None
        self.next_slot = 0
        for name in known:
            self._assign(name)
        if self.other is not None and OTHER_ENDPOINT not in self.index:
            self._write_name(self.other, OTHER_ENDPOINT)
            self.index[OTHER_ENDPOINT] = self.other

    def _write_name(self, slot: int, name: str) -> None:
        words = np.frombuffer(encode_name(name), dtype=np.int64)
        self.table[1 + slot * NAME_WORDS: 1 + (slot + 1) * NAME_WORDS] = words
        self.table[0] = max(int(self.table[0]), slot + 1)

    def _assign(self, name: str) -> int:
        limit = self.slots - 1 if self.other is not None else self.slots
        if self.next_slot >= limit:
            return self.other if self.other is not None else 0
        slot = self.next_slot
        self.next_slot += 1
        self._write_name(slot, name)
        self.index[name] = slot
        return slot

    def slot(self, name: str) -> int:
        """The slot `name` records into (assigning one the first time)."""
        slot = self.index.get(name)
        if slot is None:
            slot = self._assign(name)
            self.index.setdefault(name, slot)
        return slot

    def check_failed(self, slot: int, reason: str) -> None:
        """Count one failure of the check described by `reason` on endpoint `slot`."""
        key = (slot, reason)
        row = self.checks.get(key)
        base = 1 + self.slots * NAME_WORDS
        if row is None:
            n = int(self.table[base])
            if n >= MAX_CHECKS:
                return  # counted in C_CHECK_FAILED already; only the reason is lost
            row = base + 1 + n * CHECK_WORDS
            self.table[row] = slot
            self.table[row + 2: row + CHECK_WORDS] = np.frombuffer(encode_name(reason), dtype=np.int64)
            self.table[base] = n + 1
            self.checks[key] = row
        self.table[row + 1] += 1


def record_checks(rec, registry: "EndpointRegistry", slot: int, n_checks: int, failures) -> None:
    """Count `n_checks` evaluated checks of an endpoint, and each failure with its reason."""
    if n_checks:
        rec.count(slot, C_CHECKS, n_checks)
    if failures:
        rec.count(slot, C_CHECK_FAILED, len(failures))
        for reason in failures:
            registry.check_failed(slot, reason)
