"""A real aiogram 3 webhook bot for the tests, with its own conventions (not the demo's).

    python tests/bots/aiogram_bot.py --port P --api http://127.0.0.1:M [--silent /admin] [--lie]

aiogram runs unmodified: its API base URL is set the documented way
(`AiohttpSession(api=TelegramAPIServer.from_base(...))`), its webhook handler is
aiogram's `SimpleRequestHandler` (answers 200 at once, handles in the background), and
replies go out as Bot API calls to the mock. Conventions a built-in checker would get
wrong: refusals read "Sorry: upgrade required", tiers by the catalog's id ranges, some
replies quote the update (`message.reply`), some do not (`message.answer`: matched by
chat order), /help answers with two messages, /settings with buttons.

--silent CMD: never answer CMD (replies go missing). --lie: refuse nobody (tier rules break).
--quote-all: every message quotes the update (`message.reply`).
--breaker N: API calls through a circuit breaker (driver.targets.breaker) as an aiogram
session middleware: N server errors or network failures in a row open it for 1 s.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # driver, for its breaker

from aiohttp import web
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
REFUSAL = "Sorry: upgrade required"
RANK = {"free": 0, "premium": 1, "admin": 2}


def tier_of(user_id: int) -> str:  # the catalog's id ranges
    return "admin" if user_id >= 3_000_000_000 else "premium" if user_id >= 2_000_000_000 else "free"


def build(args) -> Dispatcher:
    dp = Dispatcher()
    silent = set(args.silent)

    def answer(message: Message, text: str, **kw):
        return (message.reply if args.quote_all else message.answer)(text, **kw)

    def allowed(message: Message, need: str) -> bool:
        return args.lie or RANK[tier_of(message.from_user.id)] >= RANK[need]

    @dp.message(CommandStart())
    async def start(message: Message):
        if "/start" not in silent:
            await answer(message, f"Welcome, {message.from_user.first_name}!")

    @dp.message(Command("help"))
    async def help_(message: Message):
        if "/help" not in silent:
            await message.reply("Commands:")
            await answer(message, "/start /help /report /admin /settings")

    @dp.message(Command("report"))
    async def report(message: Message):
        if "/report" not in silent:
            await message.reply("Your report: 3 items" if allowed(message, "premium") else REFUSAL)

    @dp.message(Command("admin"))
    async def admin(message: Message):
        if "/admin" not in silent:
            await answer(message, "Admin panel" if allowed(message, "admin") else REFUSAL)

    @dp.message(Command("settings"))
    async def settings(message: Message):
        if "/settings" not in silent:
            kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Language", callback_data="lang")]])
            await message.reply("Settings:", reply_markup=kb)

    return dp


def breaker_middleware(failures: int):
    """aiogram's session middleware hook with a circuit breaker around every API call."""
    from aiogram.client.session.middlewares.base import BaseRequestMiddleware
    from aiogram.exceptions import TelegramNetworkError, TelegramServerError

    from driver.targets.breaker import CircuitBreaker

    breaker = CircuitBreaker(failures, 1.0, failure_types=(TelegramServerError, TelegramNetworkError))

    class Breaker(BaseRequestMiddleware):
        async def __call__(self, make_request, bot, method):
            return await breaker.call(make_request, bot, method)
    return Breaker()


async def main(args) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api))
    if args.breaker:
        session.middleware(breaker_middleware(args.breaker))
    bot = Bot(TOKEN, session=session)
    app = web.Application()
    app.router.add_get("/health", lambda r: web.json_response({"ok": True}))
    SimpleRequestHandler(dispatcher=build(args), bot=bot, handle_in_background=True).register(
        app, path="/webhook/telegram")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("aiogram bot listening", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await bot.session.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api", required=True)
    p.add_argument("--silent", action="append", default=[])
    p.add_argument("--lie", action="store_true")
    p.add_argument("--quote-all", action="store_true")
    p.add_argument("--breaker", type=int, default=0)
    asyncio.run(main(p.parse_args()))
