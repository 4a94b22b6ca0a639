"""The floor for a Python client of PostgreSQL: asyncpg on uvloop, one prepared statement
per connection, N connections in a closed loop, nothing recorded but a count.

    python benchmarks/pg_bare_asyncpg.py DSN -c 8 -d 10 --query "SELECT ... WHERE aid = $1" --max-id 100000

Prints one JSON line: {"own_count": queries answered, "client_errors": failures}.
The parameter of each query is a random int in [1, max-id] (pgbench -S draws its aid so).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import asyncpg
import uvloop


async def one(dsn: str, query: str, max_id: int, deadline: float, counts: list) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        stmt = await conn.prepare(query)
        rand = random.Random()
        n = errors = 0
        while time.monotonic() < deadline:
            try:
                await stmt.fetchval(rand.randint(1, max_id))
                n += 1
            except asyncpg.PostgresError:
                errors += 1
        counts.append((n, errors))
    finally:
        await conn.close()


async def main(a) -> dict:
    deadline = time.monotonic() + a.duration
    counts: list = []
    await asyncio.gather(*(one(a.dsn, a.query, a.max_id, deadline, counts) for _ in range(a.connections)))
    return {"own_count": sum(n for n, _ in counts), "client_errors": sum(e for _, e in counts)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dsn")
    ap.add_argument("-c", "--connections", type=int, default=8)
    ap.add_argument("-d", "--duration", type=float, default=10.0)
    ap.add_argument("--query", required=True)
    ap.add_argument("--max-id", type=int, default=100_000)
    print(json.dumps(uvloop.run(main(ap.parse_args()))))
