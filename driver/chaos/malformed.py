"""The malformed-payload battery: what each kind sends, and what answer is expected.

Pure: `build(kind, ...)` gives the (headers, body) of one request, from a valid body
of the platform. Every body is signed (or carries the secret token) correctly unless
the kind is about the secret, so that a 4xx means the bot rejected the payload, not
the credentials. A kind whose fault the bot cannot see is skipped (None): a wrong
secret token when the bot has none, a bad signature on Telegram.

Expected answers: a 4xx for every kind but `unknown_kind`, which a bot should answer
2xx (ignore it: platforms add update kinds) or 4xx. A 5xx, a dropped connection or a
timeout always fails the check.
"""
from __future__ import annotations

import hashlib
import hmac

import orjson

from driver.payloads.telegram import SECRET_HEADER
from driver.payloads.whatsapp import SIGNATURE_HEADER

__all__ = ["build", "valid_headers", "expected", "check", "HUGE_BYTES", "JSON"]

HUGE_BYTES = 4 * 2**20  # the huge body: above the usual 1 MiB limits (aiohttp, nginx), and bounded
JSON = "application/json"
_SECRET_KINDS = ("missing_secret", "wrong_secret", "bad_signature")


def _sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _auth(platform: str, body: bytes, secret_token: str | None, app_secret: str | None) -> dict[str, str]:
    if platform == "whatsapp":
        return {SIGNATURE_HEADER: _sign(body, app_secret)} if app_secret else {}
    return {SECRET_HEADER: secret_token} if secret_token else {}


def valid_headers(platform: str, body: bytes, secret_token: str | None = None,
                  app_secret: str | None = None) -> dict[str, str]:
    """The headers of a good update: JSON, with the secret token or the signature."""
    return {"Content-Type": JSON, **_auth(platform, body, secret_token, app_secret)}


def _body(kind: str, platform: str, valid: bytes) -> bytes:
    if kind == "truncated_json":
        return valid[: max(1, len(valid) // 2)]
    if kind == "wrong_types":
        if platform == "whatsapp":
            return orjson.dumps({"object": "whatsapp_business_account", "entry": "not-a-list"})
        return orjson.dumps({"update_id": "not-a-number", "message": ["not", "an", "object"]})
    if kind == "huge_body":
        if platform == "whatsapp":
            return orjson.dumps({"object": "whatsapp_business_account", "entry": [], "pad": "x" * HUGE_BYTES})
        return orjson.dumps({"update_id": 1, "message": {"message_id": 1, "text": "x" * HUGE_BYTES}})
    if kind == "invalid_utf8":
        return b'{"update_id": 1, "message": {"text": "\xff\xfe\xc3\x28 broken"}}'
    if kind == "unknown_kind":
        if platform == "whatsapp":
            return orjson.dumps({"object": "whatsapp_business_account", "entry": [
                {"id": "0", "changes": [{"field": "driver_unknown_field", "value": {"x": 1}}]}]})
        return orjson.dumps({"update_id": 2**31 - 7, "driver_unknown_update": {"x": 1}})
    if kind == "empty_body":
        return b""
    if kind == "non_json":
        return b"this is not JSON, and says so in its content type"
    return valid  # the secret kinds: a valid body, wrong credentials


def build(kind: str, platform: str, valid: bytes, secret_token: str | None = None,
          app_secret: str | None = None) -> tuple[dict[str, str], bytes] | None:
    """(headers, body) of one `kind` request; None when the bot cannot tell it from a
    good one (no secret configured, or a kind of the other platform)."""
    body = _body(kind, platform, valid)
    headers = {"Content-Type": "text/plain" if kind == "non_json" else JSON}
    if kind in _SECRET_KINDS:
        if platform == "whatsapp":
            if not app_secret:
                return None
            sig = {"missing_secret": None, "wrong_secret": _sign(body, app_secret + "-wrong"),
                   "bad_signature": "sha256=not-a-hex-digest"}[kind]
            if sig is not None:
                headers[SIGNATURE_HEADER] = sig
        else:
            if not secret_token or kind == "bad_signature":
                return None
            if kind == "wrong_secret":
                headers[SECRET_HEADER] = secret_token + "-wrong"
        return headers, body
    headers.update(_auth(platform, body, secret_token, app_secret))
    return headers, body


def expected(kind: str) -> str:
    """The answer a sound bot gives: "4xx", or "2xx or 4xx" for an unknown update kind."""
    return "2xx or 4xx" if kind == "unknown_kind" else "4xx"


def check(kind: str, status: int) -> tuple[bool, str]:
    """(passed, reason) for an answer `status` to `kind`."""
    ok = 400 <= status < 500 or (kind == "unknown_kind" and 200 <= status < 300)
    return ok, "" if ok else f"malformed {kind} answered {status}, expected {expected(kind)}"
