"""Bounded inputs: numbers, machine ceilings, body files, YAML files, header values.

Every case here once ran (or hung, or gave a traceback): now each is one line,
`driver: error: ...`, exit 2, naming the flag (or file:line), before any load starts.
"""
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from driver import limits
from driver.config.loader import validate_config
from driver.config.reading import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_VALUES
from driver.durations import MAX_SECONDS, parse_duration
from driver.errors import PlanError
from driver.limits import Machine, problem
from driver.plan import parse_header
from driver.planning import make_plan
from tests.servers import nginx_server, refused_port

ROOT = Path(__file__).resolve().parents[1]
GiB = 2**30


def driver_cli(*args, timeout=60, **kw):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout, **kw)


def one_line_usage_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("driver: error: ")
    return err


# --- numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e400", 10**400, float("nan"), float("inf"),
                                  "99999999999h", f"{MAX_SECONDS + 1:.0f}", "169h"])
def test_durations_are_finite_and_bounded(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text, seconds", [("30", 30.0), ("1m30s", 90.0), ("500ms", 0.5), ("168h", MAX_SECONDS),
                                           (2.5, 2.5), ("-3", -3.0)])  # negative: the caller says why
def test_durations_in_range_still_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "args, flag",
    [
        (["-d", "nan"], "--duration"),
        (["--timeout", "nan"], "--timeout"),
        (["--connect-timeout", "inf"], "--connect-timeout"),
        (["--ramp-up", "inf"], "--ramp-up"),
        (["--think", "nan"], "--think"),
        (["--stage", "nan:5"], "--stage"),
        (["--stage", "5s:nan"], "--stage"),
        (["--stage", "5s:1e400"], "--stage"),
        (["-d", "99999999999h"], "--duration"),
        (["-r", "nan"], "--rate"),
        (["-r", "inf"], "--rate"),
        (["-r", "-5"], "--rate"),
        (["-r", "1e12"], "arrivals/s"),  # a machine ceiling (limits): names the rate and the way out
        (["-n", "100000000000000000000"], "--requests"),
        (["--max-in-flight", "100000000000000000000", "-r", "10"], "--max-in-flight"),
    ],
)
def test_bad_numbers_are_one_line_naming_the_flag(args, flag):
    """Before: tracebacks, worker tracebacks with exit 0, or a run that reached the
    (here refused) target. Now the plan refuses them."""
    with refused_port() as port:
        err = one_line_usage_error(driver_cli("run", port.url + "/", *args))
    assert flag in err


@pytest.mark.parametrize("kw", [dict(rate=float("nan")), dict(rate=float("inf")), dict(users=float("inf")),
                                dict(requests=10**20), dict(stages=["5s:nan"]),
                                dict(timeout=float("nan")), dict(think="inf")])
def test_make_plan_refuses_non_finite_and_huge_numbers(kw):
    with pytest.raises(PlanError):
        make_plan("http://127.0.0.1/", **kw)


# --- ceilings from the machine -------------------------------------------------------

SMALL = Machine(cpus=2, memory_bytes=16 * GiB, nofile_soft=1024, nofile_hard=4096)


@pytest.mark.parametrize(
    "mode, peak, workers, cap, needle",
    [
        ("closed", 10, 9, 1000, "--workers 9 is more than 4 per CPU"),  # 2 CPUs: at most 8
        ("closed", 10**12, 2, 1000, "of memory"),  # -u 1e12: 64 PiB of users
        ("closed", 100_000, 2, 1000, "open-file limit of 4,096"),  # 50,000 connections per worker
        ("closed", 20_000, 2, 1000, "-w 5"),  # fits in 5 workers of 4,032 connections: says so
        ("open", 10**12, 2, 1000, "1,000,000/s per worker"),  # -r 1e12
        ("open", 10, 2, 10**9, "--max-in-flight 1,000,000,000"),  # a cap no memory can honour
    ],
)
def test_ceilings_say_which_limit_and_how_to_raise_it(mode, peak, workers, cap, needle):
    message = problem(mode, peak, workers, cap, SMALL)
    assert message is not None and needle in message
    assert f"{limits.ENV}=off" in message and "\n" not in message


@pytest.mark.parametrize(
    "mode, peak, workers, cap",
    [
        ("closed", 8_000, 2, 1000),  # 4,000 + 64 per worker: under the hard limit (the soft one is raised)
        ("closed", 10, 8, 1000),  # 4 workers per CPU
        ("open", 400_000, 1, 64),  # test_validity's overload: allowed
        ("open", 1000, 2, 100_000),  # an open-loop cap is not held open: no fd ceiling, only memory
    ],
)
def test_loads_within_the_ceilings_pass(mode, peak, workers, cap):
    assert problem(mode, peak, workers, cap, SMALL) is None


