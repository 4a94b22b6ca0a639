"""driver: a multi-process load driver with a compiled timing core.

The package root is a facade: `driver.run(plan) -> Result`.
"""
