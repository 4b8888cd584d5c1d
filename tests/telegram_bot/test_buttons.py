"""Buttons on results and the guided forms of commands given without an id: each flow to its
end, callback data checked against the presser, every button press answered exactly once."""
from __future__ import annotations

import secrets
import time

import pytest

from tests.telegram_bot.chat import WAIT, Chat
from tests.test_end_to_end import number_after


@pytest.fixture(scope="module")
def service_names():
    return ("bot", "scheduler", "worker")


def every_press_answered_once(chat) -> bool:
    settle(chat)
    answers = chat.telegram.callback_answers(chat.id)
    return bool(answers) and all(a["attempts"] == 1 and a["answer"] is not None for a in answers)


def settle(chat) -> None:
    """Everything sent so far has been handled (each chat's updates are handled in order)."""
    chat.say("/help", "botfleet")


def test_bots_has_start_stop_and_delete_buttons_that_act_and_refresh_the_list(user):
    bot_id = user.with_bot()
    listing = user.say_message("/bots", "Your bots")
    assert user.buttons(listing)[f"▶️ Start {bot_id}"] == f"bot:start:{bot_id}"
    user.press(listing, f"bot:start:{bot_id}", "is running")
    listing = user.telegram.wait_for_bot_message(user.id, lambda m: m["message_id"] == listing["message_id"]
                                                 and "running" in m["text"], timeout=WAIT)
    assert f"⏹ Stop {bot_id}" in user.buttons(listing)
    user.press(listing, f"bot:stop:{bot_id}", "stopped: no new entries")
    question = user.press(listing, f"deletebot:ask:{bot_id}", "Delete bot")
    user.press(question, f"deletebot:yes:{bot_id}", "deleted")
    assert "no bots yet" in user.say("/bots", "bots")
    assert every_press_answered_once(user)


@pytest.mark.parametrize("command, expect", [("startbot", "is running"), ("deletebot", "Delete bot")])
def test_a_command_without_an_id_offers_the_users_own_bots(user, fakes, command, expect):
    other = Chat(*fakes).registered()
    other.with_bot()
    bot_id = user.with_bot()
    offer = user.say_message(f"/{command}", "Which bot")
    assert list(user.buttons(offer).values()) == [f"pick:{command}:{bot_id}"]
    user.press(offer, f"pick:{command}:{bot_id}", expect)
    assert every_press_answered_once(user)


def test_a_failed_deletion_confirmation_is_answered_once(user):
    bot_id = user.with_bot()
    question = user.say_message(f"/deletebot {bot_id}", "Delete bot")
    user.press(question, f"deletebot:yes:{bot_id}", "deleted")
    user.telegram.press_button(user.id, question["message_id"], f"deletebot:yes:{bot_id}", forged=True)
    settle(user)
    last = user.telegram.callback_answers(user.id)[-1]
    assert last["attempts"] == 1 and "not found" in last["answer"]["text"]
    assert "went wrong" not in "".join(m["text"] for m in user.telegram.bot_messages(user.id))


@pytest.mark.parametrize("forged", ["bot:stop:{bot}", "bot:chart:{bot}", "deletebot:yes:{bot}", "sell:yes:{bot}",
                                    "sell:ask:{bot}", "pick:deletebot:{bot}", "pick:profit:{bot}", "delkey:yes:{key}",
                                    "pick:balance:{key}", "status:refresh:{bot}", "profit:refresh:{bot}",
                                    "balance:refresh:{key}"])
def test_callback_data_copied_from_another_user_answers_not_found_and_changes_nothing(user, fakes, forged):
    owner = Chat(*fakes).registered()
    key_id, bot_id = owner.with_key(), owner.with_bot()
    owner.say(f"/startbot {bot_id}", "running")
    mine = user.say_message("/bots", "bots")
    user.telegram.press_button(user.id, mine["message_id"], forged.format(bot=bot_id, key=key_id), forged=True)
    settle(user)
    last = user.telegram.callback_answers(user.id)[-1]
    assert last["attempts"] == 1 and "not found" in last["answer"]["text"]
    listing = owner.say("/bots", "Your bots")
    assert f"{bot_id} " in listing and "running" in listing
    assert f"Key {key_id}" in owner.say("/keys", "Your keys")


