"""One user's chat with the bot under test, as the user sees it: say things, press buttons."""
from __future__ import annotations

import itertools
import secrets

from tests.fakes.binance_api import FakeBinance
from tests.fakes.telegram_api import FakeTelegram
from tests.test_end_to_end import number_after

WAIT = 30
_chats = itertools.count(8001)


class Chat:
    """One user's private chat with the bot."""

    def __init__(self, telegram: FakeTelegram, binance: FakeBinance, language: str = "en"):
        self.telegram, self.binance, self.id, self.language = telegram, binance, next(_chats), language

    def send(self, text: str) -> int:
        """Send without waiting; returns how many bot messages there were before."""
        before = len(self.telegram.bot_messages(self.id))
        self.telegram.send_user_message(self.id, text, language_code=self.language)
        return before

    def say(self, text: str, expect="") -> str:
        return self.say_message(text, expect)["text"]

    def say_message(self, text: str, expect="") -> dict:
        before = self.send(text)
        return self.telegram.wait_for_bot_message(self.id, expect or None, timeout=WAIT, after=before)

    def press(self, message: dict, data: str, expect="", forged: bool = False) -> dict:
        """Press a button under `message`; the first bot message (new or edited) matching `expect`
        after the press."""
        before = len(self.telegram.bot_messages(self.id))
        edits_before = {m["message_id"]: m.get("edit_date") for m in self.telegram.bot_messages(self.id)}
        self.telegram.press_button(self.id, message["message_id"], data, forged=forged)

        def changed(m):
            new = m["message_id"] not in edits_before
            edited = not new and m["edited"] and (m["text"] != message.get("text") or m["edit_date"] != edits_before[m["message_id"]])
            text_ok = expect in m["text"] if isinstance(expect, str) else expect(m)
            return (new or edited) and text_ok

        return self.telegram.wait_for_bot_message(self.id, changed, timeout=WAIT)

    def buttons(self, message: dict) -> dict[str, str]:
        """text -> callback data of the message's inline buttons (as it is now)."""
        current = next(m for m in self.telegram.transcript(self.id) if m["message_id"] == message["message_id"])
        markup = current["reply_markup"] or {}
        return {b["text"]: b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row}

    def button_data(self, message: dict) -> list[str]:
        """Every callback data under the message (as it is now), in order."""
        current = next(m for m in self.telegram.transcript(self.id) if m["message_id"] == message["message_id"])
        markup = current["reply_markup"] or {}
        return [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]

    def last(self) -> dict:
        return self.telegram.bot_messages(self.id)[-1]

    def registered(self) -> "Chat":
        self.say("/start", "botfleet")
        return self

    def with_key(self, can_withdraw=False) -> int:
        api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
        self.binance.add_account(api_key, secret, {"USDT": "1000"}, can_withdraw=can_withdraw)
        return number_after("(?:Key|Chave)", self.say(f"/addkey binance {api_key} {secret}", "✅"))

    def with_bot(self, key_ref="paper:binance", symbol="BTC/USDT") -> int:
        return number_after("(?:Bot|Robô)", self.say(f"/newbot {key_ref} {symbol} 100", "✅"))
