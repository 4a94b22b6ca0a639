"""Match the updates driver sent to the bot's reply calls, and time them end to end.

Fed two streams: the updates the workers sent (`sent`, from their rings) and the
calls the bot made to the mock platform API (`reply`, from its call log). Only calls
that send a message and were answered 2xx are replies: a reply the mock failed (an
injected outage or error) never reached the user.

Matching, per reply:
1. by the message it replies to (`reply_to_message_id` / `reply_parameters` on
   Telegram, `context.message_id` on WhatsApp), when the bot sets it: the open update
   with that id, else (a reply quoting some other message) as 2. among the updates
   that carry no message id (callback queries);
2. otherwise by chat in order: the oldest update of the chat that has no reply yet;
   when every open update of the chat has one, the newest (another message of its
   answer). Updates are ordered by when they were sent, over every worker. Updates of
   an endpoint whose replies (nearly) always quote their update are left out as first
   replies here: the bot will quote them; this one answers something else.
   With several updates of a chat in flight and replies that quote nothing, order is
   all there is: a bot that answers them out of order is matched in order (closed-loop
   users wait for their answer, so only open loop has several in flight per chat).

Causality makes it exact without waiting: the bot-side process takes the replies it
has received, *then* drains the rings, then matches; an update was written to its ring
before it was sent, so before any reply to it.

An update is answered at its first reply (`on_first`: latency from its intended send
time to the reply's arrival at the mock) and closed `settle_ns` after its last message
(`on_close`: the last message's latency, the count, the reply checks) — or missing when
`timeout_ns` passes with no reply (`on_missing`). `finish()` at the end of a run closes
the answered ones and returns the still unanswered ones (`on_unfinished`).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import numpy as np

from driver.replies.keys import key_of
from driver.replies.ring import F_CHAT, F_EXPECT, F_INTENDED, F_MESSAGE, F_SLOT, F_SENT

__all__ = ["Update", "Correlator", "MAX_OPEN", "MAX_TEXTS"]

MAX_OPEN = 1_000_000  # open updates kept; beyond, new ones are not tracked (counted)
MAX_TEXTS = 4  # message texts kept per update for the reply checks
QUOTING_MIN, QUOTING_SHARE = 5, 0.9  # a source "quotes" after 5 first replies, 90% of them quoting
OUTCOME_ANSWERED = 1  # back to the worker: the update's answer is complete (closed)
OUTCOME_MISSING = 2  # back to the worker: no reply within the timeout (or the run ended)
WEBHOOK_REPLY = -1  # a ring record's expect field: "answered in the webhook response"


@dataclass(eq=False)
class Update:
    source: Hashable  # (worker, endpoint slot): where its name is
    chat: int
    message: int
    intended_ns: int
    sent_ns: int
    expect: int
    first_ns: int = 0
    last_ns: int = 0
    messages: int = 0
    buttons: bool = False
    webhook: bool = False  # (one of) its replies came in the webhook response, judged there
    texts: list = field(default_factory=list)


class Correlator:
    def __init__(self, timeout_ns: int, settle_ns: int, *,
                 on_first: Callable[[Update, int], None],
                 on_close: Callable[[Update], None],
                 on_missing: Callable[[Update], None],
                 on_unfinished: Callable[[Update], None] | None = None,
                 on_sent: Callable[[Update], None] | None = None,
                 max_open: int = MAX_OPEN):
        if timeout_ns <= 0 or settle_ns < 0:
            raise ValueError("the reply timeout must be > 0 and the settle time >= 0")
        self.timeout_ns = timeout_ns
        self.settle_ns = settle_ns
        self.on_first, self.on_close, self.on_missing = on_first, on_close, on_missing
        self.on_unfinished = on_unfinished
        self.on_sent = on_sent
        self.max_open = max_open
        self.by_message: dict[tuple[int, int], Update] = {}
        self.by_chat: dict[int, deque[Update]] = {}
        self.waiting: deque[Update] = deque()  # unanswered, by send time: the timeout sweep
        self.answered: dict[Update, None] = {}  # answered and still open
        self.settling: deque[tuple[int, Update]] = deque()  # (close after, update) per message
        self.open = 0
        # per source: first replies that quoted their update, and all first replies; a source
        # whose bot quotes (nearly) always is not given replies that quote nothing as a first
        # reply (they belong to another command's answer), only as more messages
        self.quoting: dict[Hashable, list[int]] = {}
        self.untracked = 0  # updates not tracked: over max_open
        self.unmatched = 0  # replies that matched no open update (late, or never asked for)

    # -- input
    def sent(self, source_of: Callable[[int], Hashable], records: np.ndarray) -> None:
        """Updates from one ring take (`source_of(slot)` names where they were counted)."""
        for row in records.tolist():
            if row[F_EXPECT] == WEBHOOK_REPLY:  # answered in the webhook response: a reply
                self.reply({"reply": True, "status": 200, "chat_id": row[F_CHAT], "webhook": True,
                            "reply_to_message_id": row[F_MESSAGE], "received_ns": row[F_SENT]})
                continue
            self.add(Update(source_of(row[F_SLOT]), row[F_CHAT], row[F_MESSAGE], row[F_INTENDED],
                            row[F_SENT] or row[F_INTENDED], row[F_EXPECT]))

    def add(self, update: Update) -> bool:
        if self.open >= self.max_open:
            self.untracked += 1
            return False
        self.open += 1
        if update.message:
            self.by_message[(update.chat, update.message)] = update
        chat = self.by_chat.get(update.chat)
        if chat is None:
            chat = self.by_chat[update.chat] = deque()
        chat.append(update)
        self.waiting.append(update)
        if self.on_sent is not None:
            self.on_sent(update)
        return True

    def reply(self, call: dict[str, Any]) -> Update | None:
        """One call logged by the mock; the update it answers (None: not a reply, or unmatched)."""
        if not call.get("reply") or not 200 <= call.get("status", 0) < 300:
            return None
        chat = key_of(call.get("chat_id"))
        now = call["received_ns"]
        update = None
        reply_to = call.get("reply_to_message_id")
        quoted = False
        if reply_to is not None:
            update = self.by_message.get((chat, key_of(reply_to)))
            quoted = update is not None
            if update is None:  # a reply to another message: only updates with no id of their own
                update = self._by_order(chat, now, unkeyed=True)
        else:
            update = self._by_order(chat, now)
        if update is None:
            self.unmatched += 1
            return None
        if call.get("webhook"):
            update.webhook = True
        elif len(update.texts) < MAX_TEXTS:
            update.texts.append(call.get("text") or "")
        update.buttons = update.buttons or bool(call.get("buttons"))
        update.messages += 1
        update.last_ns = now
        self.settling.append((now + self.settle_ns, update))
        if not update.first_ns:
            update.first_ns = now
            self.answered[update] = None
            seen = self.quoting.get(update.source)
            if seen is None:
                seen = self.quoting[update.source] = [0, 0]
            seen[0] += quoted
            seen[1] += 1
            self.on_first(update, now - update.intended_ns)
        return update

    def _by_order(self, chat: int, now: int, unkeyed: bool = False) -> Update | None:
        queue = self.by_chat.get(chat)
        if not queue:
            return None
        newest = None
        for update in queue:
            if update.sent_ns > now:
                break  # sent after this reply arrived: cannot be what it answers
            if unkeyed and update.message:
                continue
            if not update.first_ns:
                if self._quotes(update.source):
                    continue  # its own reply will quote it: this one is another update's
                return update
            newest = update
        return newest

    def _quotes(self, source: Hashable) -> bool:
        seen = self.quoting.get(source)
        return seen is not None and seen[0] >= QUOTING_MIN and seen[0] >= QUOTING_SHARE * seen[1]

    # -- time
    def tick(self, now: int) -> None:
        """Close the answered updates that settled, and time out the unanswered ones."""
        waiting = self.waiting
        limit = now - self.timeout_ns
        while waiting and (waiting[0].first_ns or waiting[0].intended_ns <= limit):
            update = waiting.popleft()
            if not update.first_ns:
                self._remove(update)
                self.on_missing(update)
        settling = self.settling
        while settling and settling[0][0] <= now:
            due, update = settling.popleft()
            # a later message moved its close on: that message has its own entry
            if update.last_ns + self.settle_ns == due and update in self.answered:
                del self.answered[update]
                self._remove(update)
                self.on_close(update)

    def finish(self) -> list[Update]:
        """The end of the run: close every answered update; the unanswered ones are
        returned (and given to `on_unfinished`), their wait cut short by the end."""
        self.settling.clear()
        for update in list(self.answered):
            del self.answered[update]
            self._remove(update)
            self.on_close(update)
        left = [u for u in self.waiting if not u.first_ns]
        self.waiting.clear()
        for update in left:
            self._remove(update)
            if self.on_unfinished is not None:
                self.on_unfinished(update)
        return left

    def _remove(self, update: Update) -> None:
        self.open -= 1
        if update.message:
            key = (update.chat, update.message)
            if self.by_message.get(key) is update:
                del self.by_message[key]
        queue = self.by_chat.get(update.chat)
        if queue is not None:
            try:
                queue.remove(update)
            except ValueError:
                pass
            if not queue:
                del self.by_chat[update.chat]
