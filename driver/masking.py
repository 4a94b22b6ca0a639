"""What is secret, and how it is masked wherever a plan or a message is shown.

A secret is the value of a credential header (by name: the fixed SECRET_HEADERS, or a
name with token/secret/key/passw/auth/cookie/credential/session/signature in it, or a
name a config lists under `secret_headers`), a value the config marks `!secret` or
registers as one, or the userinfo of a URL (`http://user:password@host/`). Nothing
here reads files or the environment: driver.config collects a config's secrets, and
driver.plan.Plan.describe masks them before a result is written.
"""
from __future__ import annotations

import re

MASK = "***"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
     "x-telegram-bot-api-secret-token", "x-hub-signature-256"}
)
# Header names that carry credentials by convention: X-Auth-Token, X-Access-Token,
# Api-Key, X-Client-Secret, X-Password, Session-Id...
_SECRET_NAME = re.compile(r"token|secret|key|passw|auth|cookie|credential|session|signature", re.I)

# scheme://, then the authority's userinfo up to its last @ (as urlsplit reads it); a
# quote ends it too, since messages quote the URLs they show
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#'\"]*@")
# a Telegram bot token in a Bot API path: /bot<id>:<secret>/method (the id is public)
_BOT_TOKEN = re.compile(r"(/(?:file/)?bot\d+:)[A-Za-z0-9_-]+")


def is_secret_header(name: str, extra=()) -> bool:
    """Whether a header's value is a secret: a well-known credential header, a name with
    token/secret/key/passw/auth/cookie/credential/session/signature in it, or one of
    `extra` (names a config marks secret; any case)."""
    lowered = name.strip().lower()
    return (lowered in SECRET_HEADERS or bool(_SECRET_NAME.search(lowered))
            or lowered in {e.strip().lower() for e in extra})


def mask_secrets(data, secrets):
    """`data` (JSON-like) with every secret value in any string replaced by MASK, URL
    credentials (`http://user:password@host`) masked, and the value of every secret
    header (`is_secret_header`) under a "headers" key masked, whether the headers are
    a mapping or [name, value] pairs. (A config's own secret header names reach here as
    secret values: the config loader registers their values.)"""
    secrets = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first: no partial leftovers
    return _mask(data, secrets)


def _mask(data, secrets):
    if isinstance(data, str):
        for secret in secrets:
            data = data.replace(secret, MASK)
        if "@" in data:
            data = mask_url(data)
        return mask_bot_token(data) if "/bot" in data else data
    if isinstance(data, dict):
        return {k: _mask_headers(v, secrets) if k == "headers" else _mask(v, secrets) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_mask(v, secrets) for v in data]
    return data


def _mask_headers(headers, secrets):
    if isinstance(headers, dict):
        return {k: MASK if is_secret_header(str(k)) else _mask(v, secrets) for k, v in headers.items()}
    if isinstance(headers, (list, tuple)):
        return [[pair[0], MASK if is_secret_header(pair[0]) else _mask(pair[1], secrets)]
                if isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
                else _mask(pair, secrets) for pair in headers]
    return _mask(headers, secrets)


def mask_bot_token(text: str) -> str:
    """`text` with the secret half of every Telegram bot token in a Bot API path masked:
    `/bot123456:AAH...xyz/sendMessage` -> `/bot123456:***/sendMessage`."""
    return _BOT_TOKEN.sub(lambda m: m.group(1) + MASK, text)


def mask_url(text: str) -> str:
    """`text` with the credentials of every URL in it masked: `http://alice:pw@host/` ->
    `http://***@host/`."""
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
