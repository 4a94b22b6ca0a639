"""The demo target's Telegram bot: a Bot API `Update` in, the webhook reply out.

A webhook bot answers an update with 200 and a Bot API method call as the body
(`{"method": "sendMessage", ...}`), which Telegram executes on the bot's behalf.

Commands: every command of `driver.payloads.catalog.DEFAULT_CATALOG`, plus the demo's
own /menu and /ping. The user's tier is `tier_of_id(message.from.id)` (no sender: free).
A command the tier allows gets its command-specific `sendMessage` (/settings and
/language carry inline keyboards); a command above the tier gets a `sendMessage` whose
text is `refusal_text(...)`, starting with "⛔" (200 either way, as a real bot). No
allowed reply starts with "⛔": echoed user text that would is prefixed.

A bot that replies through the Bot API instead (`api_replies`, the demo's API mode)
makes the same calls, each message a reply to the update's message
(`reply_parameters`); /help comes as a chat action and two messages, and a button
press as answerCallbackQuery and a message, so that a load test sees multi-call answers.

Everything here is pure: no state, no I/O, the same update always gets the same reply.
"""
from __future__ import annotations

from typing import Any, Callable

from driver.payloads.catalog import (
    DEFAULT_CATALOG,
    REFUSAL_PREFIX,
    refusal_text,
    tier_allows,
    tier_of_id,
)

__all__ = ["BOT_USERNAME", "SECRET_HEADER", "BadUpdate", "HELP_TEXT", "MENU_MARKUP", "chat_key",
           "handle_update", "api_replies"]

BOT_USERNAME = "driver_demo_bot"
#: The header Telegram sends the webhook secret in (`setWebhook(secret_token=...)`).
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# Update kinds that carry a Message object, and the other kinds a bot may be sent.
_MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")

HELP_TEXT = (
    "I am the driver demo bot.\n"
    "/start - greeting\n"
    "/help - this text\n"
    "/echo <text> - repeat <text>\n"
    "/menu - buttons to press\n"
    "/ping - pong\n"
    + "".join(f"{c.name} - {c.description}" + ("" if c.tier == "free" else f" ({c.tier})")
              + "\n" for c in DEFAULT_CATALOG if c.name not in ("/start", "/help", "/echo"))
).rstrip("\n")
MENU_MARKUP = {
    "inline_keyboard": [
        [
            {"text": "Red", "callback_data": "color:red"},
            {"text": "Blue", "callback_data": "color:blue"},
        ]
    ]
}
SETTINGS_MARKUP = {
    "inline_keyboard": [
        [{"text": "Notifications: on", "callback_data": "settings:notifications_off"}],
        [{"text": "Language", "callback_data": "settings:language"},
         {"text": "Privacy", "callback_data": "settings:privacy"}],
    ]
}
LANGUAGES = {"en": "English", "de": "Deutsch", "es": "Español", "fr": "Français"}
LANGUAGE_MARKUP = {
    "inline_keyboard": [
        [{"text": name, "callback_data": f"lang:{code}"} for code, name in LANGUAGES.items()]
    ]
}


class BadUpdate(ValueError):
    """The body parsed as JSON but is not a Bot API Update."""


def _send(chat_id: Any, text: str, **extra: Any) -> dict[str, Any]:
    return {"method": "sendMessage", "chat_id": chat_id, "text": text, **extra}


def _unrefusable(text: str) -> str:
    # Keeps the reply rule exact: only refusals start with the refusal mark.
    return "echo: " + text if text.startswith(REFUSAL_PREFIX) else text


def _digits(seed: str) -> int:
    """A small stable number derived from text (hash() is salted per process)."""
    return sum(map(ord, seed))


# --- command handlers: (args, sender, user tier) -> (text, extra sendMessage fields) ---

Reply = tuple[str, dict[str, Any]]


def _start(args: str, sender: dict, tier: str) -> Reply:
    first_name = sender.get("first_name") or "there"
    return f"Hello, {first_name}! I am the driver demo bot. Try /help.", {}


def _settings(args: str, sender: dict, tier: str) -> Reply:
    return "Settings:", {"reply_markup": SETTINGS_MARKUP}


def _language(args: str, sender: dict, tier: str) -> Reply:
    code = args.split()[0].lower() if args else ""
    text = (f"Language set to {LANGUAGES[code]}. Change it again:" if code in LANGUAGES
            else "Choose your language:")
    return text, {"reply_markup": LANGUAGE_MARKUP}


