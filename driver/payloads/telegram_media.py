"""Telegram kinds beyond text and the common media: audio, animation, venue,
video_note, dice, polls, and edits of media messages.

A mixin of `TelegramUpdates` (driver.payloads.telegram): the methods use its update
and message id counters, its cached `from`/`chat` objects (`_peer`) and its file ids
(`_file_ids`), so every kind keeps the generator's guarantees (ids increase within a
worker and never collide across workers; message ids count up per chat).

Fields per kind follow the Bot API's objects, including what Telegram sends twice for
older clients: an animation message also carries `document`, a venue also `location`.
`poll` is the state of the poll the bot sent to the user's chat (one per chat, id
fixed per user) after the user voted, and `poll_answer` is that vote: both carry the
same poll id, and option i has the persistent id "i" (Bot API 9.6 fields included:
`persistent_id`, `option_persistent_ids`, `allows_revoting`, `members_only`). Numbers a YAML step gives arrive as strings and are converted here.
"""
from __future__ import annotations

from time import time as _time

from orjson import dumps as _dumps

from driver.payloads.renderers import flag, integer, number
from driver.payloads.telegram_text import text_fields

__all__ = ["DICE", "MediaKinds", "PHOTO_SIZES", "photo_sizes"]

# (width, height, bytes) of the sizes Telegram keeps of a 1280x960 photo.
PHOTO_SIZES = ((90, 67, 1_423), (320, 240, 17_086), (800, 600, 74_561), (1280, 960, 158_327))
# The dice Telegram rolls, by emoji: the largest value (values run from 1).
DICE = {"\U0001F3B2": 6, "\U0001F3AF": 6, "\U0001F3B3": 6, "\U0001F3C0": 5, "\u26BD": 5,
        "\U0001F3B0": 64}
_POLL_BASE = 5_000_000_000_000_000_000  # poll ids: 19 digits, as Telegram's look


def photo_sizes(file_id: str, unique: str) -> list[dict]:
    """The PhotoSize list of one photo: a suffix letter per size makes each id unique."""
    return [{"file_id": f"{file_id}{tag}", "file_unique_id": f"{unique}{tag}", "file_size": size,
             "width": w, "height": h} for tag, (w, h, size) in zip("smxy", PHOTO_SIZES)]


def _thumb(file_id: str, unique: str, size: int, w: int, h: int) -> dict:
    return {"file_id": f"{file_id}t", "file_unique_id": f"{unique}t", "file_size": size,
            "width": w, "height": h}


