"""Telegram kinds outside the private chat, and around it: group and supergroup
messages, channel posts, members joining, join requests, reactions and payments.

A mixin of `TelegramUpdates` (driver.payloads.telegram), using its counters and
cached user objects. Each user has a group, a supergroup and a channel of their own
(ids from the user id: a group is -id, a supergroup -(10**12 + id) and a channel
-(10**12 + 5 * 10**11 + id), the "-100..." form of the Bot API), so the per-chat
message counter stays per user and workers never share a chat.

Group messages: `text` as written (a "/cmd" gets its bot_command entity, an @name a
mention), `mention=true` addresses the bot (`/cmd@bot` for a command, "@bot text"
otherwise), `reply=true` makes it a reply to the bot's last message in the group;
`bot_username` overrides the generator's for this kind (a bot under another name).
Payments: `pre_checkout_query` asks the bot to confirm an order, `successful_payment`
is the service message after it; amounts in the currency's smallest unit.
"""
from __future__ import annotations

from time import time as _time

from orjson import dumps as _dumps

from driver.payloads.renderers import flag, integer
from driver.payloads.telegram_text import text_fields, username

__all__ = ["ChatKinds"]

_SUPERGROUP = 10**12  # -100<id>: supergroups and channels
_CHANNEL = _SUPERGROUP + 5 * 10**11


