"""Outbox claims and the retry policy: two notifiers never send one message twice, one chat's
trouble stays in that chat, and only Telegram's permanent refusals give a message up."""
from __future__ import annotations

import asyncio
import time

from telegram.error import NetworkError
from telegram.ext import ExtBot

from models import Outbox
from telegram_bot.notifier import Notifier, claim_rows
from tests.conftest import TELEGRAM_TOKEN
from tests.servers import free_port
from tests.telegram_bot.test_notifier import fill, unsent, user_with_open_chat


def telegram_bot(base_url: str) -> ExtBot:
    return ExtBot(TELEGRAM_TOKEN, base_url=f"{base_url}/bot")


def rounds(notifier_urls: list[str], count: int, before_each=None) -> None:
    """`count` delivery rounds of one notifier per URL, the notifiers' rounds running at once."""
    async def run():
        bots = [telegram_bot(url) for url in notifier_urls]
        for bot in bots:
            try:
                await bot.initialize()
            except NetworkError:  # the unreachable API: sending fails the same way, later
                pass
        notifiers = [Notifier(bot) for bot in bots]
        try:
            for _ in range(count):
                for notifier in notifiers:
                    notifier.backoff.clear()  # no waiting between rounds in a test
                if before_each:
                    before_each()
                await asyncio.gather(*(n.deliver_once() for n in notifiers))
        finally:
            for bot in bots:
                await bot.shutdown()

    asyncio.run(run())


def shown(fake_telegram, chat: int) -> int:
    return sum(m["text"].count("BUY") for m in fake_telegram.bot_messages(chat))


def test_two_notifiers_at_once_send_every_message_exactly_once(database, fake_telegram):
    users = [user_with_open_chat(fake_telegram, 600 + n) for n in range(12)]
    written = {user.chat_id: 0 for user in users}

    def more_fills():
        for user in users:
            fill(user, 1)
            written[user.chat_id] += 1

    rounds([fake_telegram.base_url] * 2, 4, before_each=more_fills)
    rounds([fake_telegram.base_url] * 2, 1)

    assert unsent() == 0
    assert {chat: shown(fake_telegram, chat) for chat in written} == written


def test_rows_another_notifier_holds_wait_for_its_lease_to_end(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 620)
    fill(alice, 1)
    assert len(claim_rows("a notifier that then crashed", [], lease_seconds=1.5)) == 1

    rounds([fake_telegram.base_url], 1)
    assert fake_telegram.bot_messages(620) == []  # held by the crashed one

    time.sleep(1.6)
    rounds([fake_telegram.base_url], 1)
    assert shown(fake_telegram, 620) == 1 and unsent() == 0


def test_a_chat_whose_rows_fail_outside_telegram_does_not_fail_the_round(database, fake_telegram):
    odd, alice = user_with_open_chat(fake_telegram, 630), user_with_open_chat(fake_telegram, 631)
    # A kind this version cannot format (written by a newer worker during a deploy).
    Outbox.create(user=odd, chat_id=odd.chat_id, kind="from_the_future", payload={})
    fill(alice, 1)

    rounds([fake_telegram.base_url], 1)

    assert shown(fake_telegram, 631) == 1
    stuck = Outbox.get(Outbox.user == odd)
    assert stuck.sent_at is None and stuck.failed_at is None  # kept for a version that can show it


def test_server_errors_for_many_rounds_never_give_a_message_up(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 640)
    fill(alice, 1)
    fake_telegram.inject_fault("sendMessage", 500, count=30)

    rounds([fake_telegram.base_url], 30)
    assert unsent() == 1 and fake_telegram.bot_messages(640) == []

    rounds([fake_telegram.base_url], 1)
    assert unsent() == 0 and shown(fake_telegram, 640) == 1


def test_an_unreachable_bot_api_never_gives_a_message_up(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 650)
    fill(alice, 1)
    nothing_listens = f"http://127.0.0.1:{free_port()}"

    rounds([nothing_listens], 25)
    row = Outbox.get(Outbox.user == alice)
    assert row.sent_at is None and row.failed_at is None and row.attempts == 25

    rounds([fake_telegram.base_url], 1)
    assert unsent() == 0 and shown(fake_telegram, 650) == 1


def test_a_stopping_notifier_hands_its_rows_back_at_once(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 660)
    fill(alice, 1)

    async def stop_before_sending():
        async with telegram_bot(fake_telegram.base_url) as bot:
            notifier = Notifier(bot)
            notifier.stopping = True  # the stop arrives after the claim, before the first message
            await notifier.deliver_once()
            await notifier.run()  # returns at once, handing the rows back

    asyncio.run(stop_before_sending())

    row = Outbox.get(Outbox.user == alice)
    assert fake_telegram.bot_messages(660) == [] and row.lease_owner is None and row.sent_at is None
    rounds([fake_telegram.base_url], 1)
    assert shown(fake_telegram, 660) == 1
