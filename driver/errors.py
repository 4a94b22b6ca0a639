"""Errors a user can cause, each with the exit code the CLI ends with.

Library code raises these; only the CLI turns them into one line and an exit code.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_THRESHOLD = 1
EXIT_USAGE = 2
EXIT_NOT_RUN = 3
EXIT_INVALID = 4
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM): timeout, docker stop, Kubernetes, CI cancellation


class DriverError(Exception):
    """Base of the errors a user can cause; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_USAGE


class PlanError(DriverError):
    """The plan is not valid: a bad URL, a negative duration, a missing file..."""

    exit_code = EXIT_USAGE


class TargetUnreachable(DriverError):
    """The target could not be reached before the run started (refused, DNS, timeout)."""

    exit_code = EXIT_NOT_RUN


class RunFailed(DriverError):
    """The run could not be carried out (workers failed to start, ...)."""

    exit_code = EXIT_NOT_RUN
