"""What a database failure counts as: the error kind of the run and its reason.

A query the server answered with an error is an answered query (as an HTTP 4xx/5xx
is an answered request): it counts as a response of its endpoint with a status that
says whose fault it was, and its reason names the SQLSTATE class, so that the error
rate counts it and the reasons table says what it was:

    class  what                               counted as  reason (example)
    22     data exception (a bad parameter)   4xx         sql_22 data: 22P02 invalid_text_representation
    23     integrity constraint violation     4xx         sql_23 integrity: 23505 unique_violation
    42     syntax error or access rule        4xx         sql_42 syntax/undefined: 42P01 undefined_table
    21 25 0A 2x 44 ...  the statement's        4xx         sql_25 transaction state: ...
    40     serialization failure, deadlock    5xx         sql_40 serialization: 40001 serialization_failure
    53 54 55 57 58 XX P0 ...  the server's     5xx         sql_53 resources: 53300 too_many_connections

Failures without an answer use the transport error kinds (driver.layout):
`request_timeout` (the query's timeout, or the server's statement_timeout: 57014),
`connection_reset` (the connection died during the query: a killed server, 57P01
admin shutdown, 08xxx), `connect_refused` (nothing listens at the DSN's address),
`connect_timeout` (no connection from the pool in time: "pool exhausted" when all of
its connections were busy), `other` (authentication, an unknown database...: no query
was sent). Reasons carry codes and class names, never parameters or row values, and
the DSN's password never.
"""
from __future__ import annotations

import asyncio
import errno
import re

__all__ = ["Failure", "CLASSES", "classify_query", "classify_connect", "condition"]

# SQLSTATE class -> (short name, HTTP-like status class the answered query counts as)
CLASSES = {
    "0A": ("feature not supported", 400),
    "21": ("cardinality", 400),
    "22": ("data", 400),
    "23": ("integrity", 400),
    "24": ("cursor state", 400),
    "25": ("transaction state", 400),
    "26": ("statement name", 400),
    "27": ("triggered data change", 400),
    "28": ("authorization", 400),
    "2B": ("dependent objects", 400),
    "2D": ("transaction termination", 400),
    "2F": ("routine", 400),
    "34": ("cursor name", 400),
    "3D": ("catalog name", 400),
    "3F": ("schema name", 400),
    "40": ("serialization", 500),
    "42": ("syntax/undefined", 400),
    "44": ("check option", 400),
    "53": ("resources", 500),
    "54": ("program limit", 500),
    "55": ("object state", 500),
    "57": ("operator intervention", 500),
    "58": ("system", 500),
    "F0": ("config file", 500),
    "HV": ("foreign data", 500),
    "P0": ("plpgsql", 500),
    "XX": ("internal", 500),
}
_LOST_STATES = ("57P01", "57P02", "57P03")  # the server shut down or crashed under the connection
_WORDS = re.compile(r"(?<!^)(?=[A-Z])")


class Failure:
    """How one failed query or connection counts: `kind` None for an answered query
    (counted as a response of status `status`), else a transport error kind."""

    __slots__ = ("kind", "status", "reason", "sqlstate")

    def __init__(self, kind: str | None, reason: str, status: int = 0, sqlstate: str | None = None):
        self.kind, self.status, self.reason, self.sqlstate = kind, status, reason, sqlstate

    def __repr__(self) -> str:
        return f"Failure({self.kind or self.status}, {self.reason!r})"


def condition(exc: BaseException) -> str:
    """The condition name of an asyncpg error: UniqueViolationError -> unique_violation."""
    name = type(exc).__name__.removesuffix("Error") or type(exc).__name__
    return _WORDS.sub("_", name).lower()


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) and len(state) == 5 else None


def _lost(exc: BaseException) -> bool:
    """Whether the connection itself failed (not the statement)."""
    from asyncpg.exceptions import InterfaceError, PostgresConnectionError

    state = _sqlstate(exc)
    if isinstance(exc, PostgresConnectionError) or (state and (state.startswith("08") or state in _LOST_STATES)):
        return True
    if isinstance(exc, (ConnectionError, EOFError)):
        return True
    text = str(exc)
    return isinstance(exc, InterfaceError) and ("connection is closed" in text or "connection was closed" in text)


def classify_query(exc: BaseException, timeout_s: float) -> Failure:
    """A query that was sent (or was about to be, on a connection the pool gave)."""
    if isinstance(exc, asyncio.TimeoutError):
        return Failure("request_timeout", f"query timeout after {timeout_s:g}s")
    state = _sqlstate(exc)
    if state == "57014":  # query_canceled: the server's statement_timeout (or a cancel)
        return Failure("request_timeout", "sql_57 statement timeout: 57014 query_canceled", sqlstate=state)
    if _lost(exc):
        return Failure("connection_reset", f"connection lost: {state + ' ' if state else ''}{condition(exc)}",
                       sqlstate=state)
    if state:
        cls = state[:2]
        label, status = CLASSES.get(cls, ("error", 500))
        return Failure(None, f"sql_{cls} {label}: {state} {condition(exc)}", status, state)
    return Failure(None, f"client: {condition(exc)}", 400)  # asyncpg refused it (InterfaceError)


def classify_connect(exc: BaseException, timeout_s: float, exhausted: bool) -> Failure:
    """No connection from the pool: nothing was sent. `exhausted`: all of the pool's
    connections were busy when the wait began."""
    if isinstance(exc, asyncio.TimeoutError):
        if exhausted:
            return Failure("connect_timeout", f"pool exhausted: no free connection within {timeout_s:g}s")
        return Failure("connect_timeout", f"connect timeout after {timeout_s:g}s")
    if isinstance(exc, (ConnectionRefusedError, FileNotFoundError)) or (
            isinstance(exc, OSError) and (exc.errno == errno.ECONNREFUSED or "Connect call failed" in str(exc))):
        return Failure("connect_refused", "connection refused")
    state = _sqlstate(exc)
    if state:
        label = CLASSES.get(state[:2], ("error", 500))[0]
        return Failure("other", f"connect: sql_{state[:2]} {label}: {state} {condition(exc)}", sqlstate=state)
    if isinstance(exc, OSError):
        return Failure("other", f"connect: {errno.errorcode.get(exc.errno or 0, condition(exc))}")
    return Failure("other", f"connect: {condition(exc)}")

