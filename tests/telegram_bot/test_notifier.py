"""Outbox delivery through the real python-telegram-bot against the fake Bot API."""
from __future__ import annotations

import asyncio

import pytest
from telegram.ext import ExtBot

from models import Outbox, User
from rpc.users import register
from telegram_bot.notifier import Notifier
from telegram_bot.rate_limits import ReplyFirstRateLimiter
from tests.conftest import TELEGRAM_TOKEN


def fill(user: User, bot_id: int, side="buy", symbol="BTC/USDT") -> Outbox:
    payload = {
        "bot_id": bot_id, "bot_name": f"dip-{bot_id}", "mode": "live", "side": side, "symbol": symbol,
        "base": symbol.split("/")[0], "quote": symbol.split("/")[1], "amount": "0.00167", "price": "59500",
        "cost": "99.36", "fee": "0.00000167", "fee_currency": "BTC", "realized_profit": None,
    }
    return Outbox.create(user=user, chat_id=user.chat_id, kind="fill", payload=payload)


def user_with_open_chat(fake_telegram, chat_id: int) -> User:
    fake_telegram.send_user_message(chat_id, "/start")  # Telegram only delivers to chats that wrote first
    return User.create(chat_id=chat_id, name="someone")


def deliver(fake_telegram, rounds: int = 1) -> None:
    async def run():
        bot = ExtBot(TELEGRAM_TOKEN, base_url=f"{fake_telegram.base_url}/bot", rate_limiter=ReplyFirstRateLimiter(max_retries=3))
        async with bot:
            notifier = Notifier(bot)
            for _ in range(rounds):
                notifier.backoff.clear()  # no waiting between rounds in a test
                await notifier.deliver_once()

    asyncio.run(run())


def unsent() -> int:
    """Rows still waiting for delivery (neither sent nor given up)."""
    return Outbox.select().where(Outbox.sent_at.is_null() & Outbox.failed_at.is_null()).count()


def test_a_chats_fills_of_one_round_go_out_as_one_message_to_that_chat_only(database, fake_telegram):
    alice, bob = user_with_open_chat(fake_telegram, 501), user_with_open_chat(fake_telegram, 502)
    for bot_id in (1, 2, 3):
        fill(alice, bot_id)
    fill(bob, 9, symbol="ETH/USDT")

    deliver(fake_telegram)

    [to_alice] = fake_telegram.bot_messages(501)
    [to_bob] = fake_telegram.bot_messages(502)
    assert all(f"bot {n} dip-{n}" in to_alice["text"] for n in (1, 2, 3))
    assert "bot 9" not in to_alice["text"] and "ETH/USDT" in to_bob["text"] and "bot 1 " not in to_bob["text"]
    assert unsent() == 0


def test_many_fills_are_split_below_telegrams_limit_and_all_marked_sent(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 503)
    for bot_id in range(80):
        fill(alice, bot_id)

    deliver(fake_telegram)

    messages = fake_telegram.bot_messages(503)
    assert len(messages) > 1 and all(len(m["text"]) <= 4096 for m in messages)
    assert sum(m["text"].count("BUY") for m in messages) == 80
    assert unsent() == 0


def test_a_blocked_chat_marks_the_user_unreachable_and_keeps_the_message_until_they_return(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 504)
    fill(alice, 1)
    fake_telegram.block_chat(504)

    deliver(fake_telegram)

    assert User.get_by_id(alice.id).reachable is False and unsent() == 1
    fake_telegram.send_user_message(504, "/start")  # writing to the bot again unblocks it
    register(504, "someone", None, "open", False)
    deliver(fake_telegram)
    assert unsent() == 0 and len(fake_telegram.bot_messages(504)) == 1


def test_a_server_error_is_retried_later_and_the_message_shown_once(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 505)
    fill(alice, 1)
    fake_telegram.inject_fault("sendMessage", 500)

    deliver(fake_telegram, rounds=1)
    assert unsent() == 1 and fake_telegram.bot_messages(505) == []

    deliver(fake_telegram, rounds=1)
    assert unsent() == 0 and len(fake_telegram.bot_messages(505)) == 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_429_is_waited_out_by_the_rate_limiter_and_delivered_once(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 506)
    fill(alice, 1)
    fake_telegram.inject_fault("sendMessage", 429, retry_after=1)

    deliver(fake_telegram)

    assert unsent() == 0 and len(fake_telegram.bot_messages(506)) == 1


def test_a_message_telegram_refuses_for_good_is_given_up_and_others_still_go(database, fake_telegram):
    gone = User.create(chat_id=507, name="never wrote to the bot")  # Telegram: "chat not found"
    alice = user_with_open_chat(fake_telegram, 508)
    fill(gone, 1)
    fill(alice, 2)

    deliver(fake_telegram)

    assert unsent() == 0
    assert Outbox.get(Outbox.user == gone).failed_at is not None
    assert len(fake_telegram.bot_messages(508)) == 1


