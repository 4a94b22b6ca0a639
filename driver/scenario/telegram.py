"""The built-in Telegram bot scenario: every command of a catalog, with tier checks.

Each iteration a user sends one command of the catalog (drawn by the command's
weight) as a webhook Update to `/webhook/telegram`, records it under the command's
name (`/start`, `/premium_report`...), and checks the bot's answer: allowed or
refused as the catalog's tier rules say for this user's tier. Users come from the
synthetic pool, so their tiers follow the pool's weights and their ids tell the bot
their tier (see driver.payloads.catalog).

Where the answer comes is the config's `replies:` (driver.plan.ReplySpec):
- channel `webhook` (the default without `replies:`): the webhook response is a
  `sendMessage` call, judged here;
- channel `api`: the bot answers 200 and calls the platform API (the run's mock); the
  update is handed to the bot side (driver.runner.botside), which times and judges the
  reply under `reply:<command>`;
- channel `both`: either; a reply in the webhook response is judged here and counts
  as the reply. The refusal pattern, the tier rule and the bot username are the
  config's too.

Subclass it to point at another path or catalog:

    class MyBot(CatalogBot):
        webhook_path = "/tg/hook"
        catalog = load_catalog([...])
"""
from __future__ import annotations

import re

from driver.payloads.catalog import (
    DEFAULT_CATALOG,
    TIERS,
    command_text,
    expected_reply,
)
from driver.payloads.telegram import TelegramUpdates
from driver.plan import ReplySpec
from driver.replies.rules import expect_code
from driver.scenario.api import User, task

WEBHOOK_ONLY = ReplySpec(channel="webhook")  # no `replies:` in the config: today's webhook bots


class CatalogBot(User):
    webhook_path = "/webhook/telegram"
    catalog = DEFAULT_CATALOG

    def _generator(self) -> TelegramUpdates:
        ctx = self.http.context  # one generator per worker: update ids stay unique
        gen = ctx.shared.get("telegram_updates")
        if gen is None:
            spec = ctx.spec
            username = spec.bot_username  # scenario.bot_username: /cmd@bot
            gen = ctx.shared["telegram_updates"] = TelegramUpdates(
                secret_token=spec.telegram_secret, worker_index=ctx.index, n_workers=ctx.n_workers,
                **({"bot_username": username} if username else {}))
        return gen

    def _catalog(self) -> tuple:
        """The config's `catalog:` when it has one, else the class's."""
        ctx = self.http.context
        cat = ctx.shared.get("catalog")
        if cat is None:
            items = ctx.plan.catalog
            cat = ctx.shared["catalog"] = items or self.catalog
        return cat

    def _replies(self) -> ReplySpec:
        return self.http.context.plan.replies or WEBHOOK_ONLY

    def _tier_of(self):
        shared = self.http.context.shared
        fn = shared.get("tier_of")
        if fn is None:
            fn = shared["tier_of"] = self._replies().tiers.resolver()
        return fn

    @task
    async def command(self):
        catalog = self._catalog()
        cmd = self.rng.choices(catalog, [c.weight for c in catalog])[0]
        gen = self._generator()
        ctx = self.http.context
        spec = self._replies()
        name, _, args = command_text(cmd).partition(" ")
        body = gen.command(self.user, name, args or None)
        chat = self.user.chat_id
        tracker = ctx.replies
        tier = self._tier_of()(self.user.id)
        want = expected_reply(cmd, tier)
        if tracker is not None:  # the reply comes as a call to the mock: the bot side judges it
            intended = self.iteration_start_ns if ctx.open_loop else None
            tracker.track(chat, gen.last_message_id(chat), ctx.slot(cmd.name), intended,
                          expect_code(want, TIERS.index(tier)))
        resp = await self.http.post(self.webhook_path, body=body,
                                    headers={"Content-Type": "application/json", **gen.headers()}, name=cmd.name)
        if not spec.via_webhook:
            if resp.expect(status=200) and tracker is not None and not ctx.open_loop:
                await tracker.wait(chat, gen.last_message_id(chat))  # as a person waits for the answer
            return
        if not resp.expect(status=200):
            return
        data = _json_object(resp)
        if spec.via_api and data.get("method") is None:
            return  # "both": no reply in the webhook response, so it comes as an API call
        if not resp.expect(json={"method": "sendMessage"}):
            return
        if tracker is not None:
            tracker.answered_in_webhook(chat, gen.last_message_id(chat), ctx.slot(cmd.name))
        refused = re.search(spec.rules.refusal, str(data.get("text", ""))) is not None
        resp.check(refused == (want == "refused"), f"tier rule: {tier} user should be {want}")


def _json_object(resp) -> dict:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