def test_unknown_memory_is_not_checked():
    machine = Machine(cpus=2, memory_bytes=None, nofile_soft=1024, nofile_hard=10**6)
    assert problem("closed", 10**5, 2, 1000, machine) is None


@pytest.mark.parametrize("args, needle", [
    (["-u", "1000000000000"], "memory"),  # grew each worker by 120 MB/s until it was killed
    (["-w", "100000"], "per CPU"),  # -w 1000 never finished; -w 200 took 34 s and 5 GB
    (["-r", "1e12", "-w", "1"], "per worker"),  # 0 requests, workers SIGKILLed after 17 s
])
def test_cli_refuses_loads_beyond_the_machine(args, needle):
    with refused_port() as port:
        err = one_line_usage_error(driver_cli("run", port.url + "/", *args))
    assert needle in err and "DRIVER_LIMITS=off" in err


def test_driver_limits_off_lifts_the_ceilings():
    with pytest.raises(PlanError, match="per CPU"):
        make_plan("http://127.0.0.1/", workers=100_000)
    limits.check_limits("closed", 10, 100_000, 1000, env={"DRIVER_LIMITS": "off"})  # no error
    assert problem("closed", 10, 100_000, 1000, limits.machine()) is not None


def test_the_machine_is_read():
    m = limits.machine()
    assert m.cpus >= 1 and m.nofile_hard >= m.nofile_soft > 0
    assert m.memory_bytes is None or m.memory_bytes > 0


_RAISE = """
import resource, sys
from driver.planning import make_plan
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
make_plan("http://127.0.0.1/", users=int(sys.argv[1]), workers=1)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_plan_raises_the_soft_open_file_limit_as_far_as_the_users_need():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1000:
        pytest.skip("the hard open-file limit is below what this test asks")
    out = subprocess.run([sys.executable, "-c", _RAISE, "600"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == 600 + limits.FD_RESERVE


def _low_soft_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))


def test_users_beyond_the_soft_limit_all_connect(tmp_path):
    """Started with a soft limit of 256 (a common default is 1024; macOS has 256), 600
    users on one worker: before, ~400 of them failed to connect (EMFILE) for the whole
    run; now the soft limit is raised to what they need and every user connects."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1000:
        pytest.skip("the hard open-file limit is below what this test asks")
    with nginx_server(tmp_path) as srv:
        proc = driver_cli("run", srv.url + "/", "-u", "600", "-w", "1", "-d", "1.5s", "-q", "-o",
                          str(tmp_path / "out"), preexec_fn=_low_soft_limit)
    assert proc.returncode in (0, 4), proc.stderr.decode()  # 4: a busy 2-core box may judge it CPU-bound
    data = orjson.loads(next((tmp_path / "out").glob("*/result.json")).read_bytes())
    assert data["totals"]["requests"] > 600 and data["totals"]["errors"] == 0


# --- body files -----------------------------------------------------------------------


