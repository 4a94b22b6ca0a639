"""Errors a user can cause, each with the exit code the CLI ends with.

Library code raises these; only the CLI turns them into one line and an exit code.
A PlanError (and a PlanWarning) knows where it belongs: the flag ("--users") or the
place in a config file ("driver.yaml:12", "driver.yaml:5:3"), set where it is raised,
so that nothing downstream has to guess it from the message text.
"""
from __future__ import annotations

import difflib

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


class _Located:
    """A message and where it belongs: a flag, or a file with a line (and column).

    The message names its subject ("--users must be > 0", "load.users must be > 0"). A
    flag is that subject, so it is not written twice; a place in a file is not in the
    message and is written before it. `__str__` is the one place that renders this.
    """

    def _locate(self, message: str, flag, file, line, column) -> None:
        self.message = message
        self.flag = flag
        self.file = file
        self.line = line
        self.column = column

    @property
    def where(self) -> str | None:
        """The flag ("--users"), the place in a file ("driver.yaml:12"), or None."""
        if self.file is not None:
            return ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)
        return self.flag

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.file is not None else self.message

    def __reduce__(self):  # pickled whole (a worker's error reaches the parent located)
        return _rebuild, (type(self), self.message, self.flag, self.file, self.line, self.column)


def _rebuild(cls, message, flag, file, line, column):
    return cls(message, flag=flag, file=file, line=line, column=column)


class PlanError(_Located, DriverError):
    """The plan is not valid: a bad URL, a negative duration, a missing file..."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, flag: str | None = None, file: str | None = None,
                 line: int | None = None, column: int | None = None):
        super().__init__(message)
        self._locate(message, flag, file, line, column)

    def located(self, *, flag: str | None = None, file: str | None = None, line: int | None = None,
                column: int | None = None) -> "PlanError":
        """This error placed at a flag or a file:line, unless it already knows where it belongs."""
        if self.where is not None:
            return self
        return PlanError(self.message, flag=flag, file=file, line=line, column=column)


class PlanWarning(_Located, UserWarning):
    """A plan that runs, but where something the user gave has no effect (issued with
    `warnings.warn`; the CLI prints each as one `driver: warning:` line)."""

    def __init__(self, message: str, *, flag: str | None = None, file: str | None = None,
                 line: int | None = None, column: int | None = None):
        super().__init__(message)
        self._locate(message, flag, file, line, column)


def suggest(name: str, options) -> str:
    """' — did you mean 'x'?' for the closest of `options`, or ''."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


class TargetUnreachable(DriverError):
    """The target could not be reached before the run started (refused, DNS, timeout)."""

    exit_code = EXIT_NOT_RUN


class RunFailed(DriverError):
    """The run could not be carried out (workers failed to start, ...)."""

    exit_code = EXIT_NOT_RUN
