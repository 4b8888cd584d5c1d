"""/newbot as a guided conversation with buttons: every step, /cancel at each step, typed answers
and their errors, and a restart of the `bot` process in the middle."""
from __future__ import annotations

import pytest

from tests.telegram_bot.chat import Chat


def start_flow(user) -> dict:
    return user.say_message("/newbot", "step 1 of 6")


def walk_to(user, step: str) -> dict:
    """Answer with buttons up to `step` (exchange, key, symbol, capital, strategy, params, confirm)."""
    question = start_flow(user)
    answers = [("exchange", "nb:ex:binance", "step 2 of 6"), ("key", "nb:key:paper", "step 3 of 6"),
               ("symbol", "nb:sym:BTC/USDT", "step 4 of 6"), ("capital", "nb:cap:100", "step 5 of 6"),
               ("strategy", "nb:st:dip", "step 6 of 6"), ("params", "nb:params:ok", "please check")]
    for name, data, expect in answers:
        if name == step:
            return question
        question = user.press(question, data, expect)
    return question


def test_the_whole_flow_with_buttons_creates_the_bot_stopped(user):
    question = start_flow(user)
    assert "binance" in user.buttons(question)
    question = user.press(question, "nb:ex:binance", "step 2 of 6")
    assert "nb:key:paper" in user.buttons(question).values()
    question = user.press(question, "nb:key:paper", "step 3 of 6")
    assert {"BTC/USDT", "ETH/USDT"} <= set(user.buttons(question))
    question = user.press(question, "nb:sym:ETH/USDT", "step 4 of 6")
    assert "minimum on ETH/USDT is 5.02 USDT" in question["text"]
    question = user.press(question, "nb:cap:250", "step 5 of 6")
    question = user.press(question, "nb:st:dip", "step 6 of 6")
    assert "dip = 0.6" in question["text"] and "tp = 1.5" in question["text"]
    question = user.press(question, "nb:params:ok", "please check")
    assert "ETH/USDT, paper, capital 250 USDT" in question["text"]
    done = user.press(question, "nb:create:yes", "Created")
    assert "status: stopped" in done["text"]
    assert "ETH/USDT" in user.say("/bots", "Your bots")
    assert all(a["attempts"] == 1 and a["answer"] is not None for a in user.telegram.callback_answers(user.id))


def test_typed_symbol_capital_and_settings_are_checked_and_can_be_corrected(user):
    question = walk_to(user, "symbol")
    assert "no active spot market DOGE/EUR" in user.say("DOGE/EUR", "⚠️")
    user.say("sol/usdt", "step 4 of 6")
    assert "at least 5.02" in user.say("3", "⚠️")
    assert "Capital must be a number" in user.say("lots", "⚠️")
    strategy = user.say_message("75", "step 5 of 6")
    user.press(strategy, "nb:st:dip", "step 6 of 6")
    assert "tp must be between" in user.say("tp=0", "⚠️")
    assert "tp = <b>" not in user.say("dip=0.8 tp=2", "step 6 of 6")
    settings = user.last()
    assert "dip = 0.8" in settings["text"] and "tp = 2" in settings["text"]
    summary = user.press(settings, "nb:params:ok", "please check")
    assert "/newbot paper:binance SOL/USDT 75 dip dip=0.8 tp=2" in summary["text"]
    user.press(summary, "nb:create:yes", "Created")


def test_a_users_own_keys_are_offered_for_their_exchange(user):
    key_id = user.with_key()
    question = user.press(start_flow(user), "nb:ex:binance", "step 2 of 6")
    assert f"nb:key:{key_id}" in user.buttons(question).values()


def test_another_users_key_id_in_the_callback_is_not_found(user, fakes):
    other = Chat(*fakes).registered()
    other_key = other.with_key()
    question = user.press(start_flow(user), "nb:ex:binance", "step 2 of 6")
    user.telegram.press_button(user.id, question["message_id"], f"nb:key:{other_key}", forged=True)
    user.say("/help", "botfleet")  # everything before has been handled
    answers = user.telegram.callback_answers(user.id)
    assert "not found" in answers[-1]["answer"]["text"] and answers[-1]["attempts"] == 1


@pytest.mark.parametrize("step", ["exchange", "key", "symbol", "capital", "strategy", "params", "confirm"])
def test_cancel_leaves_at_every_step_and_creates_nothing(user, step):
    walk_to(user, step)
    assert "Cancelled" in user.say("/cancel", "Cancelled")
    assert "no bots yet" in user.say("/bots", "bots")
    assert "nothing to cancel" in user.say("/cancel", "nothing")


def test_the_cancel_button_leaves_too(user):
    question = walk_to(user, "capital")
    user.press(question, "cancel:flow:", "Cancelled")
    assert "I understand commands only" in user.say("100", "commands only")


def test_the_one_line_form_still_works_during_a_flow(user):
    walk_to(user, "capital")
    assert "Created" in user.say("/newbot paper:binance BNB/USDT 50", "Created")
    assert "nothing to cancel" in user.say("/cancel", "nothing")


def test_a_pressed_button_of_a_finished_flow_has_expired(user):
    question = walk_to(user, "key")
    user.say("/cancel", "Cancelled")
    user.telegram.press_button(user.id, question["message_id"], "nb:key:paper", forged=True)
    user.say("/help", "botfleet")
    assert "expired" in user.telegram.callback_answers(user.id)[-1]["answer"]["text"]


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_the_flow_goes_on_after_a_restart_of_the_bot_process(user, service, kill):
    question = walk_to(user, "capital")
    if kill:
        import time
        time.sleep(0.5)  # the step is written to Redis a moment after its reply, not with it
    service.restart("bot", kill=kill)
    strategy = user.say_message("120", "step 5 of 6")
    settings = user.press(strategy, "nb:st:dip", "step 6 of 6")
    summary = user.press(settings, "nb:params:ok", "please check")
    assert "BTC/USDT, paper, capital 120 USDT" in summary["text"]
    user.press(summary, "nb:create:yes", "Created")


def test_portuguese_decimal_commas_are_understood(service, fakes):
    user = Chat(*fakes, language="pt-br").registered()
    question = user.say_message("/newbot", "passo 1 de 6")
    question = user.press(question, "nb:ex:binance", "passo 2 de 6")
    question = user.press(question, "nb:key:paper", "passo 3 de 6")
    user.press(question, "nb:sym:BTC/USDT", "passo 4 de 6")
    strategy = user.say_message("12,5", "passo 5 de 6")
    user.press(strategy, "nb:st:dip", "passo 6 de 6")
    assert "dip = <b>" not in user.say("dip=0,8", "dip = 0,8")
    summary = user.press(user.last(), "nb:params:ok", "confira")
    assert "capital 12,5 USDT" in summary["text"]
