"""ns per parsed response: driver._httpparse (compiled) vs driver.httpparse (reference).

Each iteration is what the client does per response that arrives in one read:
``parser.start(); parser.feed(response)`` (two calls from Python included). Two
~300-byte nginx-style 200 responses: one framed by Content-Length, one chunked.
The figure is the median over `--repeat` runs of `--number` iterations each.

    python benchmarks/bench_parse.py [--repeat 5] [--number N] [--keep-body]

Prints a markdown table. Needs the extension built (setup.py, or
`cythonize -3 -i ext/_httpparse.pyx` with the .so moved into driver/); without it only
the reference column is filled.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# importing driver imports numpy: keep its BLAS thread pool from spinning on our cores
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from driver.httpparse import ResponseParser as Reference  # noqa: E402

try:
    from driver._httpparse import ResponseParser as Compiled  # noqa: E402
except ImportError as exc:  # not built
    Compiled = None
    _COMPILED_ERROR = exc

BODY = b'{"ok":true,"id":1234567,"items":[1,2,3],"msg":"hello"}'
HEADERS = (
    b"Server: nginx/1.24.0\r\n"
    b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    b"Content-Type: application/json\r\n"
    b"%s"
    b"Connection: keep-alive\r\n"
    b"Vary: Accept-Encoding\r\n"
    b"ETag: \"65920f00-37\"\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Request-Id: 7f3c2a9e-51d4-4b8e-9a61-0c2f\r\n"
)
CONTENT_LENGTH = (
    b"HTTP/1.1 200 OK\r\n"
    + HEADERS % (b"Content-Length: %d\r\n" % len(BODY))
    + b"\r\n" + BODY
)
CHUNKED = (
    b"HTTP/1.1 200 OK\r\n"
    + HEADERS % b"Transfer-Encoding: chunked\r\n"
    + b"\r\n" + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n"
)
RESPONSES = {"200 Content-Length": CONTENT_LENGTH, "200 chunked": CHUNKED}


def time_per_response(cls, data: bytes, number: int, repeat: int, keep_body: bool) -> float:
    """Median ns per start()+feed() over `repeat` runs of `number` iterations."""
    parser = cls(keep_body=keep_body)
    parser.start()
    if parser.feed(data) != 1 or parser.nbytes != len(data):
        raise SystemExit(f"{cls.__module__}: did not parse the benchmark response")
    start, feed = parser.start, parser.feed
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            start()
            feed(data)
        runs.append((time.perf_counter_ns() - t0) / number)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs; the median is reported")
    ap.add_argument("--number", type=int, default=0,
                    help="iterations per run (default: 200000 compiled, 20000 reference)")
    ap.add_argument("--keep-body", action="store_true", help="parsers keep headers and body")
    ap.add_argument("--write", metavar="FILE",
                    help="also write the table into FILE's <!-- parse --> section (e.g. benchmarks/RESULTS.md)")
    args = ap.parse_args(argv)

    rows = []
    for name, data in RESPONSES.items():
        ref = time_per_response(Reference, data, args.number or 20_000, args.repeat, args.keep_body)
        if Compiled is not None:
            com = time_per_response(Compiled, data, args.number or 200_000, args.repeat, args.keep_body)
            rows.append((name, len(data), f"{com:,.0f}", f"{ref:,.0f}", f"{ref / com:,.0f}x"))
        else:
            rows.append((name, len(data), "not built", f"{ref:,.0f}", "-"))

    lines = [f"ResponseParser, ns per response (start() + feed() of one whole response), "
             f"median of {args.repeat}; keep_body={args.keep_body}; "
             f"Python {platform.python_version()} on {platform.machine()}\n",
             "| response | bytes | compiled ns | reference ns | speedup |",
             "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    if Compiled is None:
        lines.append(f"\n(driver._httpparse not built: {_COMPILED_ERROR})")
    text = "\n".join(lines)
    print(text)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from common import update_section

        cmd = "python benchmarks/bench_parse.py " + " ".join(argv if argv is not None else sys.argv[1:])
        update_section(Path(args.write), "parse",
                       f"## Parsing cost per response (`bench_parse.py`)\n\nCommand: `{cmd.strip()}`\n\n{text}")


if __name__ == "__main__":
    main()