def _profile(args: str, sender: dict, tier: str) -> Reply:
    name = sender.get("first_name") or "unknown"
    return f"Profile: {name} (id {sender.get('id', '?')}), plan: {tier}.", {}


def _balance(args: str, sender: dict, tier: str) -> Reply:
    cents = _digits(str(sender.get("id", ""))) * 37
    return f"Your balance: {cents // 100}.{cents % 100:02d} credits.", {}


def _usage(usage: str, make: Callable[[str], str]) -> Callable[[str, dict, str], Reply]:
    """A handler that needs arguments: `make(args)`, or the usage line without any."""
    def handler(args: str, sender: dict, tier: str) -> Reply:
        return (_unrefusable(make(args)) if args else f"Usage: {usage}"), {}
    return handler


def _weather(city: str) -> str:
    n = _digits(city.lower())
    sky = ("sunny", "partly cloudy", "cloudy", "rainy")[n % 4]
    return f"Weather in {city}: {n % 35 - 5}°C, {sky}."


def _remind(args: str) -> str:
    when, _, what = args.partition(" ")
    return f"OK, I will remind you at {when}: {what or 'something'}."


def _fixed(text: str) -> Callable[[str, dict, str], Reply]:
    return lambda args, sender, tier: (text, {})


# Each catalog command, and the demo's own /menu and /ping.
_HANDLERS: dict[str, Callable[[str, dict, str], Reply]] = {
    "/start": _start,
    "/help": _fixed(HELP_TEXT),
    "/menu": lambda args, sender, tier: ("Pick a colour:", {"reply_markup": MENU_MARKUP}),
    "/ping": _fixed("pong"),
    "/settings": _settings,
    "/language": _language,
    "/profile": _profile,
    "/balance": _balance,
    "/subscribe": lambda args, sender, tier: (
        f"Subscribed to the {args or 'daily'} digest.", {}),
    "/unsubscribe": lambda args, sender, tier: (
        f"Unsubscribed from the {args or 'daily'} digest.", {}),
    "/search": _usage("/search <query>", lambda q: f"3 results for \"{q}\"."),
    "/echo": _usage("/echo <text>", lambda text: text),
    "/weather": _usage("/weather <city>", _weather),
    "/remind": _usage("/remind <HH:MM> <what>", _remind),
    "/feedback": _usage("/feedback <text>", lambda text: "Thanks for your feedback!"),
    "/history": _fixed("Your last actions: /search, /weather, /balance."),
    "/export": lambda args, sender, tier: (
        f"Your {args or 'csv'} export is ready: export-{sender.get('id', 0)}.{args or 'csv'}",
        {}),
    "/premium_report": lambda args, sender, tier: (
        f"Premium report ({args or 'month'}): 42 searches, 7 reminders.", {}),
    "/priority_support": _usage("/priority_support <problem>",
                                lambda text: "A priority agent will answer within 1 hour."),
    "/ai_chat": _usage("/ai_chat <prompt>", lambda p: f"Assistant: here is my answer to \"{p}\"."),
    "/broadcast": _usage("/broadcast <text>", lambda text: "Broadcast queued for all users."),
    "/stats": _fixed("Users: 12840, active today: 3121, updates/min: 950."),
    "/ban": _usage("/ban <user id>", lambda uid: f"User {uid} banned."),
    "/maintenance": lambda args, sender, tier: (
        f"Maintenance mode is {'off' if args.strip() == 'off' else 'on'}.", {}),
}
# The tier each command requires; commands outside the catalog are free.
_REQUIRED = {c.name: c.tier for c in DEFAULT_CATALOG}


def _command(text: str) -> tuple[str, str] | None:
    """`/echo@driver_demo_bot a b` -> ("/echo", "a b"); None when not a command."""
    if not text.startswith("/"):
        return None
    head, _, args = text.partition(" ")
    name, _, username = head[1:].partition("@")
    if username and username.lower() != BOT_USERNAME:
        return None  # a command meant for another bot in a group
    return "/" + name.lower(), args.strip()


def _user_tier(sender: dict) -> str:
    user_id = sender.get("id")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return "free"
    return tier_of_id(user_id)


def _reply_to_text(message: dict[str, Any], chat_id: Any, text: str) -> dict[str, Any]:
    command = _command(text)
    if command is None:
        return _send(chat_id, _unrefusable(text),
                     reply_to_message_id=message.get("message_id"))
    name, args = command
    handler = _HANDLERS.get(name)
    if handler is None:
        return _send(chat_id, f"Unknown command {name}. Try /help.")
    sender = message.get("from")
    if not isinstance(sender, dict):
        sender = {}
    tier = _user_tier(sender)
    required = _REQUIRED.get(name, "free")
    if not tier_allows(tier, required):
        return _send(chat_id, refusal_text(name, required, tier))
    reply_text, extra = handler(args, sender, tier)
    return _send(chat_id, reply_text, **extra)