def test_body_file_must_be_a_regular_file(tmp_path):
    """`--body-file /dev/zero` read 6.6 GB before it was stopped."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, needle in [("/dev/zero", "not a regular file"), (str(fifo), "not a regular file"),
                         (str(tmp_path), "is a directory")]:
        with refused_port() as port:
            err = one_line_usage_error(driver_cli("run", port.url + "/", "--body-file", path, timeout=30))
        assert "--body-file" in err and needle in err


def test_body_file_is_capped(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 * 2**20 + 1)  # sparse: costs no disk
    with pytest.raises(PlanError, match="larger than 64 MiB"):
        make_plan("http://127.0.0.1/", body_file=str(big))
    small = tmp_path / "small.json"
    small.write_bytes(b'{"a": 1}')
    assert make_plan("http://127.0.0.1/", body_file=str(small)).requests[0].body == b'{"a": 1}'


# --- YAML configs ---------------------------------------------------------------------


def _laughs(indent: str) -> str:
    """A billion laughs: 9 levels of 9 aliases each, 9^9 (387 million) strings expanded."""
    lines, prev = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'], "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join(["*" + prev] * 9) + "]")
        prev = name
    return "\n".join(indent + line for line in lines)


def test_a_billion_laughs_inside_a_json_body_is_one_line(tmp_path):
    """Before: `driver validate` used 1.85 GB and had not finished after 60 s."""
    config = tmp_path / "bomb.yaml"
    config.write_text(textwrap.dedent("""\
        target: {base_url: "http://127.0.0.1:1"}
        scenario:
          tasks:
            - name: t
              path: /
              json:
        """) + _laughs(" " * 8) + "\n")
    proc = driver_cli("validate", str(config), timeout=30)
    err = one_line_usage_error(proc)
    # line 13 is `g:`, the first value past a million (9^7); `f:` holds 9^6 = 531,441
    assert f"{config}:13: " in err and f"{MAX_VALUES:,} values" in err


def test_deep_nesting_is_one_line(tmp_path):
    """Before: 100,000 nested [ gave a RecursionError traceback."""
    config = tmp_path / "deep.yaml"
    config.write_text("target: " + "[" * 100_000 + "]" * 100_000 + "\n")
    err = one_line_usage_error(driver_cli("validate", str(config), timeout=30))
    assert f"{config}:1: " in err and f"deeper than {MAX_DEPTH}" in err


def test_depth_through_aliases_is_bounded(tmp_path):
    lines = ["target: {base_url: 'http://127.0.0.1:1'}", "x:"]
    for i in range(5):  # each anchor 30 deep, each holding the previous one: 150 deep expanded
        inner = f"*p{i - 1}" if i else "1"
        lines.append(f"  - &p{i} " + "[" * 30 + inner + "]" * 30)
    config = tmp_path / "chain.yaml"
    config.write_text("\n".join(lines) + "\n")
    with pytest.raises(PlanError, match=rf"chain.yaml:\d+: this value nests deeper than {MAX_DEPTH}"):
        validate_config(config)


def test_nesting_within_the_bound_is_read(tmp_path):
    depth = MAX_DEPTH - 6  # the root, scenario, tasks, the task and its json are levels too
    config = tmp_path / "ok.yaml"
    config.write_text("target: {base_url: 'http://127.0.0.1:1'}\nscenario:\n  tasks:\n"
                      "    - {name: t, path: /, json: " + "[" * depth + "1" + "]" * depth + "}\n")
    plan = validate_config(config)
    body = plan.scenario.tasks[0]["body"]["json"]
    for _ in range(depth - 1):
        body = body[0]
    assert body == [1]


def test_config_must_be_a_small_regular_file(tmp_path):
    """Before: `driver validate /dev/zero` never returned."""
    err = one_line_usage_error(driver_cli("validate", "/dev/zero", timeout=30))
    assert "/dev/zero: not a regular file" in err
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    err = one_line_usage_error(driver_cli("validate", str(fifo), timeout=30))
    assert "not a regular file" in err
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(PlanError, match="big.yaml: larger than 4 MiB"):
        validate_config(big)


# --- header values --------------------------------------------------------------------


@pytest.mark.parametrize("header, needle", [
    ("X-A: héllo ☃", "non-ASCII"),  # was a UnicodeEncodeError traceback in every worker
    ("X-A: a\x01b", "control character"),  # was sent as it is
    ("X-A: a\x7fb", "control character"),
    ("X-A: a\rb", "line break"),
])
def test_header_values_that_cannot_be_sent_are_refused_before_the_run(header, needle):
    with refused_port() as port:
        err = one_line_usage_error(driver_cli("run", port.url + "/", "-H", header))
    assert "'X-A'" in err and needle in err


def test_a_tab_in_a_header_value_is_allowed():
    assert parse_header("X-A: a\tb") == ("X-A", "a\tb")


@pytest.mark.parametrize("value, needle", [('"héllo ☃"', "non-ASCII"), ('"a\\x01b"', "control character")])
def test_config_header_values_are_checked_on_their_line(tmp_path, value, needle):
    config = tmp_path / "h.yaml"
    config.write_text(f"target:\n  base_url: http://127.0.0.1:1\n  headers:\n    X-A: {value}\n")
    with pytest.raises(PlanError, match=rf"h.yaml:4: target.headers.X-A has a {needle}"):
        validate_config(config)
    config.write_text("target: {base_url: 'http://127.0.0.1:1'}\nscenario:\n  tasks:\n"
                      f"    - name: t\n      path: /\n      headers: {{X-B: {value}}}\n")
    with pytest.raises(PlanError, match=rf"h.yaml:6: scenario.tasks\[0\].headers.X-B has a {needle}"):
        validate_config(config)