class MediaKinds:
    """audio, animation, venue, video_note, dice, poll, poll_answer, edited_media."""

    KINDS = ("audio", "animation", "venue", "video_note", "dice", "poll", "poll_answer",
             "edited_media")

    def _media_message(self, user, kind: str, make, caption: str | None = None) -> bytes:
        """A message carrying `make(file_id, unique)`'s fields, and a caption."""
        update_id = next(self._ids)
        file_id, unique = self._file_ids(kind, user.id, update_id)
        content = make(file_id, unique)
        if caption is not None:
            content.update(text_fields(caption, caption=True))
        return self._wrap(user, update_id, content)

    def audio(self, user, title: str = "Morning Song", performer: str = "The Drivers",
              duration: int | str = 184, caption: str | None = None) -> bytes:
        """A music file (an mp3 with its tags), not a voice note."""
        duration = integer(duration, "duration", 1)
        return self._media_message(user, "audio", lambda file_id, unique: {"audio": {
            "duration": duration, "performer": performer, "title": title,
            "file_name": "song.mp3", "mime_type": "audio/mpeg", "file_id": file_id,
            "file_unique_id": unique, "file_size": 2_946_113}}, caption)

    def animation(self, user, caption: str | None = None) -> bytes:
        """A GIF (as Telegram keeps them, an mp4): `animation` and, for older clients,
        the same file as `document`."""
        def make(file_id, unique):
            thumb = _thumb(file_id, unique, 6_340, 320, 240)
            common = {"file_name": "animation.gif.mp4", "mime_type": "video/mp4",
                      "thumbnail": thumb, "file_id": file_id, "file_unique_id": unique,
                      "file_size": 412_806}
            return {"animation": {"duration": 3, "width": 480, "height": 360, **common},
                    "document": common}
        return self._media_message(user, "animation", make, caption)

    def video_note(self, user, duration: int | str = 9, length: int | str = 384) -> bytes:
        """A round video message; `length` is its diameter in pixels."""
        duration, length = integer(duration, "duration", 1), integer(length, "length", 1)
        return self._media_message(user, "video_note", lambda file_id, unique: {"video_note": {
            "duration": duration, "length": length,
            "thumbnail": _thumb(file_id, unique, 7_051, 240, 240), "file_id": file_id,
            "file_unique_id": unique, "file_size": 486_210}})

    def venue(self, user, title: str = "Brandenburger Tor",
              address: str = "Pariser Platz, 10117 Berlin",
              latitude: float | str | None = None, longitude: float | str | None = None) -> bytes:
        """A place picked from the map: `venue` and, for older clients, its `location`."""
        if latitude is None or longitude is None:  # around Berlin, fixed per user
            latitude = 52.52 + ((user.id * 7919) % 2001 - 1000) / 10_000
            longitude = 13.405 + ((user.id * 104_729) % 2001 - 1000) / 10_000
        location = {"latitude": number(latitude, "latitude", -90, 90),
                    "longitude": number(longitude, "longitude", -180, 180)}
        content = {"location": location,
                   "venue": {"location": location, "title": title, "address": address}}
        return self._wrap(user, next(self._ids), content)

    def dice(self, user, emoji: str = "\U0001F3B2", value: int | str | None = None) -> bytes:
        """An animated emoji with a random value: 1-6 for 🎲 🎯 🎳, 1-5 for 🏀 ⚽, 1-64 for
        🎰. Without `value` it follows from the update id (fixed, not random, per run)."""
        top = DICE.get(emoji)
        if top is None:
            raise ValueError(f"unknown dice emoji {emoji!r}; expected one of {' '.join(DICE)}")
        update_id = next(self._ids)
        if value is None:
            value = (update_id * 2_654_435_761 >> 7) % top + 1
        value = integer(value, "value", 1, top)
        return self._wrap(user, update_id, {"dice": {"emoji": emoji, "value": value}})

    def poll_id(self, user) -> str:
        """The id of the poll the bot sent to `user`'s chat."""
        return str(_POLL_BASE + user.id)

    @staticmethod
    def _options(options) -> list[str]:
        """Poll options as a list, or one string with | between them ("Yes|No")."""
        got = [o.strip() for o in options.split("|")] if isinstance(options, str) else list(options)
        if not 2 <= len(got) <= 10 or not all(got):
            raise ValueError(f"a poll takes 2-10 non-empty options, got {options!r}")
        return got

    def poll(self, user, question: str = "Pizza tonight?", options="Yes|No|Maybe",
             option: int | str = 0) -> bytes:
        """The new state of the bot's poll in the user's chat once they voted `option`."""
        options = self._options(options)
        option = integer(option, "option", 0, len(options) - 1)
        poll = {"id": self.poll_id(user), "question": question,
                "options": [{"persistent_id": str(i), "text": text, "voter_count": int(i == option)}
                            for i, text in enumerate(options)],
                "total_voter_count": 1, "is_closed": False, "is_anonymous": False,
                "type": "regular", "allows_multiple_answers": False, "allows_revoting": True,
                "members_only": False}
        return _dumps({"update_id": next(self._ids), "poll": poll})

    def poll_answer(self, user, option: int | str = 0, retract: bool | str = False) -> bytes:
        """The user votes `option` (from 0) in the bot's poll, or retracts their vote."""
        option_ids = [] if flag(retract, "retract") else [integer(option, "option", 0, 9)]
        answer = {"poll_id": self.poll_id(user), "user": self._peer(user).sender,
                  "option_ids": option_ids, "option_persistent_ids": [str(i) for i in option_ids]}
        return _dumps({"update_id": next(self._ids), "poll_answer": answer})

    def edited_media(self, user, media: str = "photo", caption: str | None = "Better one",
                     message_id: int | str | None = None) -> bytes:
        """The user replaces the photo or video of a message (by default the chat's
        latest) with a new one: an `edited_message` carrying the new file."""
        if media not in ("photo", "video"):
            raise ValueError(f"edited_media edits a photo or a video, got {media!r}")
        peer = self._peer(user)
        if message_id is None:
            message_id = self._last_message_id.get(user.chat_id) or self._message_id(user.chat_id)
        update_id = next(self._ids)
        file_id, unique = self._file_ids(media, user.id, update_id)
        now = int(_time())
        message = {"message_id": integer(message_id, "message_id", 1), "from": peer.sender,
                   "chat": peer.chat, "date": now - 30, "edit_date": now}
        if media == "photo":
            message["photo"] = photo_sizes(file_id, unique)
        else:
            message["video"] = {"duration": 12, "width": 1280, "height": 720,
                                "file_name": "video.mp4", "mime_type": "video/mp4",
                                "thumbnail": _thumb(file_id, unique, 9_218, 320, 180),
                                "file_id": file_id, "file_unique_id": unique,
                                "file_size": 2_310_557}
        if caption is not None:
            message.update(text_fields(caption, caption=True))
        return _dumps({"update_id": update_id, "edited_message": message})
