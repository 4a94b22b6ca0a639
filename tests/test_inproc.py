"""In-process units (driver.engine.inproc, driver.engine.callables) run by the inline
runner (driver.runner.inline): outcomes, errors, timeouts, sync calls, open loop, mixes,
memory, and the LoadResult's assertions."""
import asyncio
import time
from pathlib import Path

import pytest

from driver.engine.callables import ERROR, OK, REJECTED, Classifier, is_python_url, parse_python_url, reason_of
from driver.errors import PlanError
from driver.runner.inline import arun_load, run_load
from driver.runner.watchdog import STUCK_S

ROOT = Path(__file__).resolve().parents[1]
COMPONENT = str(ROOT / "examples" / "inproc" / "component.py")


class Full(Exception):
    pass


class UserFull(Full):
    pass


class TestClassifier:
    @pytest.mark.parametrize("classifier, value, expected", [
        (Classifier(), 1, (OK, None)),  # a return value is ok by default
        (Classifier(), ValueError("bad"), (ERROR, "ValueError: bad")),  # an exception is an error, its reason kept
        (Classifier(["Full"]), UserFull("x"), (REJECTED, None)),  # a subclass of a named class is refused
        (Classifier(["Other"]), UserFull("x"), (ERROR, "UserFull: x")),
        (Classifier(rejected_when=lambda v: v is False), False, (REJECTED, None)),  # the predicate on values
        (Classifier(rejected_when=lambda v: v is False), None, (OK, None)),
        (Classifier(classify=lambda v: "rejected" if v == 429 else "ok"), 429, (REJECTED, None)),
        (Classifier(classify=lambda v: "error"), 3, (ERROR, "classified error")),
        (Classifier(classify=lambda v: "maybe"), 3,
         (ERROR, "classify returned 'maybe' (not 'ok', 'rejected' or 'error')")),
        (Classifier(classify=lambda v: 1 / 0), 3, (ERROR, "classify raised ZeroDivisionError: division by zero")),
    ])
    def test_outcomes(self, classifier, value, expected):
        judged = classifier.exception(value) if isinstance(value, BaseException) else classifier.result(value)
        assert judged == expected

    def test_reason_is_one_short_line(self):
        assert reason_of(ValueError("first\nsecond")) == "ValueError: first"
        assert len(reason_of(ValueError("x" * 500))) < 100
        assert reason_of(KeyError()) == "KeyError"


