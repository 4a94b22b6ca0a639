"""One plan from every kind of input: flags, a profile, a config file (driver.config).

- `layers`: the one layering of settings (built-in profile -> config profile ->
  config -> flags) and where each setting came from;
- `profiles`: the named load profiles;
- `load`: layered settings -> the load of a plan (mode, shape, length, ...), and a
  warning for each setting given but not used;
- `make`: `make_plan` (a URL and flags) and `assemble`, which both paths end in.
"""
from driver.planning.make import REPORT_FORMATS, assemble, make_plan
from driver.planning.profiles import PROFILES, unknown_profile

__all__ = ["make_plan", "assemble", "PROFILES", "unknown_profile", "REPORT_FORMATS"]
