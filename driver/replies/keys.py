"""Chat and message identities as int64 keys, the same in a worker and at the mock.

Telegram ids are integers (sent as JSON numbers, or as text in form and multipart
bodies: aiogram); WhatsApp's are text (`to` is a phone number, a message id a
`wamid.` string). A whole number, or text that is one, is its own key; any other
text is a stable 63-bit hash (a phone number written with +, spaces, dashes or
parentheses is its digits first, as WhatsApp's wa_id) of its UTF-8 (blake2b: the same in every process,
unlike `hash()`). 0 means "none".
"""
from __future__ import annotations

import re
from hashlib import blake2b
from typing import Any

__all__ = ["key_of"]

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_PHONE = re.compile(r"^\+?[\d ().-]{5,30}$")


def key_of(value: Any) -> int:
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        value = str(value)
    if not isinstance(value, str):
        return 0
    text = value.strip()
    if text.lstrip("+-").isdigit() and text.isascii():
        number = int(text.lstrip("+"))
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    if _PHONE.match(text):  # "+1 (555) 010-2030": the digits WhatsApp's wa_id keeps
        number = int(re.sub(r"\D", "", text))
        if number <= _INT64_MAX:
            return number
    if not text:
        return 0
    return int.from_bytes(blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little") >> 1 or 1
