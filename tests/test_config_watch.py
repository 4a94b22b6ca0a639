"""The config's `watch:` section (pids, metrics URLs, metric names) and the scenario's
command checks: commands of YAML Telegram tasks against `scenario.catalog`, and the
scenario's `bot_username` in /cmd@bot. Every bad value is one line at file:line."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

from driver.config import load_config
from driver.errors import PlanError
from driver.payloads.telegram import TelegramUpdates
from driver.payloads.users import UserPool
from driver.plan import UserPoolSpec
from driver.runner.metrics import with_metrics

ROOT = Path(__file__).resolve().parents[1]
TARGET = "target:\n  base_url: http://127.0.0.1:8080\n"
CATALOG = "  catalog:\n    - {name: /start}\n    - {name: /stats}\n    - {name: /status}\n    - {name: /help}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driver.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(PlanError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert "\n" not in message
    return message


def tasks(*bodies: str, extra: str = CATALOG) -> str:
    items = "".join(f"    - {{name: t{i}, path: /hook, telegram: {b}}}\n" for i, b in enumerate(bodies))
    return TARGET + "scenario:\n  tasks:\n" + items + extra


# --- watch: --------------------------------------------------------------------------------


def test_watch_fills_the_plan_and_the_flags_add_to_it(tmp_path):
    path = write(tmp_path, TARGET + "watch:\n  pids: [101, 102, 101]\n"
                 "  metrics_url: http://127.0.0.1:9100/metrics\n  metrics: [queue_depth, 'pool{name=\"db\"}']\n")
    plan = load_config(path, env={})
    assert plan.watch_pids == (101, 102)
    assert plan.metrics_urls == ("http://127.0.0.1:9100/metrics",)
    assert plan.metric_names == ("queue_depth", 'pool{name="db"}')
    plan = with_metrics(plan, ["http://127.0.0.1:9200/metrics"], ["jobs"])
    assert plan.metrics_urls == ("http://127.0.0.1:9100/metrics", "http://127.0.0.1:9200/metrics")
    assert plan.metric_names == ("queue_depth", 'pool{name="db"}', "jobs")


def test_watch_takes_single_values(tmp_path):
    path = write(tmp_path, TARGET + "watch: {pids: 7, metrics_url: 'https://m.example/metrics', metrics: up}\n")
    plan = load_config(path, env={})
    assert (plan.watch_pids, plan.metrics_urls, plan.metric_names) == ((7,), ("https://m.example/metrics",), ("up",))


BAD_WATCH = [
    # (the watch section, line, message fragment)
    ("watch:\n  pids: [12, twelve]\n", 4, "watch.pids[1] must be an integer, got 'twelve'"),
    ("watch:\n  pids: [1.5]\n", 4, "watch.pids[0] must be an integer"),
    ("watch:\n  pids: [0]\n", 4, "watch.pids[0] must be > 0"),
    ("watch:\n  pids: [true]\n", 4, "watch.pids[0] must be an integer"),
    ("watch:\n  metrics_url: ftp://h/metrics\n  metrics: [x]\n", 4, "watch.metrics_url must be an http(s) URL"),
    ("watch:\n  metrics_url: [http://h/m, 127.0.0.1:9100]\n  metrics: [x]\n", 4,
     "watch.metrics_url[1] must be an http(s) URL"),
    ("watch:\n  metrics_url: http://u:hunter2@h/m\n", 4, "watch.metrics_url needs watch.metrics"),
    ("watch:\n  metrics: [x]\n", 4, "watch.metrics needs watch.metrics_url"),
    ("watch:\n  metrics_url: http://h/m\n  metrics:\n    - 'x{a=b}'\n", 6, "watch.metrics[0]: 'x{a=b}'"),
    ("watch:\n  pid: [1]\n", 4, "unknown key 'pid'"),
    ("watch: [1, 2]\n", 3, "watch must be a mapping"),
]


@pytest.mark.parametrize("section, line, fragment", BAD_WATCH, ids=[b[2] for b in BAD_WATCH])
def test_bad_watch_values_name_file_and_line(tmp_path, section, line, fragment):
    path = write(tmp_path, TARGET + section)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}:"), message
    assert fragment in message
    assert "hunter2" not in message


def test_a_bad_watch_is_one_line_and_exit_2_from_the_cli(tmp_path):
    path = write(tmp_path, TARGET + "watch:\n  pids: [abc]\n")
    done = subprocess.run([sys.executable, "-m", "driver.cli", "run", "-c", str(path)], cwd=ROOT,
                          capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1
    assert err.startswith(f"driver: error: {path}:4: watch.pids[0] must be an integer")


# --- commands against the catalog ----------------------------------------------------------


BAD_COMMANDS = [
    # (telegram bodies, line, message fragment)
    (["{command: /strat}"], 5, "scenario.tasks[0].telegram.command: /strat is not in scenario.catalog "
                               "— did you mean /stats, /start, /status?"),
    (["{command: /start}", "{kind: text, text: /stauts now}"], 6, "/stauts is not in scenario.catalog — did you "
                                                                  "mean /stats, /status, /start?"),
    (["{kind: group, text: '/hlep@some_bot please', mention: true}"], 5, "/hlep is not in scenario.catalog"),
    (["{kind: supergroup, text: /zzz}"], 5, "/zzz is not in scenario.catalog (set unlisted: true"),
    (["{command: /start, unlisted: maybe}"], 5, "unlisted must be true or false"),
]


@pytest.mark.parametrize("bodies, line, fragment", BAD_COMMANDS, ids=[b[2][:40] for b in BAD_COMMANDS])
def test_commands_not_in_the_catalog_name_file_line_and_close_matches(tmp_path, bodies, line, fragment):
    path = write(tmp_path, tasks(*bodies))
    message = error_of(path)
    assert message.startswith(f"{path}:{line}:"), message
    assert fragment in message


def test_listed_unlisted_templated_and_uncatalogued_commands_pass(tmp_path):
    path = write(tmp_path, tasks("{command: /start}", "{command: /nosuch, unlisted: true}",
                                 "{kind: text, text: hello /strat}", "{command: '/{{choice:start,nosuch}}'}",
                                 "{kind: group, text: '/help@driver_demo_bot'}"))
    plan = load_config(path, env={})
    bodies = [t["body"]["telegram"] for t in plan.scenario.tasks]
    assert bodies[1] == {"kind": "command", "command": "/nosuch"}  # `unlisted` is not a generator argument
    # without a catalog, no command is checked
    assert load_config(write(tmp_path, tasks("{command: /anything}", extra="")), env={}).scenario.tasks


# --- the scenario's bot_username -------------------------------------------------------------


def test_bot_username_names_the_bot_in_group_commands(tmp_path):
    path = write(tmp_path, tasks("{kind: group, text: /start, mention: true}", "{command: /help, mention: true}",
                                 "{kind: supergroup, text: /stats, mention: true, bot_username: other_bot}",
                                 extra=CATALOG + "  bot_username: '@acme_support_bot'\n"))
    plan = load_config(path, env={})
    assert plan.scenario.bot_username == "acme_support_bot"
    assert plan.describe()["scenario"]["bot_username"] == "acme_support_bot"
    bodies = [t["body"]["telegram"] for t in plan.scenario.tasks]
    assert [b.get("bot_username") for b in bodies] == ["acme_support_bot", "acme_support_bot", "other_bot"]
    # what the generator makes of it: /cmd@bot with its bot_command entity
    gen = TelegramUpdates()
    user = UserPool(UserPoolSpec(), 0, 1, 3).user(0)
    args = {k: v for k, v in bodies[0].items() if k != "kind"}
    update = orjson.loads(gen.render("group", user, **args))
    assert update["message"]["text"] == "/start@acme_support_bot"
    assert update["message"]["entities"][0]["type"] == "bot_command"


@pytest.mark.parametrize("value", ["'no'", "ab", "'1bot_name'", "[a, b]"])
def test_a_bad_bot_username_names_its_line(tmp_path, value):
    path = write(tmp_path, tasks("{command: /start}", extra=f"  bot_username: {value}\n"))
    message = error_of(path)
    assert message.startswith(f"{path}:6:") and "scenario.bot_username" in message