class ChatKinds:
    """group, supergroup, channel_post, chat_member, chat_join_request,
    message_reaction, pre_checkout_query, successful_payment; my_chat_member (listed
    with the generator's first kinds)."""

    KINDS = ("group", "supergroup", "channel_post", "chat_member", "chat_join_request",
             "message_reaction", "pre_checkout_query", "successful_payment")

    @staticmethod
    def group_chat(user, supergroup: bool = False) -> dict:
        if supergroup:
            return {"id": -(_SUPERGROUP + user.id), "title": f"{user.first_name}'s community",
                    "type": "supergroup"}
        return {"id": -user.id, "title": f"{user.first_name}'s team", "type": "group"}

    @staticmethod
    def channel_chat(user) -> dict:
        return {"id": -(_CHANNEL + user.id), "title": f"{user.first_name}'s news",
                "type": "channel"}

    def _group_message(self, user, supergroup: bool, text: str, mention, reply,
                       bot_username: str | None) -> bytes:
        bot = self._bot if bot_username is None else {**self._bot, "username": username(bot_username)}
        name = bot["username"]
        if flag(mention, "mention"):
            if text[:1] == "/":
                head, _, rest = text.partition(" ")
                if "@" not in head:
                    text = f"{head}@{name} {rest}" if rest else f"{head}@{name}"
            else:
                text = f"@{name} {text}"
        chat = self.group_chat(user, supergroup)
        update_id = next(self._ids)
        now = int(_time())
        message = {"message_id": 0, "from": self._peer(user).sender, "chat": chat, "date": now}
        if flag(reply, "reply"):  # the bot's message replied to takes the id before
            message["reply_to_message"] = {
                "message_id": self._message_id(chat["id"]), "from": bot, "chat": chat,
                "date": now - 60, "text": "How can I help?"}
        message["message_id"] = self._message_id(chat["id"])
        message.update(text_fields(text))
        return _dumps({"update_id": update_id, "message": message})

    def group(self, user, text: str = "Hello everyone", mention: bool | str = False,
              reply: bool | str = False, bot_username: str | None = None) -> bytes:
        """A message from `user` in a basic group the bot is in."""
        return self._group_message(user, False, text, mention, reply, bot_username)

    def supergroup(self, user, text: str = "Hello everyone", mention: bool | str = False,
                   reply: bool | str = False, bot_username: str | None = None) -> bytes:
        """A message from `user` in a supergroup the bot is in."""
        return self._group_message(user, True, text, mention, reply, bot_username)

    def channel_post(self, user, text: str = "New post") -> bytes:
        """A post in the user's channel, where the bot is an admin: signed by the channel
        (`sender_chat`), without a `from`."""
        chat = self.channel_chat(user)
        update_id = next(self._ids)
        post = {"message_id": self._message_id(chat["id"]), "sender_chat": chat, "chat": chat,
                "date": int(_time()), **text_fields(text)}
        return _dumps({"update_id": update_id, "channel_post": post})

    def my_chat_member(self, user, blocked: bool | str = True) -> bytes:
        """The user blocks the bot (member -> kicked) or unblocks it (kicked -> member)."""
        peer = self._peer(user)
        sender, chat = peer.sender, peer.chat
        member = {"user": self._bot, "status": "member"}
        kicked = {"user": self._bot, "status": "kicked", "until_date": 0}
        old, new = (member, kicked) if flag(blocked, "blocked") else (kicked, member)
        change = {"chat": chat, "from": sender, "date": int(_time()),
                  "old_chat_member": old, "new_chat_member": new}
        return _dumps({"update_id": next(self._ids), "my_chat_member": change})

    def chat_member(self, user, joined: bool | str = True) -> bytes:
        """The user joins the supergroup (left -> member) or leaves it (member -> left)."""
        sender = self._peer(user).sender
        left, member = {"user": sender, "status": "left"}, {"user": sender, "status": "member"}
        old, new = (left, member) if flag(joined, "joined") else (member, left)
        change = {"chat": self.group_chat(user, True), "from": sender, "date": int(_time()),
                  "old_chat_member": old, "new_chat_member": new}
        return _dumps({"update_id": next(self._ids), "chat_member": change})

    def chat_join_request(self, user, bio: str | None = None) -> bytes:
        """The user asks to join the supergroup (the bot approves or declines)."""
        request = {"chat": self.group_chat(user, True), "from": self._peer(user).sender,
                   "user_chat_id": user.id, "date": int(_time())}
        if bio is not None:
            request["bio"] = bio
        return _dumps({"update_id": next(self._ids), "chat_join_request": request})

    def message_reaction(self, user, emoji: str = "\U0001F44D",
                         message_id: int | str | None = None) -> bytes:
        """The user reacts with `emoji` to a message of their chat (by default its latest);
        an empty emoji takes the reaction back."""
        peer = self._peer(user)
        if message_id is None:
            message_id = self._last_message_id.get(user.chat_id) or self._message_id(user.chat_id)
        mine = [{"type": "emoji", "emoji": emoji}] if emoji else []
        old, new = ([{"type": "emoji", "emoji": "\U0001F44D"}], []) if not emoji else ([], mine)
        reaction = {"chat": peer.chat, "message_id": integer(message_id, "message_id", 1),
                    "user": peer.sender, "date": int(_time()), "old_reaction": old,
                    "new_reaction": new}
        return _dumps({"update_id": next(self._ids), "message_reaction": reaction})

    def pre_checkout_query(self, user, payload: str = "order-42", currency: str = "EUR",
                           total_amount: int | str = 990) -> bytes:
        """The user confirmed an invoice: the bot must answer within 10 s."""
        update_id = next(self._ids)
        query = {"id": f"{user.id}{update_id}", "from": self._peer(user).sender,
                 "currency": currency, "total_amount": integer(total_amount, "total_amount", 1),
                 "invoice_payload": payload}
        return _dumps({"update_id": update_id, "pre_checkout_query": query})

    def successful_payment(self, user, payload: str = "order-42", currency: str = "EUR",
                           total_amount: int | str = 990) -> bytes:
        """The service message in the user's chat once a payment went through."""
        update_id = next(self._ids)
        payment = {"currency": currency, "total_amount": integer(total_amount, "total_amount", 1),
                   "invoice_payload": payload,
                   "telegram_payment_charge_id": f"TG-{user.id:010d}-{update_id:012d}",
                   "provider_payment_charge_id": f"pi_{user.id:x}{update_id:x}"}
        return self._wrap(user, update_id, {"successful_payment": payment})