def test_delkey_without_an_id_offers_the_keys_and_asks_before_deleting(user):
    key_id = user.with_key()
    offer = user.say_message("/delkey", "Which key")
    question = user.press(offer, f"pick:delkey:{key_id}", "Delete key")
    user.press(question, f"delkey:no:{key_id}", "Kept key")
    question = user.say_message(f"/delkey {key_id}", "Delete key")
    user.press(question, f"delkey:yes:{key_id}", "deleted")
    assert "no API keys" in user.say("/keys", "keys")
    assert every_press_answered_once(user)


def test_refresh_edits_the_message_in_place_or_says_it_is_up_to_date(user):
    user.with_bot()
    status = user.say_message("/status", "No open positions")
    user.telegram.press_button(user.id, status["message_id"], "status:refresh:all")
    settle(user)
    assert "up to date" in user.telegram.callback_answers(user.id)[-1]["answer"]["text"]
    profit = user.say_message("/profit", "Profit")
    assert "profit:refresh:all" in user.buttons(profit).values()


def test_balance_offers_the_keys_and_fetches_the_chosen_one(user):
    key_id = user.with_key()
    wallet = user.say_message("/balance", "paper wallet")
    balance = user.press(wallet, f"pick:balance:{key_id}", "USDT: 1,000 free")
    assert f"balance:refresh:{key_id}" in user.buttons(balance).values()


def live_key(user, balances: dict) -> tuple[int, str, str]:
    """A key on the fake exchange with these balances: (key id, api key, secret)."""
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    user.binance.add_account(api_key, secret, balances)
    return number_after("Key", user.say(f"/addkey binance {api_key} {secret}", "✅")), api_key, secret


def live_balance(user, key_id: int, expect: str) -> dict:
    """/balance <key>: its one message ("Fetching…"), once the worker's figures are edited into it."""
    before = user.send(f"/balance {key_id}")
    balance = user.telegram.wait_for_bot_message(user.id, expect, timeout=WAIT, after=before)
    assert len(user.telegram.bot_messages(user.id)) == before + 1
    return balance


def account_requests(user) -> int:
    return sum(1 for r in user.binance.requests() if r["path"] == "/api/v3/account")


def test_a_keys_balance_has_refresh_which_edits_the_same_message_with_the_new_figures(user):
    key_id, api_key, secret = live_key(user, {"USDT": "1000"})
    balance = live_balance(user, key_id, "USDT: 1,000 free")
    assert user.buttons(balance) == {"🔄 Refresh": f"balance:refresh:{key_id}"}
    messages = len(user.telegram.bot_messages(user.id))
    user.binance.add_account(api_key, secret, {"USDT": "1234.5", "BTC": "0.02"})  # the account moved meanwhile
    refreshed = user.press(balance, f"balance:refresh:{key_id}", "USDT: 1,234.5 free")
    assert refreshed["message_id"] == balance["message_id"] and "BTC: 0.02 free" in refreshed["text"]
    assert user.buttons(refreshed) == {"🔄 Refresh": f"balance:refresh:{key_id}"}
    assert len(user.telegram.bot_messages(user.id)) == messages  # edited, nothing new
    assert "Fetching the balances again" in user.telegram.callback_answers(user.id)[-1]["answer"]["text"]
    assert every_press_answered_once(user)


def test_refresh_pressed_again_while_fetching_queues_no_second_fetch(user):
    key_id, *_ = live_key(user, {"USDT": "1000"})
    balance = live_balance(user, key_id, "USDT: 1,000 free")
    asked = account_requests(user)
    user.binance.inject_fault("/api/v3/account", 0, delay=3)  # the exchange takes its time
    user.telegram.press_button(user.id, balance["message_id"], f"balance:refresh:{key_id}")
    user.telegram.press_button(user.id, balance["message_id"], f"balance:refresh:{key_id}")
    settle(user)
    first, second = user.telegram.callback_answers(user.id)[-2:]
    assert "again" in first["answer"]["text"] and "Still fetching" in second["answer"]["text"]
    user.telegram.wait_for_bot_message(user.id, lambda m: m["message_id"] == balance["message_id"]
                                       and m["text"] != balance["text"], timeout=WAIT)
    time.sleep(1)  # a second job, had one been queued, would have asked by now
    assert account_requests(user) == asked + 1
    assert every_press_answered_once(user)