class TestPythonUrl:
    def test_options(self):
        spec = parse_python_url(f"python://{COMPONENT}:handle?setup=make&teardown=report&rejected=LimitReached,Busy")
        assert (spec.call, spec.name, spec.setup, spec.teardown) == (f"{COMPONENT}:handle", "handle", "make", "report")
        assert spec.rejected == ("LimitReached", "Busy") and not spec.thread

    @pytest.mark.parametrize("url, needle", [
        ("python://", "name the callable"),
        (f"python://{COMPONENT}:handle?bogus=1", "unknown option 'bogus'"),
        (f"python://{COMPONENT}:handle?thread=maybe", "thread= takes 1 or 0"),
        (f"python://{COMPONENT}:nothing", "has no 'nothing'"),
        (f"python://{COMPONENT}:handle?setup=nothing", "setup 'nothing': no such function"),
        ("python://no_such_module_here:f", "does not import: ModuleNotFoundError"),
        (f"python://{ROOT}/examples/inproc/missing.py:f", "file not found"),
        (f"python://{ROOT}/examples/inproc/conversations.py:QUICK_S", "is not callable (a float)"),
        (f"python://{COMPONENT}", "name it as module:function"),
    ])
    def test_errors(self, url, needle):
        with pytest.raises(PlanError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            parse_python_url(url)

    @pytest.mark.parametrize("url, expected", [
        ("python://m:f", True),
        ("PYTHON://m:f", True),  # schemes are case-insensitive
        ("http://[::1/", False),  # a malformed URL of another scheme is parse_url's to judge
        ("pythonx://m:f", False),
        ("", False),
        (None, False),
    ])
    def test_which_urls_are_python(self, url, expected):
        assert is_python_url(url) is expected

    def test_import_error_of_the_module_itself(self, tmp_path):
        bad = tmp_path / "bad.py"
        bad.write_text("import no_such_module_either\n\ndef f():\n    pass\n")
        with pytest.raises(PlanError, match="does not import: ModuleNotFoundError"):
            parse_python_url(f"python://{bad}:f")


def test_limit_is_exact_under_fifty_simultaneous_users():
    active = 0

    async def start(ctx):
        nonlocal active
        if active >= 20:
            raise Full("full")
        active += 1
        await asyncio.sleep(0.01)
        active -= 1

    result = run_load(start, users=50, requests=50, rejected=[Full])
    result.assert_counts(success=20, rejected=30, errors=0)
    assert result.calls == 50 and result.success_rate == 0.4 and result.rejected_rate == 0.6
    ep = result.result.endpoint("start")
    assert ep.throttled == 30 and ep.errors == 0 and ep.error_rate == 0.0 and ep.unaccounted == 0
    assert 0 < result.min <= result.p50 <= result.p95 <= result.p99 <= result.max


def test_classify_decides_with_computed_strings():
    def call(ctx):
        return ctx.n

    verdicts = {0: "ok", 1: "rejected", 2: "error"}
    result = run_load(call, users=1, requests=9, classify=lambda n: "".join(list(verdicts[n % 3])))
    result.assert_counts(success=3, rejected=3, errors=3)


def test_errors_keep_their_kind_and_reason():
    def flaky(ctx):
        if ctx.n % 2:
            raise KeyError("session")
        return ctx.n

    result = run_load(flaky, users=1, requests=10)
    result.assert_counts(success=5, rejected=0, errors=5)
    assert result.errors_by_kind == {"KeyError: 'session'": 5}
    assert result.result.checks == [{"endpoint": "flaky", "reason": "KeyError: 'session'", "failures": 5}]
    with pytest.raises(AssertionError, match=r"(?s)5 calls failed.*KeyError: 'session': 5"):
        result.assert_no_errors()


def test_a_component_that_calls_sys_exit_fails_that_call_not_the_run():
    async def quits(ctx):
        if ctx.n == 3:
            raise SystemExit(3)

    result = run_load(quits, users=1, requests=10)
    result.assert_counts(success=9, rejected=0, errors=1)
    assert result.errors_by_kind == {"SystemExit: 3": 1}


def test_a_call_that_hangs_is_cancelled_at_the_timeout():
    cancelled = []

    async def hang():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    t0 = time.monotonic()
    result = run_load(hang, users=2, requests=4, timeout=0.1)
    assert time.monotonic() - t0 < 30  # it finishes (each call is cut at its timeout)
    assert result.errors == 4 and result.errors_by_kind == {"request_timeout": 4}
    assert len(cancelled) == 4


def test_calls_in_flight_at_the_end_are_unfinished():
    async def slow():
        await asyncio.sleep(60)

    result = run_load(slow, users=3, duration=0.1, grace=0.05)
    assert result.errors == 3 and result.errors_by_kind == {"unfinished": 3}
    assert result.result.endpoint("slow").unfinished == 3


def test_a_blocking_sync_call_is_noted_with_where_it_blocks():
    def blocking():
        time.sleep(STUCK_S + 0.3)

    result = run_load(blocking, users=1, requests=1)
    assert result.success == 1
    assert any("blocked" in n and "blocking (test_inproc.py:" in n for n in result.notes), result.notes


def test_sync_calls_in_threads_run_side_by_side():
    def work():
        time.sleep(0.2)

    inline = run_load(work, users=4, requests=4, memory=False)
    threads = run_load(work, users=4, requests=4, thread=True, memory=False)
    assert inline.success == threads.success == 4
    assert inline.duration_s > 2 * threads.duration_s  # inline: one after the other on the loop


def test_a_sync_function_returning_a_coroutine_is_awaited():
    async def inner():
        await asyncio.sleep(0)
        raise Full()

    result = run_load(lambda: inner(), users=1, requests=3, rejected=Full, name="wrapped")
    result.assert_counts(success=0, rejected=3)
    assert list(result.endpoints) == ["wrapped"]


def test_context_user_ids_calls_and_state():
    seen = []

    async def call(ctx):
        ctx.state["calls"] = ctx.state.get("calls", 0) + 1
        seen.append((ctx.user, ctx.n, ctx.state["calls"], ctx.component))

    run_load(call, users=3, requests=9, setup=lambda: "component")
    assert sorted({u for u, _, _, _ in seen}) == [0, 1, 2]
    assert all(n + 1 == calls and comp == "component" for _, n, calls, comp in seen)


def test_setup_and_teardown_from_texts():
    result = run_load(f"{COMPONENT}:handle", users=5, requests=50, setup=f"{COMPONENT}:make",
                      teardown=f"{COMPONENT}:report", rejected="LimitReached")
    result.assert_counts(success=50, errors=0)


def test_open_loop_counts_every_arrival():
    async def quick():
        await asyncio.sleep(0)

    result = run_load(quick, rate=200, duration=0.5, memory=False)
    ep = result.result.endpoint("quick")
    assert ep.arrivals == ep.sent == result.success > 50 and ep.unaccounted == 0


def test_a_weighted_mix_has_one_endpoint_each():
    async def a():
        pass

    def b():
        pass

    result = run_load({"a": (a, 3), "b": b}, users=4, requests=400, memory=False)
    assert set(result.endpoints) == {"a", "b"}
    assert result.endpoint("a").calls > result.endpoint("b").calls > 0
    assert result.endpoint("a").calls + result.endpoint("b").calls == 400


def test_thresholds_are_judged():
    async def quick():
        pass

    result = run_load(quick, users=2, requests=20, thresholds=["error_rate<1%", "rps<0.001"])
    assert [v["passed"] for v in result.result.verdicts] == [True, False]
    with pytest.raises(AssertionError, match="thresholds broken: rps<0.001"):
        result.assert_thresholds()


def test_memory_growth_names_the_allocation_site():
    kept = []

    def leak():
        kept.append(bytearray(64 * 1024))

    result = run_load(leak, users=1, requests=200)
    assert result.memory.traced_growth > 10 * 2**20 and result.memory.traced_peak >= result.memory.traced_after
    assert result.memory.rss_peak >= result.memory.rss_before
    site = r"(?s)memory growth .* is not below 1 MiB.*test_inproc.py:\d+: \+1[0-9.]+ MiB"
    with pytest.raises(AssertionError, match=site):
        result.assert_memory_growth_below(1)
    assert "rss" in result.report() and "traced" in result.report()


def test_failed_assertions_say_what_and_show_the_figures():
    async def quick():
        pass

    result = run_load(quick, users=1, requests=5, memory=False)
    with pytest.raises(AssertionError, match=r"(?s)outcome counts: success 5 \(expected 4\).*p95"):
        result.assert_counts(success=4)
    with pytest.raises(AssertionError, match="p95 .* is not below 0.000 ms"):
        result.assert_p95_below(0)
    with pytest.raises(AssertionError, match="memory was not tracked"):
        result.assert_memory_growth_below(1)
    result.assert_success_rate_at_least(1.0)
    result.assert_throughput_above(0.1)


def test_arun_load_runs_on_the_callers_loop_and_run_load_refuses_inside_one():
    async def main():
        loop = asyncio.get_running_loop()
        loops = []

        async def call():
            loops.append(asyncio.get_running_loop())

        result = await arun_load(call, users=1, requests=3, memory=False)
        with pytest.raises(RuntimeError, match="await arun_load"):
            run_load(call, users=1, requests=1)
        return result, loops, loop

    result, loops, loop = asyncio.run(main())
    assert result.success == 3 and all(x is loop for x in loops)


@pytest.mark.parametrize("target, needle", [
    (42, "must be a callable"),
    ({}, "mix of callables is empty"),
    ({"a": (print, 0)}, "weight > 0"),
])
def test_bad_targets(target, needle):
    with pytest.raises(PlanError, match=needle):
        run_load(target, users=1, requests=1)


def test_stages_shape_the_users():
    now, most = 0, 0

    async def call():
        nonlocal now, most
        now += 1
        most = max(most, now)
        await asyncio.sleep(0.005)
        now -= 1

    result = run_load(call, stages=["0.3s:8", "0.3s:0"], memory=False)
    assert 1 < most <= 8 and result.success > 8 and result.errors == 0
    assert result.result.plan["shape"] == [[0.0, 0.0], [0.3, 8.0], [0.6, 0.0]]
