"""driver: a multi-process load driver with a compiled timing core.

The package root is a facade with no side effects on import:

    import driver
    plan = driver.make_plan("http://127.0.0.1:8080/health", users=50, duration="10s")
    result = driver.run(plan)
    print(result.totals().latency()["p99_ns"])
"""
__version__ = "0.1.0"

from driver.errors import DriverError, PlanError, PlanWarning, RunFailed, TargetUnreachable  # noqa: E402
from driver.plan import Plan  # noqa: E402
from driver.planning import make_plan  # noqa: E402
from driver.stats.result import Result  # noqa: E402


def run(plan: Plan, on_progress=None) -> Result:
    """Carry out `plan` with its worker processes and return the merged Result."""
    from driver.runner.supervisor import run as _run

    return _run(plan, on_progress)


__all__ = [
    "__version__",
    "run",
    "make_plan",
    "Plan",
    "Result",
    "DriverError",
    "PlanError",
    "PlanWarning",
    "RunFailed",
    "TargetUnreachable",
]
