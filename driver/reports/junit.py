"""JUnit XML for CI test reports: each threshold is a test, and so are validity and completeness.

    <testsuites>
      <testsuite name="driver thresholds" tests="4" failures="1" ...>
        <testcase classname="driver.thresholds" name="p99&lt;5s">
          <failure message="p99 = 6.20s, limit &lt; 5.00s" type="threshold">...</failure>
        </testcase>
        <testcase classname="driver.run" name="checks passed"/>
        <testcase classname="driver.run" name="load generator valid"/>
        <testcase classname="driver.run" name="run complete"/>

A run without thresholds has no threshold tests; "checks passed" is there when the
run evaluated checks, and fails when some failed that no check_failure_rate
threshold judges (the run exits 1); validity that was not assessed is a skipped
test. A grouped run (a config's scenarios:) has one more testsuite per group,
"driver scenario NAME", holding that group's thresholds. Text is escaped by ElementTree; characters XML 1.0 cannot hold at all
(control characters in user-given endpoint names) are replaced first.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from driver.stats.result import Result
from driver.reports import write_text
from driver.reports.common import checks_message, outcome, settings_items, verdict_message, verdict_name

SUITE = "driver thresholds"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _clean(text) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=_clean(name), time="0")


def _fail(case: ET.Element, message: str, kind: str, detail: str = "") -> None:
    el = ET.SubElement(case, "failure", message=_clean(message), type=kind)
    el.text = _clean(detail or message)


def render_junit(result: Result) -> str:
    """The JUnit XML document (a str with its XML declaration)."""
    out = outcome(result)
    root = ET.Element("testsuites", name="driver")
    suite = ET.SubElement(root, "testsuite", name=SUITE, timestamp=_clean(result.started_at),
                          time=f"{result.duration_s:.3f}")
    props = ET.SubElement(suite, "properties")
    for key, value in settings_items(result):
        ET.SubElement(props, "property", name=key, value=_clean(value))

    failures = skipped = 0
    run_verdicts = [v for v in out["verdicts"] if not v.get("group")]
    failures += _thresholds(suite, run_verdicts, "driver.thresholds")

    tests = len(run_verdicts) + 2
    if out["checks_failed"] or any(ep.checks for ep in result.endpoints):
        tests += 1
        case = _case(suite, "driver.run", "checks passed")
        if out["checks_failed"]:
            failures += 1
            _fail(case, checks_message(out["checks_failed"]), "checks")

    case = _case(suite, "driver.run", "load generator valid")
    if out["valid"] is None:
        skipped += 1
        ET.SubElement(case, "skipped", message="not assessed")
    elif not out["valid"]:
        failures += 1
        reasons = out["validity_reasons"] or ["not valid"]
        _fail(case, "; ".join(reasons), "validity", "\n".join(reasons))

    case = _case(suite, "driver.run", "run complete")
    if out["notices"]:
        failures += 1
        _fail(case, "; ".join(out["notices"]), "completeness", "\n".join(out["notices"]))

    _counts(suite, tests, failures, skipped)
    all_tests, all_failures = tests, failures
    for name in result.groups:  # each group's thresholds: a testsuite of its own
        verdicts = [v for v in out["verdicts"] if v.get("group") == name]
        group = ET.SubElement(root, "testsuite", name=_clean(f"driver scenario {name}"),
                              timestamp=_clean(result.started_at), time=f"{result.groups[name].duration_s:.3f}")
        n_failed = _thresholds(group, verdicts, f"driver.scenarios.{name}", group=name)
        _counts(group, len(verdicts), n_failed, 0)
        all_tests += len(verdicts)
        all_failures += n_failed
    _counts(root, all_tests, all_failures, skipped)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _thresholds(suite: ET.Element, verdicts: list[dict], classname: str, group: str | None = None) -> int:
    """A test case per verdict; the number that failed."""
    failures = 0
    for v in verdicts:
        name = verdict_name(v)
        if group is not None:  # the suite says which group: the case keeps the threshold's own name
            name = name.removeprefix(f"{group} › ")
        case = _case(suite, classname, name)
        if not v.get("passed"):
            failures += 1
            detail = verdict_message(v) + (" (this threshold aborted the run)" if v.get("abort") else "")
            _fail(case, verdict_message(v), "threshold", detail)
    return failures


def _counts(el: ET.Element, tests: int, failures: int, skipped: int) -> None:
    el.set("tests", str(tests))
    el.set("failures", str(failures))
    el.set("errors", "0")
    el.set("skipped", str(skipped))


def write_junit(result: Result, path: Path) -> Path:
    return write_text(Path(path), render_junit(result))
