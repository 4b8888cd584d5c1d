"""/settings: per kind of message on, silent (no sound) or off; language; daily summary hour.
Buttons only; each press edits the settings message in place."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from rpc import preferences as preference_rpc
from telegram_bot import formatting, i18n, keyboards
from telegram_bot.access import Note, blocking, button, edit_in_place, registered, reply


def settings_view(preferences: dict):
    kinds = [(kind, formatting.kind_name(kind)) for kind in preference_rpc.KINDS]
    languages = [(code, i18n.language_name(code)) for code in i18n.languages()]
    return formatting.settings_text(preferences), keyboards.settings(preferences, kinds, languages)


@registered
async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> None:
    """The user's preferences, as buttons."""
    text, markup = settings_view(await blocking(preference_rpc.preferences, user))
    await reply(update, text, reply_markup=markup)


@button
async def settings_button(update: Update, context: ContextTypes.DEFAULT_TYPE, user) -> Note | None:
    """One preference changed (or the hour picker opened); the message shows the new settings."""
    _, what, value = keyboards.parse_callback(update.callback_query.data)
    if what == "noop":
        return Note(formatting.kind_help(value))
    if what == "hours":
        preferences = await blocking(preference_rpc.preferences, user)
        await edit_in_place(update, formatting.summary_hour_question(), keyboards.summary_hours(preferences["summary_hour"]))
        return None
    if what == "lang":
        preferences = await blocking(preference_rpc.set_language, user, value, i18n.languages())
        i18n.use(preferences["language"])  # the answer already in the new language
    elif what == "hour":
        preferences = await blocking(preference_rpc.set_summary_hour, user, value)
    else:
        preferences = await blocking(preference_rpc.set_level, user, what, value)
    text, markup = settings_view(preferences)
    await edit_in_place(update, text, markup)
    return Note(formatting.saved())
