"""Text of Telegram messages as the Bot API delivers it: entities in UTF-16 units.

Telegram parses a message's text (and a media caption) before it reaches the bot and
sends what it found as `entities` (`caption_entities` for captions): here the two a
bot acts on, `bot_command` for text that starts with "/" (the first word, "/cmd" or
"/cmd@bot") and `mention` for every @username. Every generated text or caption goes
through `text_fields`, so text that starts with "/" always carries its bot_command.
Offsets and lengths count UTF-16 code units, as the Bot API does.
"""
from __future__ import annotations

import re

__all__ = ["entities", "text_fields", "utf16_len", "username"]

# @username as Telegram recognises one: 5-32 characters of letters, digits and _.
_MENTION_RE = re.compile(r"(?<![\w@/])@[A-Za-z][A-Za-z0-9_]{4,31}(?![\w@])")
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit of Bot API entity offsets."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def username(name: str) -> str:
    """`name` when it is a valid bot username (a letter, then 4-32 letters, digits, _)."""
    if not isinstance(name, str) or not _USERNAME_RE.fullmatch(name):
        raise ValueError(f"invalid bot username {name!r}: 4-32 characters, "
                         "a letter first, then letters, digits or _")
    return name


def entities(text: str) -> list[dict]:
    """The bot_command (text starting with "/") and mention entities of `text`."""
    found = []
    skip = 0
    if text[:1] == "/":
        head = text.split(maxsplit=1)[0]
        skip = len(head)  # "/cmd@bot": the @bot is part of the command
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(head)})
    if "@" in text:
        for match in _MENTION_RE.finditer(text, skip):
            found.append({"type": "mention", "offset": utf16_len(text[:match.start()]),
                          "length": utf16_len(match.group())})
    return found


def text_fields(text: str, caption: bool = False) -> dict:
    """{"text": text, "entities": [...]} (or caption / caption_entities), entities only
    when there are some, as Telegram sends them."""
    key, entities_key = ("caption", "caption_entities") if caption else ("text", "entities")
    fields = {key: text}
    if text[:1] == "/" or "@" in text:
        found = entities(text)
        if found:
            fields[entities_key] = found
    return fields
