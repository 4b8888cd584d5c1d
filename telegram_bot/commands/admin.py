"""/admin: service figures, and invite codes when REGISTRATION=invite. Admins only."""
from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from rpc import admin as admin_rpc
from rpc.users import create_invite
from telegram_bot import formatting, i18n
from telegram_bot.access import blocking, reply, services, telegram_language


async def admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Figures for operators; anyone else is told the command does not exist."""
    svc = services(context)
    chat_id = update.effective_chat.id
    i18n.use(telegram_language(update))
    if chat_id not in svc.settings.admin_chat_ids:
        await reply(update, formatting.unknown_command("/admin"))
        return
    if context.args and context.args[0] == "invite":
        code = await blocking(create_invite, chat_id)
        await reply(update, formatting.invite_created(code))
        return
    await reply(update, formatting.admin_overview(await blocking(admin_rpc.overview, svc.redis)))
