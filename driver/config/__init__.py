"""YAML config files -> Plan: read and layered (`loader`), node by node (`schema`), the
scenario section (`scenario`) and its YAML tasks and flows (`tasks`).

The only package that reads config files and the environment. The layering itself
is driver.planning's, shared with `driver run URL`.
"""
from driver.config.loader import PROFILES, list_profiles, load_config, unknown_profile, validate_config

__all__ = ["PROFILES", "load_config", "validate_config", "list_profiles", "unknown_profile"]
