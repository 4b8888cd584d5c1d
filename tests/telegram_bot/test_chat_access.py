"""Who the bot talks to, and in which language: private chats only, edits never re-run a command,
pasted secrets are deleted wherever they appear, and a pt-BR Telegram gets Portuguese everywhere."""
from __future__ import annotations

import secrets

import pytest

from tests.telegram_bot.chat import WAIT, Chat

GROUP_IDS = iter(range(-100500, -100000))


@pytest.fixture
def portuguese(service, fakes):
    return Chat(*fakes, language="pt-br").registered()


def test_a_command_in_a_group_gets_one_short_answer_and_registers_nothing(chat):
    group = next(GROUP_IDS)
    telegram = chat.telegram
    telegram.send_user_message(group, "/start", chat_type="group", from_id=chat.id)
    answer = telegram.wait_for_bot_message(group, "private chat", timeout=WAIT)
    telegram.send_user_message(group, "/newbot paper:binance BTC/USDT 100", chat_type="group", from_id=chat.id)
    telegram.wait_for_bot_message(group, "private chat", timeout=WAIT, after=1)
    assert answer["text"].count("\n") == 0 and len(telegram.bot_messages(group)) == 2
    assert "Send /start" in chat.say("/bots")  # the member's own chat is still unregistered


def test_an_edited_message_never_runs_a_command_again(user):
    bot_id = user.with_bot()
    sent = user.telegram.send_user_message(user.id, "/bots")
    user.telegram.wait_for_bot_message(user.id, "Your bots", timeout=WAIT)
    count = len(user.telegram.bot_messages(user.id))
    user.telegram.edit_user_message(user.id, sent["message_id"], f"/deletebot {bot_id}")
    user.say("/help", "botfleet")  # the bot has handled everything sent before this
    assert len(user.telegram.bot_messages(user.id)) == count + 1
    assert "Delete bot" not in "".join(m["text"] for m in user.telegram.bot_messages(user.id))


@pytest.mark.parametrize("form", ["plain", "mistyped", "caption"])
def test_a_pasted_secret_is_deleted_in_any_form(user, form):
    secret = secrets.token_hex(32)
    text = {"plain": secret, "mistyped": f"/adkey binance {secret}", "caption": f"my key {secret}"}[form]
    before = len(user.telegram.bot_messages(user.id))
    sent = user.telegram.send_user_message(user.id, text, caption_photo=form == "caption")
    user.telegram.wait_for_bot_message(user.id, "looked like an API secret", timeout=WAIT, after=before)
    entry = next(m for m in user.telegram.transcript(user.id) if m["message_id"] == sent["message_id"])
    assert entry["deleted"]
    assert all(secret not in m["text"] for m in user.telegram.bot_messages(user.id))


def test_portuguese_telegram_gets_portuguese_help_errors_and_lists(portuguese):
    assert "Bem-vindo" in portuguese.telegram.bot_messages(portuguese.id)[0]["text"]
    assert "O capital deve ser um número" in portuguese.say("/newbot paper:binance BTC/USDT muito", "⚠️")
    assert "Robô 999 não encontrado" in portuguese.say("/startbot 999", "⚠️" if False else "Robô")
    assert "Comando desconhecido /voar" in portuguese.say("/voar", "Comando")
    created = portuguese.say("/newbot paper:binance BTC/USDT 1234.5", "✅")
    assert "capital 1.234,5 USDT" in created and "simulado" in created


def test_portuguese_notifications_from_the_outbox(portuguese):
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    portuguese.binance.add_account(api_key, secret, {"USDT": "2500.5"})
    added = portuguese.say(f"/addkey binance {api_key} {secret}", "✅")
    key_id = int(added.split("Chave ")[1].split(":")[0])
    before = portuguese.send(f"/balance {key_id}")  # "Buscando…", edited into the balances
    balance = portuguese.telegram.wait_for_bot_message(portuguese.id, "Saldo", timeout=WAIT, after=before)
    assert "USDT: 2.500,5 livre, 0 em ordens" in balance["text"] and "consultado às" in balance["text"]
    assert list(portuguese.buttons(balance)) == ["🔄 Atualizar"]
