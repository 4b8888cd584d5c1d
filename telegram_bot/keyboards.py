"""Inline keyboards and the callback data they carry ("<action>:<answer>:<id>")."""
from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

DELETE_BOT = "deletebot"


def confirm_delete_bot(bot_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("Yes, delete", callback_data=f"{DELETE_BOT}:yes:{bot_id}"),
        InlineKeyboardButton("No, keep it", callback_data=f"{DELETE_BOT}:no:{bot_id}"),
    ]])


def parse_callback(data: str) -> tuple[str, str, str]:
    action, answer, ident = (data.split(":") + ["", "", ""])[:3]
    return action, answer, ident
