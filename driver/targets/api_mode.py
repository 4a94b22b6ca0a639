"""The demo bot's API mode: replies sent through the platform APIs, not in the webhook
answer, as real bots do.

With a Telegram API URL set, `POST /webhook/telegram` validates the update (4xx for a
bad one, as in webhook mode), answers 200 `{}` at once, and the bot then calls
`{api_url}/bot{token}/{method}` (sendMessage, sendChatAction, answerCallbackQuery:
`telegram_bot.api_replies`). With a WhatsApp API URL set, `POST /webhook/whatsapp`
does the same and posts each reply message to
`{api_url}/v21.0/{phone_number_id}/messages` with `Authorization: Bearer <token>` and
`context.message_id` naming the incoming message (the number id comes from the
notification's `metadata`). Each platform has its own `CircuitBreaker` and `Replier`;
either can be in API mode without the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driver.targets.breaker import CircuitBreaker
from driver.targets.replier import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_RETRY_AFTER_CAP_S,
    DEFAULT_TIMEOUT_S,
    ApiCall,
    ApiUnavailable,
    Replier,
)
from driver.targets.telegram_bot import api_replies
from driver.targets.whatsapp_bot import WhatsAppBot

__all__ = ["ApiSettings", "ApiMode", "GRAPH_VERSION", "DEFAULT_BOT_TOKEN",
           "DEFAULT_WHATSAPP_TOKEN"]

GRAPH_VERSION = "v21.0"
DEFAULT_BOT_TOKEN = "123456:TEST"
DEFAULT_WHATSAPP_TOKEN = "demo-access-token"


def _base_url(url: str, flag: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1]) == 0:
        raise ValueError(f"{flag} must be an http:// or https:// URL, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class ApiSettings:
    """Where and how the bot calls the platforms. None URL: that platform stays in
    webhook mode. Breaker: `breaker_failures` consecutive failures trip it, it probes
    after `breaker_reset_s`. Checked on construction (ValueError names the setting)."""
    telegram_url: str | None = None
    bot_token: str = DEFAULT_BOT_TOKEN
    whatsapp_url: str | None = None
    whatsapp_token: str = DEFAULT_WHATSAPP_TOKEN
    breaker_failures: int = 5
    breaker_reset_s: float = 5.0
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S

    def __post_init__(self) -> None:
        for field, name in (("telegram_url", "api_url (--api-url)"),
                            ("whatsapp_url", "whatsapp_api_url (--whatsapp-api-url)")):
            url = getattr(self, field)
            if url is not None:
                object.__setattr__(self, field, _base_url(url, name))
        if not self.bot_token or "/" in self.bot_token:
            raise ValueError("bot_token must be non-empty and contain no '/'")
        if not self.whatsapp_token:
            raise ValueError("whatsapp_token must not be empty")
        # the breaker and the replier check their own numbers
        CircuitBreaker(self.breaker_failures, self.breaker_reset_s)


class ApiMode:
    """The repliers of the platforms in API mode, started and closed with the app."""

    def __init__(self, settings: ApiSettings, delay_s: float = 0.0) -> None:
        self.settings = settings
        self.telegram = self._replier("telegram", delay_s) if settings.telegram_url else None
        self.whatsapp = self._replier("whatsapp", delay_s) if settings.whatsapp_url else None

    def _replier(self, name: str, delay_s: float) -> Replier:
        s = self.settings
        breaker = CircuitBreaker(s.breaker_failures, s.breaker_reset_s,
                                 failure_types=(ApiUnavailable,), name=name)
        return Replier(breaker, timeout_s=s.timeout_s, max_in_flight=s.max_in_flight,
                       retry_after_cap_s=s.retry_after_cap_s, delay_s=delay_s)

    def _repliers(self) -> list[Replier]:
        return [r for r in (self.telegram, self.whatsapp) if r is not None]

    async def start(self) -> None:
        for replier in self._repliers():
            await replier.start()

    async def close(self) -> None:
        for replier in self._repliers():
            await replier.close()

    def telegram_calls(self, update: Any) -> list[ApiCall]:
        """The calls answering one update (raises BadUpdate when it is not one)."""
        base = f"{self.settings.telegram_url}/bot{self.settings.bot_token}/"
        return [ApiCall(method, base + method, params) for method, params in api_replies(update)]

    def whatsapp_calls(self, bot: WhatsAppBot, notification: Any) -> list[ApiCall]:
        """The messages answering one notification (raises BadNotification when it is
        not one; status-only notifications get none)."""
        headers = {"Authorization": f"Bearer {self.settings.whatsapp_token}"}
        return [ApiCall("messages",
                        f"{self.settings.whatsapp_url}/{GRAPH_VERSION}/{m.phone_number_id}"
                        "/messages",
                        {**reply, "context": {"message_id": m.wamid}}, headers)
                for m, reply in bot.api_replies(notification)]

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.telegram is not None:
            out["telegram"] = self.telegram.snapshot()
        if self.whatsapp is not None:
            out["whatsapp"] = self.whatsapp.snapshot()
        return out