def test_a_chat_waiting_to_retry_does_not_hold_up_other_chats(database, fake_telegram):
    stuck, alice = user_with_open_chat(fake_telegram, 509), user_with_open_chat(fake_telegram, 510)
    fill(stuck, 1)
    fake_telegram.inject_fault("sendMessage", 502)

    async def two_rounds():
        bot = ExtBot(TELEGRAM_TOKEN, base_url=f"{fake_telegram.base_url}/bot")
        async with bot:
            notifier = Notifier(bot)
            await notifier.deliver_once()  # 509 fails and now waits
            fill(alice, 2)
            await notifier.deliver_once()

    asyncio.run(two_rounds())

    assert len(fake_telegram.bot_messages(510)) == 1
    assert Outbox.get(Outbox.user == stuck).sent_at is None


def test_fills_turned_off_are_never_sent_and_count_as_delivered(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 511)
    User.update(notify_fills="off").where(User.id == alice.id).execute()
    fill(alice, 1)

    deliver(fake_telegram)

    assert unsent() == 0 and fake_telegram.bot_messages(511) == []


def test_silent_fills_go_without_sound_and_never_share_a_message_with_loud_ones(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 512)
    User.update(notify_fills="silent").where(User.id == alice.id).execute()
    fill(alice, 1)
    fill(alice, 2)
    Outbox.create(user=alice, chat_id=512, kind="bot_error",
                  payload={"bot_id": 3, "bot_name": "dip-3", "message": "Its strategy failed on the latest prices.",
                           "paused": False, "failures": 1})

    deliver(fake_telegram)

    sends = [c["params"] for c in fake_telegram.calls("sendMessage") if c["params"]["chat_id"] == 512]
    assert [bool(s.get("disable_notification")) for s in sends] == [True, False]
    assert "bot 1" in sends[0]["text"] and "bot 2" in sends[0]["text"] and "strategy failed" in sends[1]["text"]


def test_a_notification_is_written_in_the_users_language(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 513)
    User.update(language="pt_BR").where(User.id == alice.id).execute()
    fill(alice, 1)

    deliver(fake_telegram)

    [message] = fake_telegram.bot_messages(513)
    assert message["text"].startswith("🟢 COMPRA · robô 1") and "custo 99,36 USDT" in message["text"]


def test_progress_rows_edit_their_message_showing_only_the_latest_and_a_refused_edit_is_over(database, fake_telegram):
    alice = user_with_open_chat(fake_telegram, 531)

    async def queued_message() -> int:
        async with ExtBot(TELEGRAM_TOKEN, base_url=f"{fake_telegram.base_url}/bot") as bot:
            return (await bot.send_message(531, "⏳ Backtesting dca on ETH/USDT over 30 days…")).message_id

    message_id = asyncio.run(queued_message())
    head = {"strategy": "dca", "symbol": "ETH/USDT", "days": 30, "message_id": message_id}
    for done in (1, 2, 3):
        Outbox.create(user=alice, chat_id=531, kind="progress", payload={**head, "stage": "history", "done": done,
                                                                         "total": 44})
    edits_before = len(fake_telegram.calls("editMessageText"))
    deliver(fake_telegram)
    [shown] = fake_telegram.bot_messages(531)
    assert shown["edited"] and shown["text"].endswith("history, part 3 of 44…") and unsent() == 0
    assert len(fake_telegram.calls("editMessageText")) == edits_before + 1  # one edit for the three rows

    Outbox.create(user=alice, chat_id=531, kind="progress", payload={**head, "stage": "done"})
    Outbox.create(user=alice, chat_id=531, kind="progress", payload={**head, "message_id": 999_999, "stage": "done"})
    deliver(fake_telegram)
    [shown] = fake_telegram.bot_messages(531)
    assert "dca on ETH/USDT over 30 days finished" in shown["text"]
    assert unsent() == 0  # the edit of a message that is not there is not retried


def test_a_keys_balances_are_edited_into_their_message_with_refresh_and_without_once_the_key_is_gone(database,
                                                                                                      fake_telegram):
    alice = user_with_open_chat(fake_telegram, 533)

    async def fetching_message() -> int:
        async with ExtBot(TELEGRAM_TOKEN, base_url=f"{fake_telegram.base_url}/bot") as bot:
            return (await bot.send_message(533, "Fetching the balances of key 7 from binance…")).message_id

    message_id = asyncio.run(fetching_message())
    head = {"key_id": 7, "message_id": message_id}
    Outbox.create(user=alice, chat_id=533, kind="balance_in_place", payload={
        **head, "exchange": "binance", "masked": "abcd…wxyz", "testnet": False, "checked_at": "2026-11-22T10:00:01",
        "balances": {"USDT": ["1000", "0"]}})
    Outbox.create(user=alice, chat_id=533, kind="balance_in_place", payload={
        **head, "exchange": "binance", "masked": "abcd…wxyz", "testnet": False, "checked_at": "2026-11-22T10:00:05",
        "balances": {"USDT": ["990", "10"]}})
    deliver(fake_telegram)
    [shown] = fake_telegram.bot_messages(533)
    assert shown["edited"] and "USDT: 990 free, 10 in orders" in shown["text"] and "checked at 10:00:05 UTC" in shown["text"]
    assert shown["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "balance:refresh:7"
    assert unsent() == 0

    Outbox.create(user=alice, chat_id=533, kind="balance_in_place", payload={
        **head, "checked_at": "2026-11-22T10:01:00", "error": "Key 7 not found."})
    deliver(fake_telegram)
    [shown] = fake_telegram.bot_messages(533)
    assert shown["text"].startswith("⚠️ Balance of key 7") and not shown["reply_markup"]
