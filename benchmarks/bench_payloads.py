"""Microseconds per rendered body: Telegram updates, WhatsApp notifications, templates.

These run inside the load workers for every request, so each figure is the cost one
request pays to build its body. Each row renders `--n` bodies, cycling over the users
of a 1,000-user pool (every per-user cache already warm, as in a running worker),
repeated `--repeats` times (default 5); the figure is the median, in µs per render.
Also: WhatsApp render + X-Hub-Signature-256, templates' render_json (precompiled
chunks) against orjson.dumps(render()), building a UserPool (µs per user), and the
bare loop every row includes. Usage:

    python benchmarks/bench_payloads.py [--n 20000] [--repeats 5] [--write FILE]
"""
from __future__ import annotations

import argparse
import platform
import random
import shlex
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driver.payloads import telegram, whatsapp  # noqa: E402
from driver.payloads.templates import compile_template  # noqa: E402
from driver.payloads.users import UserPool  # noqa: E402
from driver.plan import UserPoolSpec  # noqa: E402

POOL = 1000

# A typical REST body: mostly static, four placeholders (exact int, two in text, captured).
ORDER = {
    "order_id": "ord-{{user.id}}-{{seq}}",
    "customer": {"id": "{{user.id}}", "name": "{{user.full_name}}", "tier": "{{user.tier}}",
                 "locale": "{{user.language_code}}"},
    "items": [{"sku": "SKU-1001", "qty": 2, "price": 9.99, "tags": ["food", "hot"]},
              {"sku": "SKU-2002", "qty": 1, "price": 24.5, "tags": ["drink"]}],
    "shipping": {"method": "express", "address": {"street": "Pariser Platz 1", "city": "Berlin",
                                                  "zip": "10117", "country": "DE"}},
    "session": "{{captured.session}}",
    "quantity": "{{randint:1,10}}",
    "meta": {"source": "driver", "version": 3, "flags": [True, False, None]},
}
# A large, mostly static body: a 50-item cart with two placeholders (about 4 KB).
CART = {"user": "{{user.id}}", "request": "r-{{seq}}",
        "items": [{"sku": f"SKU-{i}", "qty": i, "price": i * 1.25, "name": f"Item number {i}",
                   "tags": ["a", "b"]} for i in range(50)]}
TEMPLATES = [
    ("header `Bearer {{captured.token}}`", "Bearer {{captured.token}}"),
    ("exact `{{user.id}}`", "{{user.id}}"),
    ("small JSON", {"user_id": "{{user.id}}", "text": "hi {{user.first_name}}", "n": "{{seq}}"}),
    ("order JSON", ORDER),
    ("cart JSON", CART),
    ("static JSON", {"ping": True, "items": [1, 2, 3]}),
]
CAPTURED = {"token": "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
            "session": "s-4f2c9a"}


def timed(run, n: int, repeats: int) -> float:
    """Median µs per item of run(n) over `repeats` runs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run(n)
        runs.append((time.perf_counter_ns() - start) / n / 1000)
    return statistics.median(runs)


def cycling(users, call):
    """A run(n) that calls call(user) n times, cycling over the users."""
    def run(n: int) -> None:
        k = len(users)
        for i in range(n):
            call(users[i % k])
    return run


def measure(n: int, repeats: int) -> list[tuple[str, str, float, int]]:
    users = UserPool(UserPoolSpec(), 0, 1, POOL).users
    rows = []
    floor = timed(cycling(users, lambda u: None), n, repeats)
    rows.append(("baseline", "loop + call, no body", floor, 0))

    tg = telegram.TelegramUpdates(secret_token="s3cr3t")
    for kind in telegram.KINDS:
        method = getattr(tg, kind)
        for u in users:  # warm the per-user caches, as a running worker has them
            method(u)
        size = len(method(users[0]))
        rows.append(("telegram", kind, timed(cycling(users, method), n, repeats), size))

    wa = whatsapp.WhatsAppNotifications(app_secret="app-secret")
    for kind in whatsapp.KINDS:
        method = getattr(wa, kind)
        for u in users:
            method(u)
        size = len(method(users[0]))
        rows.append(("whatsapp", kind, timed(cycling(users, method), n, repeats), size))
    text, sign = wa.text, wa.headers
    rows.append(("whatsapp", "text + X-Hub-Signature-256",
                 timed(cycling(users, lambda u: sign(text(u))), n, repeats), 0))

    rng = random.Random(1)
    for name, source in TEMPLATES:
        template = compile_template(source)
        render, render_json = template.render, template.render_json
        size = len(render_json(users[0], CAPTURED, rng))
        count = len(template.placeholders)
        name = f"{name}, {count} placeholder{'' if count == 1 else 's'}"
        rows.append(("template", f"{name}: render()",
                     timed(cycling(users, lambda u: render(u, CAPTURED, rng)), n, repeats), 0))
        rows.append(("template", f"{name}: render_json()",
                     timed(cycling(users, lambda u: render_json(u, CAPTURED, rng)), n, repeats),
                     size))
        if name.startswith(("order", "cart")):  # what render_json saves over the naive way
            rows.append(("template", f"{name}: orjson.dumps(render())",
                         timed(cycling(users, lambda u: orjson.dumps(render(u, CAPTURED, rng))),
                               n, repeats), size))

    spec = UserPoolSpec()
    rows.append(("users", "UserPool build, per user",
                 timed(lambda k: UserPool(spec, 0, 1, k), max(n, 10_000), repeats), 0))
    return rows


def table(rows) -> str:
    lines = ["| generator | kind | µs per render | body bytes |", "|---|---|---:|---:|"]
    for group, kind, us, size in rows:
        lines.append(f"| {group} | {kind} | {us:.2f} | {size or ''} |")
    return "\n".join(lines)


def environment(argv: list[str]) -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return "\n".join([
        f"- CPU: {cpu} ({platform.machine()})",
        f"- Python {platform.python_version()}, orjson {orjson.__version__}",
        f"- command: `{shlex.join(['python', *argv])}`",
        f"- median of the repeats; {POOL:,} users cycled, per-user caches warm; "
        "rows include the baseline loop",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="renders per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", metavar="FILE", help="also write the table as markdown")
    args = parser.parse_args(argv)
    rows = measure(args.n, args.repeats)
    report = f"# Payload rendering cost\n\n{table(rows)}\n\n{environment(sys.argv)}\n"
    print(report)
    if args.write:
        Path(args.write).write_text(report)


if __name__ == "__main__":
    main()
