"""YAML config files: read (`loader`), checked against the schema (`schema`), into a Plan.

The only package that reads config files and the environment.
"""
from driver.config.loader import PROFILES, list_profiles, load_config, unknown_profile, validate_config

__all__ = ["PROFILES", "load_config", "validate_config", "list_profiles", "unknown_profile"]
