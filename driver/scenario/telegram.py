"""The built-in Telegram bot scenario: every command of a catalog, with tier checks.

Each iteration a user sends one command of the catalog (drawn by the command's
weight) as a webhook Update to `/webhook/telegram`, records it under the command's
name (`/start`, `/premium_report`...), and checks the bot's answer: 200, a
`sendMessage`, and allowed or refused as the catalog's tier rules say for this
user's tier. Users come from the synthetic pool, so their tiers follow the pool's
weights and their ids tell the bot their tier (see driver.payloads.catalog).

Subclass it to point at another path or catalog:

    class MyBot(CatalogBot):
        webhook_path = "/tg/hook"
        catalog = load_catalog([...])
"""
from __future__ import annotations

from driver.payloads.catalog import (
    DEFAULT_CATALOG,
    REFUSAL_PREFIX,
    command_text,
    expected_reply,
    tier_of_id,
)
from driver.payloads.telegram import TelegramUpdates
from driver.scenario.api import User, task



class CatalogBot(User):
    webhook_path = "/webhook/telegram"
    catalog = DEFAULT_CATALOG

    def _generator(self) -> TelegramUpdates:
        ctx = self.http.context  # one generator per worker: update ids stay unique
        gen = ctx.shared.get("telegram_updates")
        if gen is None:
            spec = ctx.spec
            gen = ctx.shared["telegram_updates"] = TelegramUpdates(
                secret_token=spec.telegram_secret, worker_index=ctx.index, n_workers=ctx.n_workers)
        return gen

    def _catalog(self) -> tuple:
        """The config's `catalog:` when it has one, else the class's."""
        ctx = self.http.context
        cat = ctx.shared.get("catalog")
        if cat is None:
            items = ctx.plan.catalog
            cat = ctx.shared["catalog"] = items or self.catalog
        return cat

    @task
    async def command(self):
        catalog = self._catalog()
        cmd = self.rng.choices(catalog, [c.weight for c in catalog])[0]
        gen = self._generator()
        name, _, args = command_text(cmd).partition(" ")
        body = gen.command(self.user, name, args or None)
        resp = await self.http.post(self.webhook_path, body=body,
                                    headers={"Content-Type": "application/json", **gen.headers()}, name=cmd.name)
        if not resp.expect(status=200, json={"method": "sendMessage"}):
            return
        tier = tier_of_id(self.user.id)
        refused = str(resp.json().get("text", "")).startswith(REFUSAL_PREFIX)
        want = expected_reply(cmd, tier)
        resp.check(refused == (want == "refused"), f"tier rule: {tier} user should be {want}")
