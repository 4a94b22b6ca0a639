"""driver.runner.allocator: glibc's mmap threshold fixed, free heap pages given back."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from driver.runner import allocator

GLIBC = platform.libc_ver()[0] == "glibc"

# a supervisor's pattern, exaggerated: a big copy per "second" beside small objects that
# live on; glibc's dynamic threshold then puts the copies on the heap between them
PATTERN = """
import sys, numpy as np
from driver.runner import allocator
if sys.argv[1] == "settle":
    allocator.settle()
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS:")).split()[1])
keep, sizes = [], [3_000_000, 5_000_000, 4_000_000, 6_000_000]
base = rss()
for i in range(400):
    a = np.ones(sizes[i % 4] // 8)
    keep.append(bytearray(2000))  # a small object that outlives the copy
    b = a * 2
    del a, b
print(rss() - base)
"""


TRIM = """
from driver.runner import allocator
def rss():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS:")).split()[1])
assert allocator.settle()
freed = [bytearray(3000) for _ in range(20000)]  # 60 MB from malloc's heap
pin = bytearray(3000)  # above them: the heap's top cannot simply shrink
del freed
before = rss()
print(allocator.trim(), before - rss())
"""


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_trim_gives_freed_heap_pages_back():
    out = subprocess.run([sys.executable, "-c", TRIM], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True" and int(out[1]) > 30_000, out  # most of the 60 MB left the RSS


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_settled_big_arrays_leave_no_heap_behind():
    got = {how: int(subprocess.run([sys.executable, "-c", PATTERN, how], capture_output=True, text=True,
                                   check=True).stdout) for how in ("dynamic", "settle")}
    # settled: the copies are unmapped when freed; what stays is the small objects
    # (400 x 2 kB = 0.8 MB) and the allocator's own bookkeeping
    assert got["settle"] < 4_000 and got["settle"] < got["dynamic"], got
