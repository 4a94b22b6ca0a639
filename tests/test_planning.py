"""driver.planning: one layering for flags and config files, typed plan fields, errors
and warnings that know their flag or file:line."""
from __future__ import annotations

import dataclasses
import itertools
import pickle
import warnings

import pytest

from driver.config import load_config
from driver.errors import PlanError, PlanWarning
from driver.plan import OPEN, OutputSpec, ThinkTime
from driver.planning import make_plan
from driver.planning.layers import Source, flag_layer, layer, values_of
from driver.stats.thresholds import Threshold

URL = "http://127.0.0.1:8080/"
BOT = "driver.scenario.telegram:CatalogBot"  # a Python scenario that needs no file

# One value per layered key, as make_plan keywords; stages and ramp_up exclude each other.
SETTINGS = {
    "profile": "smoke",
    "users": 7,
    "rate": 40.0,
    "duration": "3s",
    "requests": 500,
    "ramp_up": "2s",
    "stages": ("4s:20", "2s:0"),
    "workers": 2,
    "max_in_flight": 9,
    "think": "250ms",
    "timeout": "4s",
    "connect_timeout": "1s",
}
# The plan fields the layered keys decide.
LAYERED_FIELDS = ("mode", "shape", "duration_s", "max_requests", "workers", "think_s", "connect_timeout_s",
                  "request_timeout_s", "max_in_flight", "grace_s", "profile", "insecure", "output")


def fields(plan) -> dict:
    return {name: getattr(plan, name) for name in LAYERED_FIELDS}


