"""The Python callables of an in-process run: found from their texts, and the rule that
classifies what a call did.

A callable is named `module:function` (imported) or `file.py:function` (loaded from the
file, relative to the config's directory or the working directory); a bare `function`
in `setup`, `teardown`, `rejected_when` and `classify` names one in the module of the
call itself. A file is loaded once per process: the call and its hooks share its globals.

Loaded in the parent when the plan is made (a broken one is one line there, exit 2) and
again in each worker (driver.engine.inproc).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from driver.errors import PlanError
from driver.plan import InprocSpec, Target

OK, REJECTED, ERROR = "ok", "rejected", "error"
SCHEME = "python"
URL_KEYS = ("setup", "teardown", "rejected", "rejected_when", "classify", "thread")
REASON_CHARS = 80  # an exception's message kept in the failed-checks table (the class name always)


def parse_python_url(url: str, name: str | None = None, base_dir: str = ".") -> InprocSpec:
    """python://file.py:function?setup=make&rejected=LimitExceeded,Busy&thread=1 -> InprocSpec."""
    text = url[len(SCHEME) + 3:]
    call, _, query = text.partition("?")
    if not call:
        raise PlanError(f"{url!r}: name the callable: python://module:function or python://file.py:function")
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise PlanError(f"{url!r}: the options after '?' must be key=value pairs joined by '&'") from None
    unknown = sorted(set(params) - set(URL_KEYS))
    if unknown:
        raise PlanError(f"{url!r}: unknown option {unknown[0]!r} (known: {', '.join(URL_KEYS)})")
    one = {k: v[-1] for k, v in params.items()}
    rejected = tuple(n.strip() for v in params.get("rejected", ()) for n in v.split(",") if n.strip())
    thread = one.get("thread", "0").lower()
    if thread not in ("0", "1", "true", "false", "yes", "no", ""):
        raise PlanError(f"{url!r}: thread= takes 1 or 0")
    spec = InprocSpec(call=call, name=name or default_name(call), setup=one.get("setup") or None,
                      teardown=one.get("teardown") or None, rejected=rejected,
                      rejected_when=one.get("rejected_when") or None, classify=one.get("classify") or None,
                      thread=thread in ("1", "true", "yes"), base_dir=base_dir)
    check_spec(spec)
    return spec


@dataclass(frozen=True)
class InprocTarget(Target):
    """The plan's target of an in-process run: no address; shown as python://CALL."""

    @property
    def host_header(self) -> str:
        return self.host


def inproc_target(spec: InprocSpec) -> InprocTarget:
    return InprocTarget(SCHEME, spec.call, 0)


def is_python_url(url: str | None) -> bool:
    """Whether `url` is python://... (a prefix test: any other URL is parse_url's to judge)."""
    return bool(url) and str(url)[: len(SCHEME) + 3].lower() == SCHEME + "://"


def default_name(call: str) -> str:
    """The endpoint of a callable: its function's name (`handle` for file.py:handle)."""
    return call.rpartition(":")[2] or call


def check_spec(spec: InprocSpec) -> None:
    """Import every callable the spec names; PlanError (one line) when one does not load."""
    Callables(spec)


class Callables:
    """The functions of one spec, loaded in this process."""

    def __init__(self, spec: InprocSpec):
        self.spec = spec
        self.module = None
        self.call = self._load(spec.call, "the call")
        self.setup = self._hook(spec.setup, "setup")
        self.teardown = self._hook(spec.teardown, "teardown")
        self.rejected_when = self._hook(spec.rejected_when, "rejected_when")
        self.classify = self._hook(spec.classify, "classify")

    def _hook(self, text: str | None, what: str):
        if not text:
            return None
        if ":" not in text and not text.endswith(".py"):  # a function of the call's own module
            func = getattr(self.module, text, None)
            if func is None:
                raise PlanError(f"{what} {text!r}: no such function in {self.spec.call.rpartition(':')[0]}")
            if not callable(func):
                raise PlanError(f"{what} {text!r} is not callable (a {type(func).__name__})")
            return func
        return self._load(text, what)

    def _load(self, text: str, what: str):
        source, sep, attr = text.rpartition(":")
        if not sep or not source or not attr:
            raise PlanError(f"{what} {text!r}: name it as module:function or file.py:function")
        try:
            module = load_module(source, self.spec.base_dir)
        except PlanError:
            raise
        except FileNotFoundError:
            raise PlanError(f"{what} {text!r}: file not found: {Path(self.spec.base_dir, source)}") from None
        except (Exception, SystemExit) as exc:  # anything the user's module raises while importing
            raise PlanError(f"{what} {text!r} does not import: {type(exc).__name__}: {exc}") from None
        if self.module is None:
            self.module = module
        func = module
        for part in attr.split("."):  # module:Class.method, module:obj.attr
            func = getattr(func, part, None)
            if func is None:
                raise PlanError(f"{what} {text!r}: {source} has no {attr!r}")
        if not callable(func):
            raise PlanError(f"{what} {text!r} is not callable (a {type(func).__name__})")
        return func


def load_module(source: str, base_dir: str = "."):
    """A module by name, or a .py file (loaded once per process, by its real path)."""
    if not (source.endswith(".py") or "/" in source):
        return importlib.import_module(source)
    path = Path(base_dir, source).resolve()
    if not path.is_file():
        raise FileNotFoundError(path)
    mod_name = f"driver_inproc_{path.stem}_{abs(hash(str(path))) % 10**8}"
    module = sys.modules.get(mod_name)
    if module is not None:
        return module
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise PlanError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def takes_argument(func) -> bool:
    """Whether `func` is called with the call's context (it takes a positional parameter)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: give them the context
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


class Classifier:
    """result or exception -> (OK | REJECTED | ERROR, the reason of an error or None).

    The user's `classify(result_or_exc)` decides when given; else an exception whose
    class (or a base class) is named in `rejected` is a refusal, any other is an error
    (its reason: `ClassName: message`), and a return value is a refusal when
    `rejected_when(value)` is true, else ok.
    """

    def __init__(self, rejected=(), rejected_when=None, classify=None):
        self.rejected = frozenset(rejected)
        self.rejected_when = rejected_when
        self.classify = classify

    def result(self, value) -> tuple[str, str | None]:
        if self.classify is not None:
            return self._user(value)
        if self.rejected_when is not None:
            try:
                if self.rejected_when(value):
                    return REJECTED, None
            except Exception as exc:
                return ERROR, "rejected_when raised " + reason_of(exc)
        return OK, None

    def exception(self, exc: BaseException) -> tuple[str, str | None]:
        if self.classify is not None:
            return self._user(exc)
        if self.rejected and any(c.__name__ in self.rejected for c in type(exc).__mro__):
            return REJECTED, None
        return ERROR, reason_of(exc)

    def _user(self, value) -> tuple[str, str | None]:
        try:
            verdict = self.classify(value)
        except Exception as exc:
            return ERROR, "classify raised " + reason_of(exc)
        if verdict == OK:
            return OK, None  # the module's own strings: the unit compares them by identity
        if verdict == REJECTED:
            return REJECTED, None
        if verdict == ERROR:
            return ERROR, reason_of(value) if isinstance(value, BaseException) else "classified error"
        return ERROR, f"classify returned {verdict!r:.40} (not 'ok', 'rejected' or 'error')"


def reason_of(exc: BaseException) -> str:
    """`ClassName: message` (the message cut to REASON_CHARS): the error's kind and reason."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(message) > REASON_CHARS:
        message = message[: REASON_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
