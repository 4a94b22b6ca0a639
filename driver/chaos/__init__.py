"""Chaos: a timeline of faults run beside the load, and what they did to the target.

driver.chaos.timeline parses a plan's `chaos:` list; driver.chaos.runner runs it (in the
run's bot-side process, through a driver.chaos.context.ChaosContext); driver.chaos.recovery
and driver.chaos.breaker read the run's per-second series afterwards (pure), and
driver.chaos.analysis puts both in Result.chaos.
"""
from driver.chaos.timeline import ChaosEvent, parse_timeline

__all__ = ["ChaosEvent", "parse_timeline"]
