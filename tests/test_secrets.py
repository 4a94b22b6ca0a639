"""Secrets never reach a message, a report, a log or a result.

A secret is a credential in a header (Authorization, X-Auth-Token, Api-Key... by name or
by the config's `secret_headers`), a `!secret` value, or the userinfo of a URL. The
end-to-end tests run a real load against a loopback aiohttp server that checks the
secrets did arrive, then scan every file the run wrote, and its output, for them.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from driver.config.loader import validate_config
from driver.errors import PlanError
from driver.masking import MASK, is_secret_header, mask_secrets, mask_url
from driver.plan import parse_header, parse_url
from driver.planning import make_plan
from tests.servers import aiohttp_server, refused_port

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {
    "Authorization": "Bearer AUTHSECRET-1",
    "X-Auth-Token": "TOKSECRET-2",
    "X-Access-Token": "ACCESSSECRET-3",
    "Api-Key": "KEYSECRET-4",
    "X-Client-Secret": "CLIENTSECRET-5",
}
CUSTOM = ("X-Signed-By", "CUSTOMSECRET-6")  # no pattern matches: only the config can mark it
PASSWORD = "URLPASSWORD-7"


def driver_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "driver.cli", *args], cwd=ROOT, capture_output=True,
                          timeout=timeout)


@pytest.mark.parametrize("name, secret", [
    # by the fixed list
    ("Authorization", True), ("proxy-authorization", True), ("Cookie", True), ("X-Api-Key", True),
    ("X-Telegram-Bot-Api-Secret-Token", True),
    # by pattern: the names the issue found in result.json
    ("X-Auth-Token", True), ("X-Access-Token", True), ("Api-Key", True), ("X-Client-Secret", True),
    ("X-Password", True), ("X-Session-Id", True), ("X-Hub-Signature-256", True),
    # not secrets
    ("Content-Type", False), ("Accept", False), ("User-Agent", False), ("X-Request-Id", False),
    ("Keep-Alive", False), ("X-Signed-By", False),
])
def test_secret_header_names(name, secret):
    assert is_secret_header(name) is secret


def test_secret_header_names_from_the_config_in_any_case():
    assert is_secret_header("X-Signed-By", extra=("x-signed-by",))
    assert is_secret_header("x-signed-by", extra=("X-Signed-By",))


def test_mask_secrets_masks_values_headers_and_url_credentials():
    data = {
        "target": "http://alice:pw@host/x",
        "note": "sent S3CRET twice: S3CRET",
        "requests": [{"headers": [["X-Auth-Token", "t"], ["Accept", "*/*"], ["X-Mine", "S3CRET"]]}],
        "task": {"headers": {"Api-Key": "k", "Content-Type": "application/json"}},
    }
    assert mask_secrets(data, ["S3CRET"]) == {
        "target": f"http://{MASK}@host/x",
        "note": f"sent {MASK} twice: {MASK}",
        "requests": [{"headers": [["X-Auth-Token", MASK], ["Accept", "*/*"], ["X-Mine", MASK]]}],
        "task": {"headers": {"Api-Key": MASK, "Content-Type": "application/json"}},
    }


def test_longer_secrets_are_masked_first():
    # "abc" inside "abcdef": masking the short one first would leave "def" behind
    assert mask_secrets({"s": "x abcdef y"}, ["abc", "abcdef"]) == {"s": f"x {MASK} y"}


@pytest.mark.parametrize("text, shown", [
    ("http://alice:pw@host/", f"http://{MASK}@host/"),
    ("'https://a@b:p@w@host:1/x@y'", f"'https://{MASK}@host:1/x@y'"),  # the last @ of the authority
    ("http://host/path@x", "http://host/path@x"),  # an @ in the path is not userinfo
    ("mail a@b.c", "mail a@b.c"),
])
def test_mask_url(text, shown):
    assert mask_url(text) == shown


def test_header_without_colon_does_not_echo_the_secret():
    """Before: `header 'Authorization Bearer SUPERSECRET123' has no colon`."""
    with pytest.raises(PlanError) as exc:
        parse_header("Authorization Bearer SUPERSECRET123")
    assert "SUPERSECRET123" not in str(exc.value) and "'Authorization ***'" in str(exc.value)
    with refused_port() as port:
        proc = driver_cli("run", port.url + "/", "-H", "Authorization Bearer SUPERSECRET123")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "has no colon" in err and "SUPERSECRET123" not in err


@pytest.mark.parametrize("header", ["Authorization Bearer: SUPER SECRET123", "X-A: SUPERSECRET123\x01",
                                    "X-A: SUPERSECRET123é"])
def test_no_header_error_shows_the_value(header):
    with pytest.raises(PlanError) as exc:
        parse_header(header)
    assert "SECRET123" not in str(exc.value)


@pytest.mark.parametrize("url", [
    f"http://alice:{PASSWORD}@127.0.0.1:99999/",  # port out of range
    f"ftp://alice:{PASSWORD}@127.0.0.1/",
    f"http://alice:{PASSWORD}@/x",
    f"http://alice:{PASSWORD}@127.0.0.1/a b",
    f"http://alice:{PASSWORD}@[::1/",
])
def test_url_errors_mask_the_credentials(url):
    with pytest.raises(PlanError) as exc:
        parse_url(url)
    assert PASSWORD not in str(exc.value) and MASK in str(exc.value)


def test_url_error_on_the_command_line_masks_the_credentials():
    proc = driver_cli("run", f"http://alice:{PASSWORD}@127.0.0.1:99999/")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "malformed URL" in err and PASSWORD not in err


def test_config_base_url_error_masks_the_credentials(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"target: {{base_url: 'http://alice:{PASSWORD}@127.0.0.1:99999/'}}\n")
    with pytest.raises(PlanError) as exc:
        validate_config(config)
    assert "c.yaml:1:" in str(exc.value) and PASSWORD not in str(exc.value)


def test_config_secret_headers_mark_more_names(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"secret_headers: [{CUSTOM[0]}]\n"
                      f"target:\n  base_url: http://127.0.0.1:1\n  headers: {{{CUSTOM[0]}: {CUSTOM[1]}}}\n")
    assert CUSTOM[1] in validate_config(config).secrets
    config.write_text("secret_headers: ['Bad Name']\ntarget: {base_url: 'http://127.0.0.1:1'}\n")
    with pytest.raises(PlanError, match="c.yaml:1: secret_headers: invalid header name 'Bad Name'"):
        validate_config(config)


def test_describe_masks_secret_headers_by_pattern():
    plan = make_plan("http://127.0.0.1/", headers=[f"{k}: {v}" for k, v in SECRETS.items()])
    text = str(plan.describe())
    assert not [v for v in SECRETS.values() if v in text]


# --- a real run, every output scanned -------------------------------------------------


def _recording_app(seen: list):
    from aiohttp import web

    async def ok(request):
        await request.read()
        seen.append(dict(request.headers))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


def _leaks(out_dir: Path, proc, secrets) -> list[str]:
    found = []
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    assert files, "the run wrote nothing"
    for path in files:
        data = path.read_bytes()
        found += [f"{path.name}: {s}" for s in secrets if s.encode() in data]
    for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        found += [f"{name}: {s}" for s in secrets if s.encode() in stream]
    return found


def test_no_secret_reaches_any_output_of_a_cli_run(tmp_path):
    """Before: X-Auth-Token, X-Access-Token and Api-Key values were in result.json and
    report.html."""
    seen: list = []
    with aiohttp_server(lambda: _recording_app(seen)) as srv:
        url = f"http://alice:{PASSWORD}@127.0.0.1:{srv.port}/hook"
        headers = [a for k, v in SECRETS.items() for a in ("-H", f"{k}: {v}")]
        proc = driver_cli("run", url, *headers, "-u", "2", "-w", "1", "-d", "0.5s", "-q",
                          "--report", "json,html,md,csv,junit", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert seen and all(seen[0].get(k) == v for k, v in SECRETS.items())  # they were sent
    assert _leaks(tmp_path, proc, [*SECRETS.values(), PASSWORD]) == []


def test_no_secret_reaches_any_output_of_a_config_run(tmp_path):
    seen: list = []
    with aiohttp_server(lambda: _recording_app(seen)) as srv:
        headers = "\n".join(f"    {k}: '{v}'" for k, v in SECRETS.items())
        config = tmp_path / "c.yaml"
        config.write_text(f"secret_headers: [{CUSTOM[0]}]\n"
                          f"target:\n  base_url: {srv.url}\n  headers:\n{headers}\n"
                          f"    {CUSTOM[0]}: {CUSTOM[1]}\n"
                          "load: {users: 2, duration: 0.5s, workers: 1}\n")
        out = tmp_path / "out"
        proc = driver_cli("run", "-c", str(config), "-q", "--report", "json,html,md,csv,junit", "-o", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    assert seen and seen[0].get(CUSTOM[0]) == CUSTOM[1]
    assert _leaks(out, proc, [*SECRETS.values(), CUSTOM[1]]) == []


@pytest.mark.parametrize(
    "text, want",
    [
        ("POST /bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "POST /bot123456:***/sendMessage"),
        ("GET /file/bot42:abc-DEF_1/photos/1.jpg", "GET /file/bot42:***/photos/1.jpg"),
        ("POST /webhook/telegram", "POST /webhook/telegram"),  # no token: unchanged
        ("GET /bots/12", "GET /bots/12"),
    ],
)
def test_bot_tokens_are_masked_in_text(text, want):
    from driver.masking import mask_bot_token

    assert mask_bot_token(text) == want


def test_a_bot_api_url_never_puts_its_token_in_names_or_the_plan():
    # loading the mock Telegram API directly: the URL path carries the bot's token
    from driver.engine.endpoints import default_name

    plan = make_plan("http://127.0.0.1:9/bot123456:SECRETpart_xyz/sendMessage", method="POST", body="{}")
    assert "SECRETpart_xyz" not in plan.requests[0].name
    assert "SECRETpart_xyz" not in str(plan.describe())
    assert "SECRETpart_xyz" not in default_name("POST", "/bot123456:SECRETpart_xyz/sendMessage")