def _message_chat_id(message: Any, kind: str) -> Any:
    if not isinstance(message, dict):
        raise BadUpdate(f"{kind} must be an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise BadUpdate(f"{kind}.chat.id must be an integer")
    return chat["id"]


def chat_key(update: Any) -> Any:
    """The chat an update belongs to (for rate limiting), or None; never raises."""
    if not isinstance(update, dict):
        return None
    for kind in _MESSAGE_KINDS:
        message = update.get(kind)
        if isinstance(message, dict):
            chat = message.get("chat")
            return chat.get("id") if isinstance(chat, dict) else None
    query = update.get("callback_query")
    if isinstance(query, dict):
        sender = query.get("from")
        return sender.get("id") if isinstance(sender, dict) else None
    return None


def handle_update(update: Any) -> dict[str, Any]:
    """Answer one Update as a webhook bot does: a Bot API method call, or `{}`.

    Raises BadUpdate when `update` is not an Update. Update kinds the bot has no
    answer for (inline queries, polls, ...) get `{}`, which Telegram ignores.
    """
    if not isinstance(update, dict):
        raise BadUpdate("an Update must be a JSON object")
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise BadUpdate("update_id must be an integer")
    for kind in _MESSAGE_KINDS:
        if kind in update:
            message = update[kind]
            chat_id = _message_chat_id(message, kind)
            if "channel" in kind:
                return {}  # bots do not answer channel posts
            text = message.get("text")
            if not isinstance(text, str):
                return _send(chat_id, "I can only read text messages.")
            if kind == "edited_message":
                return _send(
                    chat_id, f"You edited your message to: {text}",
                    reply_to_message_id=message.get("message_id"),
                )
            return _reply_to_text(message, chat_id, text)
    query = update.get("callback_query")
    if query is not None:
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise BadUpdate("callback_query.id must be a string")
        data = query.get("data") or ""
        choice = data.partition(":")[2] or data
        return {
            "method": "answerCallbackQuery",
            "callback_query_id": query["id"],
            "text": f"You chose {choice}" if choice else "Done",
        }
    return {}


# /help through the API: "typing...", then the text in two messages (intro and the
# demo's own commands, then the catalog's).
_HELP_LINES = HELP_TEXT.split("\n")
HELP_PARTS = ("\n".join(_HELP_LINES[:6]), "\n".join(_HELP_LINES[6:]))


def _message_of(update: dict[str, Any]) -> dict[str, Any] | None:
    for kind in _MESSAGE_KINDS:
        if isinstance(update.get(kind), dict):
            return update[kind]
    return None


def api_replies(update: Any) -> list[tuple[str, dict[str, Any]]]:
    """The Bot API calls (method, parameters) a bot replying through the API makes for
    one Update, in order; raises BadUpdate when it is not one. The texts and buttons
    are `handle_update`'s; each message carries `reply_parameters` naming the update's
    message (instead of `reply_to_message_id`)."""
    answer = handle_update(update)
    if not answer:
        return []
    params = dict(answer)
    method = params.pop("method")
    if method == "answerCallbackQuery":
        query = update["callback_query"]
        message = query.get("message")
        chat = message.get("chat") if isinstance(message, dict) else None
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if not isinstance(chat_id, int):
            sender = query.get("from")
            chat_id = sender.get("id") if isinstance(sender, dict) else None
        calls = [(method, params)]
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            calls.append(("sendMessage", {"chat_id": chat_id, "text": params["text"] + "."}))
        return calls
    message = _message_of(update)
    params.pop("reply_to_message_id", None)
    message_id = message.get("message_id") if message is not None else None
    if isinstance(message_id, int) and not isinstance(message_id, bool):
        params["reply_parameters"] = {"message_id": message_id}
    text = message.get("text") if message is not None else None
    command = _command(text) if isinstance(text, str) else None
    if command is not None and command[0] == "/help" and params.get("text") == HELP_TEXT:
        chat_id = params["chat_id"]
        return [("sendChatAction", {"chat_id": chat_id, "action": "typing"}),
                (method, {**params, "text": HELP_PARTS[0]}),
                (method, {**params, "text": HELP_PARTS[1]})]
    return [(method, params)]
