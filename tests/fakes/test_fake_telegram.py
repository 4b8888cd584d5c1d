"""The fake Telegram Bot API, exercised by the real python-telegram-bot over HTTP.

The bot runs on an asyncio loop in the test; the fake's blocking helpers (wait_for_bot_message)
are called through asyncio.to_thread so they don't stall the loop the bot polls on.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.request

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, CommandHandler

from .telegram_api import FakeTelegram

ALICE, BOB = 1001, 1002


@pytest.fixture
def fake():
    with FakeTelegram() as fake:
        yield fake


def bot_for(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(token or fake.token, base_url=f"{fake.base_url}/bot")


def app_for(fake: FakeTelegram, *handlers, rate_limiter=None) -> Application:
    builder = Application.builder().token(fake.token).base_url(f"{fake.base_url}/bot")
    if rate_limiter:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    for handler in handlers:
        app.add_handler(handler)
    return app


@contextlib.asynccontextmanager
async def polling(app: Application):
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def start(update, context):
    name = update.effective_user.first_name
    await update.message.reply_text(f"<b>Welcome</b>, {name}!", parse_mode=ParseMode.HTML)


def test_start_command_is_answered_in_that_chat_only(fake):
    fake.send_user_message(BOB, "hello there", first_name="Bob")

    async def scenario():
        async with polling(app_for(fake, CommandHandler("start", start))):
            fake.send_user_message(ALICE, "/start", first_name="Alice")
            return await asyncio.to_thread(fake.wait_for_bot_message, ALICE, "Welcome")

    reply = asyncio.run(scenario())
    assert reply["text"] == "Welcome, Alice!"
    assert reply["source"] == "<b>Welcome</b>, Alice!"
    assert reply["parse_mode"] == "HTML"
    assert reply["entities"] == [{"type": "bold", "offset": 0, "length": 7}]
    assert [m["from_bot"] for m in fake.transcript(ALICE)] == [False, True]
    assert fake.bot_messages(BOB) == []


def test_a_user_message_deleted_by_the_bot_is_marked_deleted(fake):
    sent = fake.send_user_message(ALICE, "my api secret is hunter2")

    async def scenario():
        async with bot_for(fake) as bot:
            return await bot.delete_message(ALICE, sent["message_id"])

    assert asyncio.run(scenario()) is True
    [entry] = fake.transcript(ALICE)
    assert entry["deleted"] and not entry["from_bot"]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter's own
def test_429_is_retried_by_the_rate_limiter_and_delivered(fake):
    fake.send_user_message(ALICE, "/start")
    fake.inject_fault("sendMessage", 429, retry_after=1)

    async def scenario():
        async with app_for(fake, rate_limiter=AIORateLimiter(max_retries=2)) as app:
            began = time.monotonic()
            await app.bot.send_message(ALICE, "order filled")
            return time.monotonic() - began

    assert asyncio.run(scenario()) >= 1.0
    assert [c["status"] for c in fake.calls("sendMessage")] == [429, 200]
    assert fake.bot_messages(ALICE)[0]["text"] == "order filled"


def test_sending_to_a_user_who_blocked_the_bot_raises_forbidden(fake):
    fake.send_user_message(ALICE, "/start")
    fake.block_chat(ALICE)

    async def scenario():
        async with bot_for(fake) as bot:
            await bot.send_message(ALICE, "are you there?")

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        asyncio.run(scenario())
    assert fake.bot_messages(ALICE) == []


def test_a_5xx_fault_raises_network_error(fake):
    fake.send_user_message(ALICE, "/start")
    fake.inject_fault("sendMessage", 502)

    async def scenario():
        async with bot_for(fake) as bot:
            await bot.send_message(ALICE, "hi")

    with pytest.raises(NetworkError, match="Bad Gateway"):
        asyncio.run(scenario())


def test_malformed_html_raises_bad_request(fake):
    fake.send_user_message(ALICE, "/start")

    async def scenario():
        async with bot_for(fake) as bot:
            await bot.send_message(ALICE, "<b>BTC/USDT < 5%", parse_mode=ParseMode.HTML)

    # PTB drops "Bad Request: " and str.capitalize()s the rest, lowering "Unsupported".
    with pytest.raises(BadRequest, match='(?i)parse entities: unsupported start tag "" at byte offset 12'):
        asyncio.run(scenario())


def test_text_over_4096_characters_raises_bad_request(fake):
    fake.send_user_message(ALICE, "/start")

    async def scenario():
        async with bot_for(fake) as bot:
            await bot.send_message(ALICE, "x" * 4097)

    with pytest.raises(BadRequest, match="Message is too long"):
        asyncio.run(scenario())


def test_html_length_is_counted_after_parsing(fake):
    fake.send_user_message(ALICE, "/start")

    async def scenario():
        async with bot_for(fake) as bot:
            return await bot.send_message(ALICE, "<b>" + "&lt;" * 4096 + "</b>",
                                          parse_mode=ParseMode.HTML)

    message = asyncio.run(scenario())
    assert message.text == "<" * 4096


def test_sending_to_a_chat_that_never_wrote_raises_chat_not_found(fake):
    async def scenario():
        async with bot_for(fake) as bot:
            await bot.send_message(ALICE, "hello?")

    with pytest.raises(BadRequest, match="Chat not found"):
        asyncio.run(scenario())


def test_text_that_looks_like_json_stays_text(fake):
    # PTB sends str values raw and everything else JSON-encoded, in the same form fields.
    fake.send_user_message(ALICE, "/start")

    async def scenario():
        async with bot_for(fake) as bot:
            await bot.send_message(ALICE, "123")
            await bot.send_message(ALICE, "true")

    asyncio.run(scenario())
    assert [m["text"] for m in fake.bot_messages(ALICE)] == ["123", "true"]
    assert fake.calls("sendMessage")[0]["params"]["chat_id"] == ALICE


def test_inline_button_press_arrives_as_callback_query_and_is_answered(fake):
    async def menu(update, context):
        keyboard = [[InlineKeyboardButton("Stop bot", callback_data="stop:7")]]
        await update.message.reply_text("Bot 7 is running", reply_markup=InlineKeyboardMarkup(keyboard))

    async def on_button(update, context):
        query = update.callback_query
        await query.answer("Stopping…")
        await query.edit_message_text(f"Got {query.data}")

    async def scenario():
        app = app_for(fake, CommandHandler("menu", menu), CallbackQueryHandler(on_button))
        async with polling(app):
            fake.send_user_message(ALICE, "/menu")
            shown = await asyncio.to_thread(fake.wait_for_bot_message, ALICE, "running")
            fake.press_button(ALICE, shown["message_id"], "stop:7")
            return await asyncio.to_thread(fake.wait_for_bot_message, ALICE, "Got stop:7")

    edited = asyncio.run(scenario())
    assert edited["edited"] and edited["reply_markup"] is None  # the edit dropped the keyboard
    [answer] = fake.calls("answerCallbackQuery")
    assert answer["status"] == 200 and answer["params"]["text"] == "Stopping…"


def test_send_photo_records_a_photo_with_its_caption(fake):
    fake.send_user_message(ALICE, "/chart")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

    async def scenario():
        async with bot_for(fake) as bot:
            return await bot.send_photo(ALICE, photo=png, caption="<b>BTC</b> 24h",
                                        parse_mode=ParseMode.HTML)

    message = asyncio.run(scenario())
    assert message.photo and message.caption == "BTC 24h"
    [entry] = fake.bot_messages(ALICE)
    assert entry["photo"] and entry["text"] == "BTC 24h"
    assert fake.calls("sendPhoto")[0]["params"]["photo"]["size"] == len(png)


def test_long_poll_is_held_until_an_update_arrives(fake):
    async def scenario():
        async with bot_for(fake) as bot:
            began = time.monotonic()
            threading.Timer(0.3, fake.send_user_message, (ALICE, "ping")).start()
            updates = await bot.get_updates(timeout=5)
            return updates, time.monotonic() - began

    updates, waited = asyncio.run(scenario())
    assert [u.message.text for u in updates] == ["ping"]
    assert 0.2 < waited < 3


def test_offset_confirms_earlier_updates(fake):
    fake.send_user_message(ALICE, "one")
    fake.send_user_message(ALICE, "two")

    async def scenario():
        async with bot_for(fake) as bot:
            first = await bot.get_updates(timeout=0)
            later = await bot.get_updates(offset=first[0].update_id + 1, timeout=0)
            return first, later

    first, later = asyncio.run(scenario())
    assert [u.message.text for u in first] == ["one", "two"]
    assert [u.message.text for u in later] == ["two"]


def test_a_wrong_token_is_rejected(fake):
    async def scenario():
        async with bot_for(fake, token="999:WRONG"):
            pass

    with pytest.raises(InvalidToken):
        asyncio.run(scenario())


def test_control_endpoints_drive_the_fake_over_http(fake):
    def control(operation, **params):
        request = urllib.request.Request(
            f"{fake.base_url}/control/{operation}", data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)["result"]

    sent = control("send_user_message", chat_id=ALICE, text="/start", first_name="Alice")
    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert control("transcript", chat_id=ALICE)[0]["text"] == "/start"
