"""The engine's and the gateway's texts, for the catalog: they reach users in outbox payloads and
gateway errors as English sentences, and are translated here when shown.

The engine stays free of chat concerns (no catalog import below telegram_bot/): fixed texts are
looked up as they are, texts with values are matched by pattern. tests/telegram_bot/test_i18n.py
checks that every text listed here still occurs in the engine's source, so a reworded message
shows up as a failing test instead of silently going untranslated.
"""
from __future__ import annotations

import re

from telegram_bot.i18n import N_, _

FIXED = (
    N_("The exchange does not know this order."),
    N_("The exchange rejected the API key (invalid, expired or without trading permission)."),
    N_("Insufficient funds on the exchange for this order."),
    N_("The exchange does not list this symbol."),
    N_("The exchange refused the order as invalid (size, price or market limits)."),
    N_("The exchange is unreachable or rate limiting; will retry."),
    N_("The exchange is rate limiting; will retry."),
    N_("The exchange returned an error; will retry."),
    N_("The exchange rejected this bot's API key. Add a new key with /addkey, then create the bot again with it."),
    N_("Its API key cannot be decrypted any more. Add the key again with /addkey."),
    N_("This bot has no API key any more. Create a new bot with a current key."),
    N_("Its strategy failed on the latest prices."),
    N_("No order book for this market yet."),
)

# (source pattern with named groups, catalog template with the same names)
PATTERNS = (
    (r"Unknown exchange '(?P<exchange>.*)'\. Supported: (?P<supported>.*)\.",
     N_("Unknown exchange '{exchange}'. Supported: {supported}.")),
    (r"(?P<exchange>\S+) has no active spot market (?P<symbol>\S+)\.",
     N_("{exchange} has no active spot market {symbol}.")),
    (r"Key (?P<id>.+) not found\.", N_("Key {id} not found.")),
    (r"Bot (?P<id>.+) not found\.", N_("Bot {id} not found.")),
    (r"(?P<exchange>\S+) has too little history of (?P<symbol>\S+) for a backtest\.",
     N_("{exchange} has too little history of {symbol} for a backtest.")),
    (r"Its settings are no longer valid: (?P<error>.*)", N_("Its settings are no longer valid: {error}")),
    (r"The exchange ended its (?P<side>buy|sell) order without a fill \((?P<status>.*)\)\.",
     N_("The exchange ended its {side} order without a fill ({status}).")),
    (r"Insufficient paper funds: this buy needs (?P<amount>\S+) (?P<quote>\S+)\.",
     N_("Insufficient paper funds: this buy needs {amount} {quote}.")),
    (r"Insufficient paper (?P<asset>\S+) for this order\.", N_("Insufficient paper {asset} for this order.")),
    (r"Insufficient paper (?P<asset>\S+) for this sell\.", N_("Insufficient paper {asset} for this sell.")),
    (r"The order \((?P<amount>\S+) (?P<base>\S+) at (?P<price>\S+)\) is below (?P<symbol>\S+)'s minimum "
     r"\((?P<min_amount>\S+) (?P<base2>\S+), (?P<min_cost>\S+) (?P<quote>\S+)\)\.",
     N_("The order ({amount} {base} at {price}) is below {symbol}'s minimum ({min_amount} {base2}, {min_cost} {quote}).")),
    (r"Unexpected error: (?P<name>\w+)", N_("Unexpected error: {name}")),
)
_COMPILED = tuple((re.compile(pattern, re.DOTALL), template) for pattern, template in PATTERNS)


def translate(message: str) -> str:
    """An engine message in the reader's language (English when it is not in the catalog)."""
    translated = _(message)
    if translated != message:
        return translated
    for pattern, template in _COMPILED:
        match = pattern.fullmatch(message)
        if match:
            return _(template).format(**match.groupdict())
    return message
