"""driver.config: YAML config files -> Plan, and one-line errors naming file:line."""
from __future__ import annotations

import json
import pickle
import sys
import textwrap
from pathlib import Path

import pytest

from driver.config import PROFILES, list_profiles, load_config, unknown_profile, validate_config
from driver.errors import PlanError
from driver.payloads.catalog import Command
from driver.plan import CLOSED, OPEN, OutputSpec, ThinkTime, UserPoolSpec
from driver.planning import make_plan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TARGET = "target:\n  base_url: http://127.0.0.1:8080\n"
NO_ENV: dict = {}


def write(directory: Path, text: str, name: str = "driver.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def error_of(path: Path, overrides=None, env=NO_ENV) -> str:
    with pytest.raises(PlanError) as info:
        load_config(path, overrides, env=env)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def task_config(task: str, extra: str = "") -> str:
    """A config with one YAML task (indented as a list item under scenario.tasks)."""
    body = textwrap.indent(textwrap.dedent(task).strip("\n"), "      ")
    return TARGET + "scenario:\n  tasks:\n    - " + body.lstrip() + "\n" + extra


# --- bad configs: (config text, line[:column], message fragment) ----------------------

BAD = {
    # YAML itself
    "syntax: indentation": (TARGET + "load:\n  users: 10\n   duration: 5s\n", "5:12",
                            "YAML syntax error: mapping values are not allowed here"),
    "syntax: unclosed flow mapping": (TARGET + "load: {users: 10\n", "4:1",
                                      "YAML syntax error: expected ',' or '}'"),
    "syntax: tab": ("target:\n\tbase_url: x\n", "2:1", "YAML syntax error: found character '\\t'"),
    "syntax: unquoted ? in a flow mapping": (
        task_config("name: t\npath: /\ntelegram: {kind: text, text: what now?}"), "7:44",
        "YAML syntax error: expected ',' or '}', but got '?'"),
    "duplicate key, top level": (TARGET + "load: {users: 1}\nload: {users: 2}\n", "4",
                                 "duplicate key 'load' in the config (first at line 3)"),
    "duplicate key, in a JSON body": (task_config("name: t\npath: /\njson: {a: 1, a: 2}"), "7",
                                      "duplicate key 'a' in scenario.tasks[0].json (first at line 7)"),
    "alias to itself": (task_config("name: t\npath: /\njson: &j {a: [1, *j]}"), "7",
                        "scenario.tasks[0].json.a[1] refers to itself through a YAML alias"),
    "empty file": ("", "1", "the config is empty"),
    "only comments": ("# nothing yet\n", "1", "the config is empty"),
    "top level is a list": ("- target\n- load\n", "1", "the config must be a mapping of keys"),
    "unsupported tag": (TARGET + "load: {users: !!python/name:os.system ''}\n", "3",
                        "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'"),
    "!secret on a mapping": ("target:\n  base_url: http://127.0.0.1:8080\n  headers: !secret {A: b}\n", "3",
                             "YAML tag '!secret' is not supported here (!secret marks a string value)"),
    # unknown keys, with a suggestion where one is close
    "unknown top-level key": (TARGET + "laod:\n  users: 5\n", "3", "unknown key 'laod' — did you mean 'load'?"),
    "unknown target key": ("target:\n  base_url: http://127.0.0.1:8080\n  timout: 5s\n", "3",
                           "unknown key 'timout' in target — did you mean 'timeout'?"),
    "unknown key, no suggestion": ("target:\n  base_url: http://127.0.0.1:8080\n  zzz: 1\n", "3",
                                   "unknown key 'zzz' in target (expected one of: base_url, headers"),
    "unknown task key": (task_config("name: t\npth: /x"), "6",
                         "unknown key 'pth' in scenario.tasks[0] — did you mean 'path'?"),
    "unknown expect key": (task_config("name: t\npath: /\nexpect: {stauts: 200}"), "7",
                           "unknown key 'stauts' in scenario.tasks[0].expect — did you mean 'status'?"),
    "unknown capture kind": (task_config("name: t\npath: /\ncapture: {id: {jsn: a.b}}"), "7",
                             "unknown key 'jsn' in scenario.tasks[0].capture.id — did you mean 'json'?"),
    "unknown load key": (TARGET + "load:\n  user: 5\n", "4", "unknown key 'user' in load — did you mean 'users'?"),
    "weight in a flow step": (TARGET + "scenario:\n  flows:\n    - name: f\n      steps:\n"
                                       "        - {path: /, weight: 2}\n", "7",
                              "unknown key 'weight' in scenario.flows[0].steps[0]"),
    # wrong types and values
    "users not an integer": (TARGET + "load:\n  users: many\n", "4",
                             "load.users must be an integer, got 'many'"),
    "users a float": (TARGET + "load:\n  users: 2.5\n", "4", "load.users must be an integer, got '2.5'"),
    "secret never shown": (TARGET + "load:\n  users: !secret hunter2\n", "4",
                           "load.users must be an integer, got a !secret value"),
    "users negative": (TARGET + "load:\n  users: -5\n", "4", "load.users must be > 0, got -5"),
    "rate zero": (TARGET + "load:\n  rate: 0\n", "4", "load.rate must be > 0, got 0"),
    "duration not a duration": (TARGET + "load:\n  duration: soon\n", "4",
                                "load.duration must be a duration like 30s, 500ms, 2m or 1h, got 'soon'"),
    "duration negative": (TARGET + "load:\n  duration: -5s\n", "4", "load.duration must be a duration"),
    "duration empty": (TARGET + "load:\n  duration:\n", "4", "got an empty value"),
    "timeout a list": ("target:\n  base_url: http://127.0.0.1:8080\n  timeout: [1, 2]\n", "3",
                       "target.timeout must be a duration like 30s, 500ms, 2m or 1h, got a list"),
    "insecure not a bool": ("target:\n  base_url: http://127.0.0.1:8080\n  insecure: maybe\n", "3",
                            "target.insecure must be true or false, got 'maybe'"),
    "bad stage": (TARGET + "load:\n  stages: [30s]\n", "4", "load.stages[0] must be DURATION:TARGET like 30s:100"),
    "negative stage target": (TARGET + "load:\n  stages: ['30s:-5']\n", "4",
                              "load.stages[0]: duration and target must be >= 0, got '30s:-5'"),
    "all stage targets zero": (TARGET + "load:\n  stages: ['10s:0', {duration: 5s, target: 0}]\n", "4",
                               "every stage target is 0"),
    "stages of no length": (TARGET + "load:\n  stages: ['0s:10']\n", "4", "load.stages: the stages last 0s in all"),
    "ramp_up and stages": (TARGET + "load:\n  ramp_up: 5s\n  stages: ['10s:5']\n", "5",
                           "give either ramp_up or stages, not both"),
    "think min above max": (TARGET + "scenario:\n  think: {between: [3s, 1s]}\n  tasks: [{name: t, path: /}]\n",
                            "4", "scenario.think.between: min 3s is above max 1s"),
    "think with two kinds": (TARGET + "scenario:\n  think: {constant: 1s, pacing: 2s}\n", "4",
                             "scenario.think takes one of constant, between, pacing"),
    "retry_after misspelt": (TARGET + "scenario:\n  retry_after: honor\n  tasks: [{name: t, path: /}]\n", "4",
                             "scenario.retry_after must be one of honour, ignore, got 'honor' — did you mean"),
    "unknown tier": (TARGET + "scenario:\n  users: {tiers: {free: 1, premum: 1}}\n", "4",
                     "unknown tier 'premum' — did you mean 'premium'?"),
    "tier weight zero": (TARGET + "scenario:\n  users: {tiers: {free: 0}}\n", "4",
                         "scenario.users.tiers.free must be > 0, got 0"),
    "report format": (TARGET + "output: {report: [json, pdf]}\n", "3",
                      "output.report must be one of json, html, md, csv, junit, got 'pdf'"),
    "threshold not a string": (TARGET + "thresholds:\n  - {p99: 5s}\n", "4",
                               "thresholds[0] must be a string, got a mapping"),
    "threshold blank": (TARGET + "thresholds:\n  - '  '\n", "4", "thresholds[0] must not be empty"),
    # the target
    "no target": ("load: {users: 5}\n", "1", "the config has no 'target'"),
    "no base_url": ("target:\n  headers: {A: b}\n", "2", "target has no 'base_url' (required)"),
    "base_url scheme": ("target:\n  base_url: ftp://example.com\n", "2",
                        "target.base_url: unsupported URL scheme 'ftp'"),
    "base_url with a query": ("target:\n  base_url: http://h/?a=1\n", "2", "must not have a query"),
    "bad header name": ("target:\n  base_url: http://h\n  headers: {'Bad Name': x}\n", "3",
                        "target.headers: invalid header name 'Bad Name'"),
    "auth with two kinds": ("target:\n  base_url: http://h\n  auth: {bearer: a, basic: {username: u, password: p}}\n",
                            "3", "target.auth takes one of bearer: TOKEN or basic"),
    "auth and Authorization": ("target:\n  base_url: http://h\n  headers: {authorization: x}\n  auth: {bearer: a}\n",
                               "4", "give either target.auth or an Authorization header"),
    "basic without password": ("target:\n  base_url: http://h\n  auth: {basic: {username: u}}\n", "3",
                               "target.auth.basic has no 'password' (required)"),
    # profiles
    "unknown profile": (TARGET + "profile: hevy\n", "3",
                        "unknown profile 'hevy' — did you mean 'heavy'? (driver profiles lists them)"),
    "bad custom profile": (TARGET + "profiles:\n  ci: {users: 0}\n", "4", "profiles.ci.users must be > 0, got 0"),
    # the environment
    "undefined variable": ("target:\n  base_url: ${NOPE_URL}\n", "2", "environment variable 'NOPE_URL' is not set"),
    "undefined variable in a body": (task_config("name: t\npath: /\njson: {token: '${NOPE_TOKEN}'}"), "7",
                                     "environment variable 'NOPE_TOKEN' is not set"),
    "malformed reference": ("target:\n  base_url: http://h/${API URL}\n", "2", "malformed environment reference"),
    # the scenario
    "empty scenario": (TARGET + "scenario:\n  think: 1s\n", "4", "the scenario needs python: FILE.py, or tasks:"),
    "python and tasks": (TARGET + "scenario:\n  python: bot.py\n  tasks: [{name: t, path: /}]\n", "4",
                         "give either scenario.python or scenario.tasks/flows, not both"),
    "task without a path": (task_config("name: /start\ntelegram: {command: /start}"), "5",
                            "scenario.tasks[0] has no 'path' (required)"),
    "task without a name": (task_config("path: /x"), "5", "scenario.tasks[0] has no 'name' (required)"),
    "tasks empty": (TARGET + "scenario:\n  tasks: []\n", "4", "scenario.tasks must not be empty"),
    "path is a URL": (task_config("name: t\npath: http://other/x"), "6",
                      "scenario.tasks[0].path must be a path like /webhook/telegram"),
    "unclosed placeholder": (task_config("name: t\npath: /users/{{user.id"), "6",
                             "scenario.tasks[0].path: unclosed placeholder in '/users/{{user.id'"),
    "unknown placeholder": (task_config("name: t\npath: /\njson: {id: 'cb-{{chat_id}}'}"), "7",
                            "scenario.tasks[0].json.id: unknown placeholder {{chat_id}}; expected user.ATTR"),
    "unknown user attribute": (task_config("name: t\npath: /u/{{user.nick}}"), "6",
                               "unknown placeholder {{user.nick}}"),
    "capture no task makes": (task_config("name: t\npath: /orders/{{captured.order_id}}"), "5",
                              "scenario.tasks[0] uses {{captured.order_id}}, but no task captures 'order_id'"),
    "capture used before a step makes it": (
        TARGET + "scenario:\n  flows:\n    - name: f\n      steps:\n"
                 "        - {path: '/a/{{captured.id}}'}\n        - {path: /b, capture: {id: {json: id}}}\n", "7",
        "scenario.flows[0].steps[0] uses {{captured.id}}, but no earlier step captures 'id'"),
    "bad method": (task_config("name: t\npath: /\nmethod: 'GE T'"), "7", "invalid HTTP method 'GE T'"),
    "two bodies": (task_config("name: t\npath: /\njson: {a: 1}\nbody: text"), "8",
                   "scenario.tasks[0] has both 'json' and 'body': give one body"),
    "zero weight": (task_config("name: t\npath: /\nweight: 0"), "7", "scenario.tasks[0].weight must be > 0, got 0"),
    "bad status class": (task_config("name: t\npath: /\nexpect: {status: 6xx}"), "7",
                         "scenario.tasks[0].expect.status must be an HTTP status (100-599) or a class like 2xx, "
                         "got '6xx'"),
    "bad status in a list": (task_config("name: t\npath: /\nexpect:\n  status: [200, 2xxx]"), "8",
                             "got '2xxx'"),
    "bad regex": (task_config("name: t\npath: /\ncapture:\n  token: {regex: '(unclosed'}"), "8",
                  "scenario.tasks[0].capture.token.regex is not a valid regular expression: missing ), "
                  "unterminated subpattern"),
    "capture with two sources": (task_config("name: t\npath: /\ncapture:\n  a: {json: x, header: y}"), "8",
                                 "scenario.tasks[0].capture.a takes exactly one of json, header, regex"),
    "capture name": (task_config("name: t\npath: /\ncapture:\n  order-id: {json: x}"), "8",
                     "capture name 'order-id' must be a name like order_id"),
    "telegram kind misspelt": (task_config("name: t\npath: /\ntelegram: {kind: comand, command: /start}"), "7",
                               "must be one of command, text, callback"),
    "telegram command without slash": (task_config("name: t\npath: /\ntelegram: {command: start}"), "7",
                                       "scenario.tasks[0].telegram.command must start with /, got 'start'"),
    "telegram callback without data": (task_config("name: t\npath: /\ntelegram: {kind: callback_query}"), "7",
                                       "scenario.tasks[0].telegram: kind callback_query needs 'data'"),
    "telegram kind callback": (task_config("name: t\npath: /\ntelegram: {kind: callback, data: x}"), "7",
                               "got 'callback' — did you mean 'callback_query'?"),
    "key the kind does not take": (task_config("name: t\npath: /\nwhatsapp: {kind: image, id: m1}"), "7",
                                   "unknown key 'id' in scenario.tasks[0].whatsapp (kind image takes caption)"),
    "whatsapp button without id": (task_config("name: t\npath: /\nwhatsapp: {kind: button_reply, title: A}"), "7",
                                   "kind button_reply needs 'id'"),
    "flow without steps": (TARGET + "scenario:\n  flows:\n    - name: f\n", "5",
                           "scenario.flows[0] has no 'steps' (required)"),
    "catalog command name": (TARGET + "scenario:\n  tasks: [{name: t, path: /}]\n  catalog:\n    - name: start\n",
                             "6", "scenario.catalog[0].name must be a command like /start"),
    "catalog duplicate": (TARGET + "scenario:\n  tasks: [{name: t, path: /}]\n  catalog:\n"
                                   "    - {name: /a}\n    - {name: /a}\n", "7",
                          "duplicate command /a (first at line 6)"),
}


@pytest.mark.parametrize("text, line, fragment", BAD.values(), ids=BAD.keys())
def test_bad_config(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_missing_config_file(tmp_path):
    assert error_of(tmp_path / "nope.yaml") == f"config file not found: {tmp_path / 'nope.yaml'}"


def test_config_is_a_directory(tmp_path):
    assert "is a directory" in error_of(tmp_path)


def test_errors_are_plan_errors_with_exit_code_2(tmp_path):
    with pytest.raises(PlanError) as info:
        load_config(write(tmp_path, "laod: 1\n"), env=NO_ENV)
    assert info.value.exit_code == 2


# --- the environment ------------------------------------------------------------------------


def test_env_default_used_when_unset_or_empty(tmp_path):
    path = write(tmp_path, """
        target:
          base_url: ${URL:-http://127.0.0.1:9000}
        load:
          users: ${USERS:-7}
          duration: ${DURATION:-3s}
    """)
    for env in ({}, {"URL": "", "USERS": ""}):
        plan = load_config(path, env=env)
        assert plan.target.port == 9000
        assert plan.shape.peak == 7  # an unquoted ${...} is typed after expansion
        assert plan.duration_s == 3.0


def test_env_value_wins_over_default(tmp_path):
    path = write(tmp_path, "target:\n  base_url: ${URL:-http://127.0.0.1:9000}\nload:\n  users: ${USERS}\n")
    plan = load_config(path, env={"URL": "http://127.0.0.1:9100", "USERS": "12"})
    assert (plan.target.port, plan.shape.peak) == (9100, 12)


def test_env_typed_value_is_checked_on_its_line(tmp_path):
    path = write(tmp_path, TARGET + "load:\n  users: ${USERS}\n")
    assert error_of(path, env={"USERS": "lots"}) == f"{path}:4: load.users must be an integer, got 'lots'"


def test_env_in_quoted_strings_and_literal_dollar(tmp_path):
    path = write(tmp_path, task_config("""
        name: t
        path: /
        json: {n: "${N:-5}", literal: "$${HOME}", mixed: "id-${N:-5}-{{user.id}}"}
    """))
    body = load_config(path, env={}).scenario.tasks[0]["body"]["json"]
    assert body == {"n": "5", "literal": "${HOME}", "mixed": "id-5-{{user.id}}"}


# --- secrets ------------------------------------------------------------------------------


def test_secret_tag_and_auth_values_are_secrets(tmp_path):
    path = write(tmp_path, """
        target:
          base_url: http://127.0.0.1:8080
          headers:
            X-Api-Key: plain-api-key
            X-Session: !secret "sess-${SESSION}"
          auth:
            basic: {username: ada, password: hunter2}
        scenario:
          telegram: {secret_token: tg-token}
          tasks:
            - name: t
              path: /x
              json: {token: !secret "${TOKEN}"}
    """)
    plan = load_config(path, env={"SESSION": "s3cr3t", "TOKEN": "bot-token-123"})
    for secret in ("plain-api-key", "sess-s3cr3t", "s3cr3t", "hunter2", "YWRhOmh1bnRlcjI=", "tg-token",
                   "bot-token-123"):
        assert secret in plan.secrets
    assert "ada" not in plan.secrets
    assert plan.scenario.tasks[0]["headers"]["Authorization"] == "Basic YWRhOmh1bnRlcjI="
    assert plan.scenario.tasks[0]["body"]["json"]["token"] == "bot-token-123"


def test_bearer_token_is_secret(tmp_path):
    path = write(tmp_path, "target:\n  base_url: http://h\n  auth: {bearer: '${TOKEN}'}\n")
    plan = load_config(path, env={"TOKEN": "abc.def.ghi"})
    assert plan.secrets == ("abc.def.ghi",)
    assert dict(plan.requests[0].headers)["Authorization"] == "Bearer abc.def.ghi"


@pytest.mark.parametrize("example", ["telegram_bot.yaml", "rest_api.yaml", "whatsapp_flow.yaml", "bot_end_to_end.yaml",
                                     "jobs.yaml", "websocket.yaml", "calls.yaml"])
def test_describe_shows_no_secret(example):
    env = {"TELEGRAM_SECRET": "tg-very-secret", "API_TOKEN": "api-very-secret",
           "WHATSAPP_APP_SECRET": "wa-very-secret"}
    plan = load_config(EXAMPLES / example, env=env)
    assert plan.secrets
    shown = json.dumps(plan.describe(), ensure_ascii=False) + repr(plan.describe())
    for secret in plan.secrets:
        assert secret not in shown


def test_describe_masks_secrets_of_a_plain_config(tmp_path):
    path = write(tmp_path, "target:\n  base_url: http://h/api\n  headers: {X-Token: !secret tok-42}\n")
    plan = load_config(path, env={})
    assert plan.secrets == ("tok-42",)
    assert "tok-42" not in json.dumps(plan.describe())


# --- the examples (the README's) ----------------------------------------------------------


def test_example_telegram_bot():
    plan = load_config(EXAMPLES / "telegram_bot.yaml", env={})
    assert plan.target.base_url == "http://127.0.0.1:8080"
    assert plan.mode == CLOSED and plan.shape.peak == 50 and plan.duration_s == 60
    spec = plan.scenario
    assert [t["name"] for t in spec.tasks] == ["/start", "/help", "/echo", "/history", "plain text", "button press"]
    start = spec.tasks[0]
    assert start == {
        "name": "/start", "weight": 5.0, "method": "POST", "path": "/webhook/telegram", "headers": {},
        "body": {"telegram": {"kind": "command", "command": "/start"}},
        "expect": {"status": (200,), "json": {"method": "sendMessage"}, "contains": "Hello", "headers": {}},
        "capture": {}, "think": None, "reply": None,
    }
    assert spec.tasks[-1]["body"] == {"telegram": {"kind": "callback_query", "data": "color:red"}}
    assert spec.think == ThinkTime("between", 1.0, 3.0)
    assert spec.telegram_secret == "demo-secret-token" and "demo-secret-token" in plan.secrets
    assert plan.user_pool == UserPoolSpec(size=10000, seed=42, tiers=(("free", 0.8), ("premium", 0.15),
                                                                       ("admin", 0.05)))
    assert [t.text for t in plan.thresholds] == ["p99<500ms", "/start:p95<200ms", "error_rate<1%"]
    assert [t.metric for t in plan.thresholds] == ["p99", "p95", "error_rate"]  # parsed once, here
    assert plan.thresholds[1].endpoint == "/start"
    assert plan.output == OutputSpec(dir="./driver-results", formats=("json", "html"))
    assert plan.requests == ()


def test_example_rest_api():
    plan = load_config(EXAMPLES / "rest_api.yaml", env={})
    assert plan.mode == OPEN and plan.max_in_flight == 200
    assert plan.shape.points == ((0.0, 100.0), (10.0, 100.0), (50.0, 300.0), (60.0, 0.0))
    tasks = {t["name"]: t for t in plan.scenario.tasks}
    assert [t["weight"] for t in tasks.values()] == [2.0, 6.0, 2.0, 0.5]
    post = tasks["POST message"]
    assert post["headers"] == {"Accept": "application/json", "X-Client": "driver-loadtest",
                               "Authorization": "Bearer dev-token"}
    assert post["body"]["json"]["update_id"] == "{{seq}}"
    assert post["body"]["json"]["message"]["chat"] == {"id": "{{user.id}}", "type": "private"}
    assert post["body"]["json"]["message"]["text"] == "/echo order for {{user.first_name}}"
    assert post["expect"]["status"] == (200, 201) and post["expect"]["contains"] == "order for"
    assert post["capture"] == {"reply_text": {"json": "text"}, "chat_id": {"regex": '"chat_id":(\\d+)'}}
    assert tasks["GET /health"]["method"] == "GET" and tasks["GET /health"]["body"] is None
    assert tasks["POST button"]["expect"]["status"] == ("2xx",)
    assert tasks["POST malformed"]["body"] == {"text": "{not json"}
    assert tasks["POST malformed"]["headers"]["Content-Type"] == "application/json"
    assert plan.scenario.retry_after == "honour"
    assert plan.secrets == ("dev-token",)
    assert plan.request_timeout_s == 10.0 and plan.connect_timeout_s == 2.0


def test_example_whatsapp_flow():
    plan = load_config(EXAMPLES / "whatsapp_flow.yaml", env={})
    spec = plan.scenario
    names = [f["name"] for f in spec.flows]
    assert spec.tasks == () and names == ["full_moving_flow", "reschedule_flow", "emergency_support"]
    move, reschedule, emergency = spec.flows
    assert move["weight"] == 3.0 and len(move["steps"]) == 6
    assert reschedule["steps"][:6] == move["steps"] and len(reschedule["steps"]) == 8  # YAML anchors reused
    assert move["steps"][2]["capture"] == {"code": {"json": "verification_code"}}
    # keys are the generator's keyword arguments (driver.payloads.whatsapp)
    assert move["steps"][3]["body"] == {"whatsapp": {"kind": "text", "body": "{{captured.code}}"}}
    assert move["steps"][0]["expect"]["json"] == {"error": None, "state": "moving:select_service"}
    assert move["steps"][1]["body"] == {"whatsapp": {"kind": "list_reply", "row_id": "svc_local_move",
                                                     "title": "Local move"}}
    assert [s["name"] for s in emergency["steps"]] == [f"emergency_support:step {i}" for i in (1, 2, 3)]
    assert spec.whatsapp_app_secret == "demo-app-secret"
    assert plan.user_pool.languages == ("en", "es", "pt")


@pytest.mark.parametrize("example", ["telegram_bot.yaml", "rest_api.yaml", "whatsapp_flow.yaml", "bot_end_to_end.yaml",
                                     "jobs.yaml", "websocket.yaml", "websocket_storm.yaml", "websocket_stability.yaml"])
def test_examples_validate_pickle_and_follow_the_environment(example):
    plan = validate_config(EXAMPLES / example, env={})
    assert pickle.loads(pickle.dumps(plan)) == plan  # workers receive it as it is
    moved = load_config(EXAMPLES / example, env={"TARGET_URL": "http://127.0.0.1:9999",
                                                 "API_URL": "http://127.0.0.1:9999"})
    assert moved.target.port == 9999


# --- normalisation details -----------------------------------------------------------------


def test_task_defaults_and_header_merge(tmp_path):
    path = write(tmp_path, """
        target:
          base_url: http://127.0.0.1:8080/api/
          headers: {X-A: target, X-B: target}
        scenario:
          think: 0.5
          tasks:
            - name: list
              path: users?page=2
              headers: {x-b: task}
              think: {pacing: 5s}
              expect: {status: ['404', 2XX], headers: {X-Trace: "{{trace}}"}}
    """)
    task = load_config(path, env={}).scenario.tasks[0]
    assert task["method"] == "GET" and task["weight"] == 1.0 and task["body"] is None
    assert task["path"] == "/api/users?page=2"  # relative to the base_url's path
    assert task["headers"] == {"X-A": "target", "x-b": "task"}
    assert task["think"] == ThinkTime("pacing", 5.0)
    assert task["expect"] == {"status": (404, "2xx"), "json": {}, "contains": None,
                              "headers": {"X-Trace": "{{trace}}"}}


def test_yaml_anchors_and_merge_keys(tmp_path):
    path = write(tmp_path, """
        target: {base_url: "http://127.0.0.1:8080"}
        scenario:
          tasks:
            - &hook
              name: a
              path: /webhook/telegram
              telegram: {command: /start}
            - <<: *hook
              name: b
    """)
    a, b = load_config(path, env={}).scenario.tasks
    assert (a["name"], b["name"]) == ("a", "b") and a["body"] == b["body"] and b["path"] == a["path"]


def test_catalog_and_user_pool(tmp_path):
    path = write(tmp_path, """
        target: {base_url: "http://127.0.0.1:8080"}
        scenario:
          users: {size: 20, seed: 0, tiers: {premium: 1}, languages: [de]}
          tasks: [{name: t, path: /}]
          catalog:
            - {name: /start, weight: 10}
            - {name: /remind, tier: premium, args: [18:00, call, mom], description: set a reminder}
            - {name: /echo, args: hello world}
    """)
    plan = load_config(path, env={})
    assert plan.user_pool == UserPoolSpec(size=20, seed=0, tiers=(("premium", 1.0),), languages=("de",))
    assert plan.catalog == (
        Command("/start", 10.0, "free", (), ""),
        Command("/remind", 1.0, "premium", ("18:00", "call", "mom"), "set a reminder"),
        Command("/echo", 1.0, "free", ("hello", "world"), ""),
    )


def test_config_without_scenario_is_the_fast_path(tmp_path):
    path = write(tmp_path, "target:\n  base_url: http://127.0.0.1:8080\n  insecure: true\n")
    plan = load_config(path, env={})
    assert plan.scenario is None
    assert [(r.method, r.path) for r in plan.requests] == [("GET", "/")]
    assert plan.insecure is True and plan.config_path == str(path)


# --- the python scenario -------------------------------------------------------------------

USER_CLASS = """
try:
    from driver.scenario import User
except ImportError:  # driver.scenario not written yet
    User = object


class Bot(User):
    pass
"""


def scenario_config(tmp_path: Path, python: str, source: str | None, name: str = "bot.py") -> Path:
    if source is not None:
        (tmp_path / name).write_text(textwrap.dedent(source).lstrip("\n"))
    return write(tmp_path, TARGET + f"scenario:\n  python: {python}\n")


def test_python_scenario_resolves_from_the_config_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "bot_helpers_for_config_test.py").write_text("NAME = 'bot'\n")
    path = scenario_config(tmp_path / "conf", "bot.py:Bot", "import bot_helpers_for_config_test\n" + USER_CLASS)
    monkeypatch.chdir(tmp_path)
    plan = load_config(path.relative_to(tmp_path), env={})
    assert plan.scenario.python == f"{tmp_path / 'conf' / 'bot.py'}:Bot"
    assert plan.scenario.base_dir == str(tmp_path / "conf")
    assert "_driver_scenario_bot" not in sys.modules
    assert not any(p == str(tmp_path / "conf") for p in sys.path)


def test_python_scenario_syntax_error(tmp_path):
    path = scenario_config(tmp_path, "bot.py", "import os\n\nx = = 1\n")
    assert error_of(path) == (f"{path}:4: scenario 'bot.py' does not import: "
                              "SyntaxError: invalid syntax (bot.py, line 3)")


def test_python_scenario_imports_a_missing_module(tmp_path):
    path = scenario_config(tmp_path, "bot.py:Bot", "import no_such_module_for_driver\n")
    assert error_of(path) == (f"{path}:4: scenario 'bot.py' does not import: "
                              "ModuleNotFoundError: No module named 'no_such_module_for_driver'")


def test_python_scenario_raises_at_import(tmp_path):
    path = scenario_config(tmp_path, "bot.py", "raise RuntimeError('no config\\nfor the bot')\n")
    assert error_of(path).endswith("does not import: RuntimeError: no config for the bot")


def test_python_scenario_file_not_found(tmp_path):
    path = scenario_config(tmp_path, "nope.py", None)
    message = error_of(path)
    assert message.startswith(f"{path}:4: scenario file 'nope.py' not found")


def test_python_scenario_module_not_found(tmp_path):
    path = scenario_config(tmp_path, "no_such_package_for_driver:Bot", None)
    assert error_of(path) == (f"{path}:4: scenario 'no_such_package_for_driver' does not import: "
                              "ModuleNotFoundError: No module named 'no_such_package_for_driver'")


def test_python_scenario_class_not_found(tmp_path):
    path = scenario_config(tmp_path, "bot.py:Bott", USER_CLASS)
    assert error_of(path) == f"{path}:4: scenario 'bot.py' has no class 'Bott' — did you mean 'Bot'?"


def test_python_scenario_module_needs_a_class(tmp_path):
    path = scenario_config(tmp_path, "json", None)
    assert "scenario.python must be FILE.py, FILE.py:Class or module:Class" in error_of(path)


def test_python_scenario_not_a_user_subclass(tmp_path):
    pytest.importorskip("driver.scenario")
    path = scenario_config(tmp_path, "bot.py:Bot", "class Bot:\n    pass\n")
    assert error_of(path) == f"{path}:4: scenario 'bot.py': Bot is not a subclass of driver.scenario.User"


# --- profiles and precedence -----------------------------------------------------------------

# (profile:, load:, overrides) -> (mode, peak users or rate, duration_s, max_in_flight or None)
PRECEDENCE = [
    # a profile alone: open loop at its rate, its users as the in-flight cap
    ("smoke", None, {}, (OPEN, 10.0, 30.0, 5)),
    # load: overrides the profile key by key
    ("smoke", "{users: 3}", {}, (OPEN, 10.0, 30.0, 3)),
    ("smoke", "{rate: 20, duration: 5s}", {}, (OPEN, 20.0, 5.0, 5)),
    # overrides win over both
    ("smoke", "{duration: 5s}", {"duration": "2s"}, (OPEN, 10.0, 2.0, 5)),
    ("smoke", None, {"profile": "heavy"}, (OPEN, 500.0, 600.0, 80)),  # heavy: {users: 80} below
    ("smoke", "{users: 3}", {"profile": "heavy", "users": 7}, (OPEN, 500.0, 600.0, 7)),
    # None in overrides means "not given"
    ("normal", None, {"users": None, "rate": None}, (OPEN, 200.0, 300.0, 50)),
    # no rate anywhere: a closed loop of users
    (None, "{users: 4}", {}, (CLOSED, 4.0, 10.0, None)),
    (None, "{users: 4}", {"rate": 50}, (OPEN, 50.0, 10.0, 4)),
    (None, None, {"users": 2, "duration": "1s"}, (CLOSED, 2.0, 1.0, None)),
    # a config's own profile, and a built-in one overridden key by key
    ("ci", None, {}, (OPEN, 50.0, 20.0, 20)),
    ("heavy", None, {}, (OPEN, 500.0, 600.0, 80)),
]


@pytest.mark.parametrize("profile, load, overrides, expected", PRECEDENCE)
def test_profile_precedence(tmp_path, profile, load, overrides, expected):
    text = TARGET + "profiles:\n  ci: {users: 20, rate: 50, duration: 20s}\n  heavy: {users: 80}\n"
    text += f"profile: {profile}\n" if profile else ""
    text += f"load: {load}\n" if load else ""
    plan = load_config(write(tmp_path, text), overrides, env={})
    mode, peak, duration, cap = expected
    assert (plan.mode, plan.shape.peak, plan.duration_s) == (mode, peak, duration)
    if cap is not None:
        assert plan.max_in_flight == cap
    assert plan.profile == (overrides.get("profile") or profile)


def test_override_stages_replace_config_ramp_up(tmp_path):
    path = write(tmp_path, TARGET + "load: {users: 10, ramp_up: 5s}\n")
    plan = load_config(path, {"stages": ("5s:10", "5s:0")}, env={})
    assert plan.shape.points == ((0.0, 0.0), (5.0, 10.0), (10.0, 0.0))


def test_stages_set_their_own_length_over_a_profile_duration(tmp_path):
    path = write(tmp_path, TARGET + "profile: smoke\nload:\n  stages: ['5s:20', '5s:20']\n")
    plan = load_config(path, env={})
    assert plan.duration_s == 10.0 and plan.shape.points == ((0.0, 10.0), (5.0, 20.0), (10.0, 20.0))
    assert plan.max_in_flight == 5  # the profile's users still cap the requests in flight


def test_overrides_think_timeout_and_insecure(tmp_path):
    path = write(tmp_path, TARGET + "scenario:\n  think: {between: [1s, 2s]}\n  tasks: [{name: t, path: /}]\n")
    plan = load_config(path, {"think": "250ms", "timeout": "3s", "insecure": True}, env={})
    assert plan.scenario.think == ThinkTime("constant", 0.25)
    assert plan.request_timeout_s == 3.0 and plan.insecure is True


def test_bad_override_names_the_flag_not_the_file(tmp_path):
    path = write(tmp_path, TARGET + "load: {users: 10}\n")
    assert error_of(path, {"users": -1}) == "--users must be > 0, got -1"
    assert error_of(path, {"ramp_up": "5s", "stages": ("5s:10",)}) == "give either --ramp-up or --stage, not both"
    assert error_of(path, {"profile": "hevy"}).startswith("unknown profile 'hevy' — did you mean 'heavy'?")


def test_unknown_override_is_a_programming_error(tmp_path):
    with pytest.raises(TypeError):
        load_config(write(tmp_path, TARGET), {"userz": 1}, env={})


def test_list_profiles(tmp_path):
    builtin = list_profiles()
    assert list(builtin) == ["smoke", "light", "normal", "heavy", "stress", "soak", "spike"]
    assert builtin["stress"] == {"users": 200, "rate": 1000.0, "duration": "5m", "description": "past the expected peak"}
    builtin["smoke"]["users"] = 999  # a copy: PROFILES stays as it is
    assert PROFILES["smoke"]["users"] == 5
    path = write(tmp_path, TARGET + "profiles:\n  ci: {users: 20, rate: 50, duration: 20s, description: gate}\n"
                                    "  heavy: {users: 80}\n  long: {users: 1, duration: 90}\n")
    mine = list_profiles(path)
    assert mine["ci"] == {"users": 20, "rate": 50.0, "duration": "20s", "description": "gate"}
    assert mine["heavy"] == {"users": 80, "rate": 500.0, "duration": "10m", "description": "a busy peak"}
    assert mine["long"]["duration"] == 90.0
    assert set(builtin) < set(mine)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_builtin_profiles_are_make_plan_keywords(name):
    plan = make_plan("http://127.0.0.1:8080/", **PROFILES[name])
    assert plan.mode == OPEN and plan.max_in_flight == PROFILES[name]["users"]


def test_unknown_profile_message():
    assert unknown_profile("hevy") == "unknown profile 'hevy' — did you mean 'heavy'? (driver profiles lists them)"
    assert unknown_profile("zzz", {"a": {}}) == "unknown profile 'zzz' (driver profiles lists them)"


def test_message_kinds_match_the_payload_generators():
    """Every kind and key a config accepts is a generator method and one of its arguments."""
    import inspect

    from driver.config.tasks import TELEGRAM_KINDS, WHATSAPP_KINDS
    from driver.payloads import telegram, whatsapp

    for table, module, cls in ((TELEGRAM_KINDS, telegram, telegram.TelegramUpdates),
                               (WHATSAPP_KINDS, whatsapp, whatsapp.WhatsAppNotifications)):
        assert set(table) == set(module.KINDS)
        for kind, keys in table.items():
            params = inspect.signature(getattr(cls, kind)).parameters
            assert set(keys.values()) <= set(params), kind


def test_a_bad_threshold_names_its_line(tmp_path):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("target: {base_url: 'http://127.0.0.1:8080'}\nthresholds:\n  - p99<5s\n  - p99<<5\n")
    with pytest.raises(PlanError, match=r"t\.yaml:4.*invalid threshold 'p99<<5'"):
        load_config(cfg)
