"""Synthetic users and the request bodies they send: Telegram updates, WhatsApp
webhook notifications and generic templates. Everything here is built once per worker
and rendered per request; no module has side effects on import.
"""
from driver.payloads.telegram import TelegramUpdates
from driver.payloads.templates import Template, TemplateError, compile_template
from driver.payloads.users import SyntheticUser, UserPool, worker_share
from driver.payloads.whatsapp import WhatsAppNotifications

__all__ = [
    "SyntheticUser",
    "UserPool",
    "worker_share",
    "TelegramUpdates",
    "WhatsAppNotifications",
    "Template",
    "TemplateError",
    "compile_template",
]