def test_refresh_of_a_key_the_exchange_rejects_shows_the_friendly_error_in_place(user):
    key_id, *_ = live_key(user, {"USDT": "1000"})
    balance = live_balance(user, key_id, "USDT: 1,000 free")
    user.binance.inject_fault("/api/v3/account", 401, count=10,
                              body={"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    try:
        refused = user.press(balance, f"balance:refresh:{key_id}", "rejected the API key")
    finally:
        user.binance.clear_faults()
    assert refused["message_id"] == balance["message_id"] and refused["text"].startswith("⚠️ Balance of key")
    assert "Invalid API-key" not in refused["text"]  # the exchange's words are ours, translated
    assert f"balance:refresh:{key_id}" in user.buttons(refused).values()  # try again once it is fixed
    assert every_press_answered_once(user)


def test_sell_now_asks_then_the_engine_exits_the_position(user):
    symbol = "SOL/USDT"
    user.binance.set_history(symbol, ["150"] * 40)
    user.binance.set_price(symbol, "150")
    bot_id = user.with_bot(symbol=symbol)
    user.say(f"/startbot {bot_id}", "running")
    user.binance.set_price(symbol, "149")  # 0.67 % under the average: the dip bot buys
    user.telegram.wait_for_bot_message(user.id, "BUY", timeout=WAIT)
    user.binance.set_price(symbol, "150")  # neither take profit nor stop loss
    status = user.say_message(f"/status {bot_id}", "Open positions")
    question = user.press(status, f"sell:ask:{bot_id}", "Sell the open position")
    assert "stops the bot" not in question["text"]  # a dip bot waits for its next signal
    assert "stopped" not in user.press(question, f"sell:yes:{bot_id}", "Selling")["text"]
    sell = user.telegram.wait_for_bot_message(user.id, "SELL", timeout=WAIT)
    assert f"bot {bot_id}" in sell["text"] and "realized profit" in sell["text"]
    assert "No open positions" in user.say(f"/status {bot_id}", "positions")
    assert bot_status(user, bot_id, "Your bots") == "running"
    assert every_press_answered_once(user)


def test_sell_now_on_a_dca_bot_says_in_portuguese_that_it_stops_the_bot_and_does(fakes, service):
    reader = Chat(*fakes, language="pt-br").registered()
    symbol = "ETH/USDT"
    reader.binance.set_history(symbol, ["3000"] * 40)
    reader.binance.set_price(symbol, "3000")
    bot_id = number_after("Robô", reader.say(f"/newbot paper:binance {symbol} 400 dca so=2", "Criado"))
    reader.say(f"/startbot {bot_id}", "rodando")
    reader.telegram.wait_for_bot_message(reader.id, "COMPRA", timeout=WAIT)  # the deal's base order
    status = reader.say_message(f"/status {bot_id}", "Posições abertas")

    question = reader.press(status, f"sell:ask:{bot_id}", "Vender agora")
    assert "Isso vende a posição inteira a preço de mercado, cancela as ordens pendentes do robô e para o robô." \
        in question["text"]
    answer = reader.press(question, f"sell:yes:{bot_id}", "Vendendo")
    assert "O robô está parado: não abre nada novo até /startbot" in answer["text"]
    sell = reader.telegram.wait_for_bot_message(reader.id, "VENDA", timeout=WAIT)
    assert f"robô {bot_id}" in sell["text"]
    assert "Nenhuma posição aberta" in reader.say(f"/status {bot_id}", "posição")
    assert bot_status(reader, bot_id, "Seus robôs") == "parado"
    assert every_press_answered_once(reader)


def bot_status(chat, bot_id: int, heading: str) -> str:
    """A bot's status as /bots shows it ("<id> name · exchange symbol · mode · status · profit")."""
    line = next(line for line in chat.say("/bots", heading).split("\n") if line.startswith(f"{bot_id} "))
    return line.split(" · ")[3]


def test_sell_now_without_a_position_says_so(user):
    bot_id = user.with_bot()
    listing = user.say_message("/bots", "Your bots")
    user.telegram.press_button(user.id, listing["message_id"], f"sell:ask:{bot_id}", forged=True)
    assert "no open position" in user.telegram.wait_for_bot_message(user.id, "⚠️", timeout=WAIT)["text"]


# --- /addkey, guided ---------------------------------------------------------------------------

def start_addkey(user) -> dict:
    return user.say_message("/addkey", "step 1 of 3")


def test_addkey_guided_deletes_each_pasted_value_and_stores_the_checked_key(user):
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    user.binance.add_account(api_key, secret, {"USDT": "50"})
    user.press(start_addkey(user), "ak:ex:binance", "step 2 of 3")
    user.say(api_key, "paste the secret")
    network = user.say_message(secret, "step 3 of 3")
    added = user.press(network, "ak:net:live", "added")
    key_id = number_after("Key", added["text"])
    pasted = [m for m in user.telegram.transcript(user.id) if m["text"] in (api_key, secret)]
    assert len(pasted) == 2 and all(m["deleted"] for m in pasted)
    assert "looked like an API secret" not in "".join(m["text"] for m in user.telegram.bot_messages(user.id))
    assert all(api_key not in m["text"] and secret not in m["text"] for m in user.telegram.bot_messages(user.id))
    assert f"Key {key_id}" in user.say("/keys", "Your keys")


def test_addkey_guided_with_a_wrong_key_is_refused_and_stores_nothing(user):
    user.press(start_addkey(user), "ak:ex:binance", "step 2 of 3")
    user.say("kNOTAREALKEY123456", "paste the secret")
    network = user.say_message("sNOTAREALSECRET123456", "step 3 of 3")
    user.press(network, "ak:net:live", "⚠️")
    assert "no API keys" in user.say("/keys", "keys")


@pytest.mark.parametrize("step", ["exchange", "api_key", "secret", "network"])
def test_addkey_cancel_leaves_at_every_step(user, step):
    question = start_addkey(user)
    if step != "exchange":
        user.press(question, "ak:ex:binance", "step 2 of 3")
    if step in ("secret", "network"):
        user.say("k" + secrets.token_hex(16), "paste the secret")
    if step == "network":
        user.say(secrets.token_hex(32), "step 3 of 3")
    user.say("/cancel", "Cancelled")
    assert "I understand commands only" in user.say("hello", "commands only")
    assert "no API keys" in user.say("/keys", "keys")


def test_the_chart_button_under_bots_draws_the_owners_chart_and_answers_a_stranger_not_found(user, fakes):
    telegram, binance = fakes
    binance.set_history("BTC/USDT", ["60000"] * 40)
    bot_id = user.with_bot()
    listing = user.say_message("/bots", "Your bots")
    assert user.buttons(listing)[f"📈 Chart {bot_id}"] == f"bot:chart:{bot_id}"
    before = len(telegram.bot_messages(user.id))
    user.press(listing, f"bot:chart:{bot_id}", f"Drawing the chart of bot {bot_id}")
    photo = telegram.wait_for_bot_message(user.id, lambda m: m["photo"], timeout=60, after=before)
    assert photo["text"].startswith(f"📈 Bot {bot_id} ") and "BTC/USDT" in photo["text"]
    assert photo["photo_file"]["file_size"] > 10_000
    assert every_press_answered_once(user)
    stranger = Chat(*fakes).registered()
    theirs = stranger.say_message("/bots", "bots")
    stranger.telegram.press_button(stranger.id, theirs["message_id"], f"bot:chart:{bot_id}", forged=True)
    settle(stranger)
    last = stranger.telegram.callback_answers(stranger.id)[-1]
    assert last["attempts"] == 1 and "not found" in last["answer"]["text"]
    assert not any("Drawing" in m["text"] or m["photo"] for m in telegram.bot_messages(stranger.id))
