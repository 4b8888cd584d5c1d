"""Random text and random button presses from two users: the bot never crashes, answers every
message and every press (once), and neither user ever sees or changes the other's rows."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.telegram_bot.chat import WAIT, Chat

COMMANDS = ["/start", "/help", "/bots", "/keys", "/status", "/profit", "/balance", "/trades", "/daily", "/weekly",
            "/performance", "/settings", "/cancel", "/startbot", "/stopbot", "/deletebot", "/delkey", "/newbot",
            "/addkey", "/fly", "/monthly"]
ACTIONS = ["bot:start", "bot:stop", "deletebot:yes", "deletebot:ask", "deletebot:no", "delkey:yes", "sell:ask",
           "sell:yes", "pick:startbot", "pick:deletebot", "pick:delkey", "pick:profit", "pick:balance", "status:refresh",
           "profit:refresh", "nb:key", "nb:ex", "nb:sym", "nb:cap", "nb:st", "nb:params", "nb:create", "set:fills",
           "set:lang", "set:hour", "ak:ex", "ak:net", "cancel:flow", "x"]


def owned_things(chat: Chat) -> dict:
    key_id, bot_id = chat.with_key(), chat.with_bot()
    chat.say(f"/startbot {bot_id}", "running")
    mask = chat.say("/keys", "Your keys").split("...")[1][:4]
    return {"key": key_id, "bot": bot_id, "mask": mask}


@pytest.fixture(scope="module")
def pair(service, fakes):
    """Two registered users, each with a key and a running bot that only they may touch."""
    first, second = Chat(*fakes).registered(), Chat(*fakes).registered()
    return {first: owned_things(first), second: owned_things(second)}


def words(ids: dict):
    ident = st.sampled_from([str(ids["bot"]), str(ids["key"]), "0", "-3", "x", "999999999999999999999", ""])
    free = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
    return st.one_of(
        st.builds(lambda c, a: f"{c} {a}".strip(), st.sampled_from(COMMANDS), ident),
        free.filter(lambda text: text.strip() and not text.startswith("/")),
        st.sampled_from(["BTC/USDT", "100", "dip=0.8", "paper:binance", f"/newbot {ids['key']} BTC/USDT 100"]),
    )


def presses(ids: dict):
    ident = st.sampled_from([str(ids["bot"]), str(ids["key"]), "paper", "binance", "BTC/USDT", "100", "dip", "ok",
                             "yes", "all", "pt_BR", "off", "7", "", "1:2:3"])
    return st.builds(lambda action, value: f"{action}:{value}", st.sampled_from(ACTIONS), ident)


def answered(chat: Chat, before: int) -> bool:
    return len(chat.telegram.bot_messages(chat.id)) > before


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_messages_and_presses_from_two_users(pair, data):
    """Each user aims at the other's ids (and at ids nobody has); their own rows are theirs to change."""
    first, second = pair
    for _ in range(4):
        chat = data.draw(st.sampled_from([first, second]), label="who")
        other = pair[second if chat is first else first]
        if data.draw(st.booleans(), label="press"):
            messages = chat.telegram.bot_messages(chat.id)
            payload = data.draw(presses(other), label="data")[:64]
            chat.telegram.press_button(chat.id, messages[-1]["message_id"], payload, forged=True)
            chat.say("/help", "botfleet")  # each chat's updates are handled in order: the press is done
            last = chat.telegram.callback_answers(chat.id)[-1]
            assert last["attempts"] == 1 and last["answer"] is not None, payload
        else:
            before = chat.send(data.draw(words(other), label="text"))
            chat.telegram.wait_for_bot_message(chat.id, None, timeout=WAIT, after=before)
    for chat, other_chat in ((first, second), (second, first)):
        seen = " ".join(m["text"] for m in chat.telegram.bot_messages(chat.id))
        assert "went wrong" not in seen
        assert f"...{pair[other_chat]['mask']}" not in seen
        theirs = pair[other_chat]
        listing = other_chat.say("/bots", "bots")
        assert any(line.startswith(f"{theirs['bot']} ") and "running" in line for line in listing.splitlines())
        assert f"Key {theirs['key']}" in other_chat.say("/keys", "keys")
