"""/admin (service figures), /invite (a single-use invite code) and /broadcast (an announcement to
every reachable user). Admins only: anyone else is told the command does not exist."""
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


async def invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A single-use invite code (REGISTRATION=invite)."""
    if await _refused(update, context, "/invite"):
        return
    code = await blocking(create_invite, update.effective_chat.id)
    await reply(update, formatting.invite_created(code))


async def broadcast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcast <text>: the text goes to every reachable user through the outbox."""
    if await _refused(update, context, "/broadcast"):
        return
    text = (update.effective_message.text or "").partition(" ")[2].strip()
    if not text:
        await reply(update, formatting.broadcast_usage())
        return
    count = await blocking(admin_rpc.broadcast, text)
    await reply(update, formatting.broadcast_queued(count))


async def _refused(update: Update, context: ContextTypes.DEFAULT_TYPE, command: str) -> bool:
    i18n.use(telegram_language(update))
    if update.effective_chat.id in services(context).settings.admin_chat_ids:
        return False
    await reply(update, formatting.unknown_command(command))
    return True
