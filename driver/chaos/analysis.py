"""Result.chaos: one entry per chaos event, recovery and breaker figures together (pure).

    result.chaos = chaos_results(result.series, plan.chaos, reply_timeout_s=10.0)

Each entry is driver.chaos.recovery.analyse's dict with "breaker" added (the
driver.chaos.breaker figures for an outage, else None). `malformed_answers` reads
what the bot answered to the malformed battery from a result's "chaos:malformed:KIND"
endpoints (the rows ChaosContext.record writes).
"""
from __future__ import annotations

from driver.chaos.breaker import DEFAULT_BREAKER, BreakerTolerance, analyse_breaker
from driver.chaos.recovery import DEFAULT_TOLERANCE, Tolerance, analyse

__all__ = ["chaos_results", "malformed_answers", "MALFORMED_PREFIX"]

MALFORMED_PREFIX = "chaos:malformed:"


def chaos_results(series, events, *, reply_timeout_s: float, tolerance: Tolerance = DEFAULT_TOLERANCE,
                  breaker: BreakerTolerance = DEFAULT_BREAKER) -> list[dict]:
    events = list(events)
    out = analyse(series, events, reply_timeout_s=reply_timeout_s, tolerance=tolerance)
    breakers = iter(analyse_breaker(series, events, tolerance=breaker, warmup=tolerance))
    for entry, event in zip(out, events):
        entry["breaker"] = next(breakers) if event.fault == "outage" else None
    return out


def malformed_answers(endpoints) -> list[dict]:
    """Per malformed kind sent: {"kind", "sent", "status" {"2xx": n, ...}, "errors",
    "failed"} from EndpointResults named "chaos:malformed:KIND"."""
    out = []
    for ep in endpoints:
        if not ep.name.startswith(MALFORMED_PREFIX):
            continue
        out.append({"kind": ep.name[len(MALFORMED_PREFIX):], "sent": ep.attempts,
                    "status": {k: n for k, n in ep.status.items() if n}, "errors": ep.errors,
                    "failed": ep.check_failures})
    return out