def outcome(build):
    """The layered fields of the plan `build()` makes, or ("error", where) when it refuses."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlanWarning)
        try:
            return fields(build())
        except PlanError as exc:
            return ("error", exc.message)


def write_config(tmp_path, text: str):
    path = tmp_path / "driver.yaml"
    path.write_text(text)
    return path


def subsets(keys):
    return itertools.chain.from_iterable(itertools.combinations(keys, n) for n in range(len(keys) + 1))


# --- the two paths agree ------------------------------------------------------------------


def test_the_issue_case_lasts_as_long_through_both_paths(tmp_path):
    """`driver run URL --profile smoke --stage 10s:5` and the same over -c: the stages set the length."""
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\n")
    via_url = make_plan(URL, profile="smoke", stages=["10s:5"])
    via_config = load_config(cfg, {"profile": "smoke", "stages": ("10s:5",)}, env={})
    assert via_url.duration_s == via_config.duration_s == 10.0
    assert fields(via_url) == fields(via_config)


def test_same_flags_give_the_same_plan_on_every_layered_key(tmp_path):
    """Every combination of the layered keys (4,096), as flags over a URL and over a config
    that names only the target: the same plan, or the same refusal."""
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\n")
    for keys in subsets(tuple(SETTINGS)):
        flags = {k: SETTINGS[k] for k in keys}
        via_url = outcome(lambda: make_plan(URL, **flags))
        via_config = outcome(lambda: load_config(cfg, flags, env={}))
        assert via_url == via_config, keys


# Where each key goes in a config file instead of a flag.
CONFIG_LINES = {
    "profile": "profile: smoke",
    "users": "load: {users: 7}",
    "rate": "load: {rate: 40}",
    "duration": "load: {duration: 3s}",
    "requests": "load: {requests: 500}",
    "ramp_up": "load: {ramp_up: 2s}",
    "stages": "load: {stages: ['4s:20', '2s:0']}",
    "workers": "load: {workers: 2}",
    "max_in_flight": "load: {max_in_flight: 9}",
    "timeout": "target: {timeout: 4s}",
    "connect_timeout": "target: {connect_timeout: 1s}",
}


def config_of(keys) -> str:
    """A config that sets `keys` (merging the `load:` and `target:` mappings)."""
    load = [CONFIG_LINES[k][len("load: {"):-1] for k in keys if CONFIG_LINES[k].startswith("load:")]
    target = [f"base_url: '{URL}'"] + [CONFIG_LINES[k][len("target: {"):-1] for k in keys
                                       if CONFIG_LINES[k].startswith("target:")]
    lines = ["target: {" + ", ".join(target) + "}"]
    lines += ["load: {" + ", ".join(load) + "}"] if load else []
    lines += [CONFIG_LINES[k] for k in keys if k == "profile"]
    return "\n".join(lines) + "\n"


def test_a_key_in_the_config_or_as_a_flag_gives_the_same_plan(tmp_path):
    """Every combination of the keys a fast-path config can hold (2,048): written in the
    config, or given as the flags of a URL run."""
    for keys in subsets(tuple(CONFIG_LINES)):
        cfg = write_config(tmp_path, config_of(keys))
        via_url = outcome(lambda: make_plan(URL, **{k: SETTINGS[k] for k in keys}))
        via_config = outcome(lambda: load_config(cfg, env={}))
        if isinstance(via_url, tuple):  # the same refusal, named after the config's keys
            assert isinstance(via_config, tuple), keys
        else:
            assert via_url == via_config, keys


def test_think_in_the_config_or_as_a_flag(tmp_path):
    tasks = f"target: {{base_url: '{URL}'}}\nscenario:\n  tasks: [{{name: t, path: /}}]\n"
    flag = load_config(write_config(tmp_path, tasks), {"think": "250ms"}, env={})
    written = load_config(write_config(tmp_path, tasks + "  think: 250ms\n"), env={})
    assert flag.scenario.think == written.scenario.think == ThinkTime("constant", 0.25)
    assert fields(flag) == fields(written)


# --- the layering rules ----------------------------------------------------------------------


def _layer(**values):
    return {k: (v, Source(k)) for k, v in values.items()}


LAYERING = [
    # (layers, bottom first) -> the values that stay
    # a later value wins, key by key
    (([{"users": 5, "rate": 10}, {"users": 7}]), {"users": 7, "rate": 10}),
    # stages drop the duration and ramp_up below: they set their own length
    (([{"duration": 30, "ramp_up": 5}, {"stages": (1,)}]), {"stages": (1,)}),
    # ... but not a duration in their own layer
    (([{"duration": 30}, {"stages": (1,), "duration": 8}]), {"stages": (1,), "duration": 8}),
    # ... and a duration above them still applies
    (([{"stages": (1,)}, {"duration": 8}]), {"stages": (1,), "duration": 8}),
    # ramp_up drops the stages below, not the duration
    (([{"stages": (1,), "duration": 30}, {"ramp_up": 2}]), {"duration": 30, "ramp_up": 2}),
    # keys no layer sets stay unset
    (([{}, {}]), {}),
]


@pytest.mark.parametrize("layers, expected", LAYERING)
def test_layer_rules(layers, expected):
    assert values_of(layer(*(_layer(**one) for one in layers))) == expected


def test_ramp_up_and_stages_in_one_layer_is_an_error_at_the_stages():
    with pytest.raises(PlanError) as info:
        layer(flag_layer({"ramp_up": "5s", "stages": ("5s:10",)}))
    assert info.value.where == "--stage" and info.value.message == "give either --ramp-up or --stage, not both"


def test_flag_layer_keeps_zero_and_drops_unset():
    assert values_of(flag_layer({"users": 0, "rate": None, "stages": (), "insecure": False})) == {"users": 0}
    with pytest.raises(TypeError):
        flag_layer({"userz": 1})


# --- typed plan fields ---------------------------------------------------------------------


def test_plan_has_typed_fields_no_meta_and_stays_frozen_and_picklable():
    plan = make_plan("https://127.0.0.1:8443/api/v1?x=1", scenario=BOT, users=2, insecure=True,
                     thresholds=["p99<5s", "/start:error_rate<1% abort"], output="out", report="md,json")
    assert not hasattr(plan, "meta")
    assert plan.insecure is True and plan.base_path == "/api/v1" and plan.requests == ()
    assert plan.output == OutputSpec(dir="out", formats=("md", "json"))
    assert all(isinstance(t, Threshold) and t.source == "--threshold" for t in plan.thresholds)
    assert plan.thresholds[1].endpoint == "/start" and plan.thresholds[1].abort
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.insecure = False
    assert pickle.loads(pickle.dumps(plan)) == plan  # workers receive it through spawn
    shown = plan.describe()
    assert shown["thresholds"] == ["p99<5s", "/start:error_rate<1% abort"] and shown["insecure"] is True


def test_base_path_of_a_python_scenario_in_both_paths(tmp_path):
    cfg = write_config(tmp_path, f"target: {{base_url: 'http://127.0.0.1:8080/api/'}}\nscenario: {{python: '{BOT}'}}\n")
    assert load_config(cfg, env={}).base_path == make_plan("http://127.0.0.1:8080/api/", scenario=BOT).base_path
    assert make_plan("http://127.0.0.1:8080/api/", scenario=BOT).base_path == "/api"
    yaml_tasks = write_config(tmp_path, "target: {base_url: 'http://127.0.0.1:8080/api'}\n"
                                        "scenario: {tasks: [{name: t, path: /x}]}\n")
    plan = load_config(yaml_tasks, env={})
    assert plan.base_path == "" and plan.scenario.tasks[0]["path"] == "/api/x"  # the task carries it


def test_config_thresholds_know_their_line_and_flags_add_to_them(tmp_path):
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\nthresholds:\n  - p99<5s\n  - rps>10\n")
    plan = load_config(cfg, {"thresholds": ("error_rate<1%",)}, env={})
    assert [(t.text, t.source) for t in plan.thresholds] == [
        ("p99<5s", f"{cfg}:3"), ("rps>10", f"{cfg}:4"), ("error_rate<1%", "--threshold")]


def test_output_flags_over_the_config_output(tmp_path):
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\noutput: {{dir: a, report: [md]}}\n")
    assert load_config(cfg, env={}).output == OutputSpec("a", ("md",))
    assert load_config(cfg, {"output": "b"}, env={}).output == OutputSpec("b", ("md",))
    assert load_config(cfg, {"report": ("junit",)}, env={}).output == OutputSpec("a", ("junit",))


# --- errors: where they belong ------------------------------------------------------------------

FLAG_ERRORS = [
    ({"users": -1}, "--users", "--users must be > 0, got -1"),
    ({"duration": "soon"}, "--duration", "not a duration"),
    ({"stages": ["10s"]}, "--stage", "must be DURATION:TARGET"),
    ({"headers": ["NoColon"]}, "--header", "has no colon"),
    ({"body_file": "/nonexistent/body.json"}, "--body-file", "body file not found"),
    ({"body": "x", "body_file": "y"}, "--body-file", "give either --body or --body-file"),
    ({"method": "GE T"}, "--method", "invalid HTTP method"),
    ({"thresholds": ["p99<<5"]}, "--threshold", "invalid threshold 'p99<<5'"),
    ({"profile": "hevy"}, "--profile", "did you mean 'heavy'?"),
    ({"scenario": "/nonexistent/bot.py"}, "--scenario", "scenario file not found"),
    ({"report": "pdf"}, "--report", "unknown report format 'pdf'"),
    ({"stages": ["10s:0"]}, "--stage", "the load never rises above zero"),
]


@pytest.mark.parametrize("kwargs, where, fragment", FLAG_ERRORS)
def test_flag_errors_know_their_flag(kwargs, where, fragment):
    with pytest.raises(PlanError) as info:
        make_plan(URL, **kwargs)
    assert info.value.where == where and info.value.file is None
    assert fragment in str(info.value) and str(info.value) == info.value.message  # a flag is not repeated


def test_url_errors_belong_to_the_url():
    with pytest.raises(PlanError) as info:
        make_plan("ftp://127.0.0.1/")
    assert info.value.where == "URL"


def test_config_errors_know_their_file_line_and_flags_their_flag(tmp_path):
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\nprofile: hevy\n")
    with pytest.raises(PlanError) as info:
        load_config(cfg, env={})
    assert (info.value.file, info.value.line, info.value.where) == (str(cfg), 2, f"{cfg}:2")
    assert str(info.value) == f"{cfg}:2: {info.value.message}"
    with pytest.raises(PlanError) as info:  # the flag's profile, not the file's
        load_config(cfg, {"profile": "hevy"}, env={})
    assert info.value.where == "--profile" and str(info.value) == info.value.message
    assert load_config(cfg, {"profile": "smoke"}, env={}).profile == "smoke"
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\nload:\n  users: 0\n")
    with pytest.raises(PlanError) as info:
        load_config(cfg, env={})
    assert info.value.where == f"{cfg}:3" and info.value.message == "load.users must be > 0, got 0"
    with pytest.raises(PlanError) as info:  # a bad flag over the config: the flag, not the file
        load_config(write_config(tmp_path, f"target: {{base_url: '{URL}'}}\nload: {{users: 3}}\n"),
                    {"users": -1}, env={})
    assert info.value.where == "--users" and info.value.file is None


def test_yaml_syntax_errors_know_line_and_column(tmp_path):
    cfg = write_config(tmp_path, "target: {base_url: x\n")
    with pytest.raises(PlanError) as info:
        load_config(cfg, env={})
    assert info.value.where == f"{cfg}:2:1" and info.value.message.startswith("YAML syntax error")


def test_errors_pickle_with_where_they_belong():
    error = pickle.loads(pickle.dumps(PlanError("load.users must be > 0", file="d.yaml", line=4)))
    assert (error.where, str(error)) == ("d.yaml:4", "d.yaml:4: load.users must be > 0")
    assert PlanError("x", flag="--users").located(file="d.yaml", line=1).where == "--users"  # already placed


# --- settings given but not used: one warning each ---------------------------------------------

IGNORED = [
    # (make_plan keywords, the flags warned about)
    ({"rate": 10, "think": "1s"}, ["--think"]),  # open loop: no pauses between arrivals
    ({"profile": "smoke", "think": "1s"}, ["--think"]),  # smoke is an open loop too
    ({"users": 5, "max_in_flight": 10}, ["--max-in-flight"]),  # closed loop: the users are the cap
    ({"rate": 10, "users": 5, "max_in_flight": 10}, ["--users"]),  # --max-in-flight is the cap
    ({"users": 5, "stages": ["5s:10"]}, ["--users"]),  # closed loop: the stage targets are the users
    ({"insecure": True}, ["--insecure"]),  # http://: no certificate
    ({"scenario": BOT, "body": "{}", "method": "POST", "headers": ["A: b"], "name": "x"},
     ["--method", "--header", "--body", "--name"]),  # a scenario makes its own requests
    ({"scenario": BOT, "think": "1s"}, ["--think"]),  # a Python scenario's pause is its class's `wait`
    ({"thresholds": ["mean<1ms abort", "p99<1s abort"]}, ["--threshold"]),  # mean is judged at the end only
    # used, so no warning
    ({"rate": 10, "users": 5}, []),  # -u caps the requests in flight
    ({"users": 5, "think": "1s"}, []),
    ({"profile": "smoke", "max_in_flight": 9}, []),  # the profile's users are not the user's own
    ({"rate": 10, "stages": ["5s:20"], "users": 3}, []),
]


@pytest.mark.parametrize("kwargs, flags", IGNORED)
def test_ignored_settings_warn_once_each(kwargs, flags):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_plan(URL, **kwargs)
    got = [w.message for w in caught if issubclass(w.category, PlanWarning)]
    assert [w.where for w in got] == flags
    assert all(" is ignored" in str(w) for w in got)


def test_https_insecure_is_used_and_not_warned():
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlanWarning)
        assert make_plan("https://127.0.0.1:8443/", insecure=True).insecure


def test_ignored_config_settings_warn_at_their_line(tmp_path):
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\nload:\n  users: 4\n  max_in_flight: 5\n")
    with pytest.warns(PlanWarning) as caught:
        plan = load_config(cfg, env={})
    assert [str(w.message) for w in caught] == [
        f"{cfg}:4: load.max_in_flight is ignored without a rate: in closed loop the users are the requests "
        "in flight"]
    assert plan.mode != OPEN


def test_an_abort_that_cannot_be_judged_live_warns_at_its_line(tmp_path):
    cfg = write_config(tmp_path, f"target: {{base_url: '{URL}'}}\nthresholds:\n  - p99<1s abort\n"
                                 "  - mean<1s abort\n")
    with pytest.warns(PlanWarning) as caught:
        load_config(cfg, env={})
    assert [w.message.where for w in caught] == [f"{cfg}:4"]
    assert "'mean<1s abort': abort is ignored" in str(caught[0].message)
