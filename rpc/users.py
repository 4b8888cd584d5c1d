"""Registration and invites."""
from __future__ import annotations

import secrets

from logcontext import get_logger
from models import Invite, User, write_transaction
from rpc import N_, UserError

log = get_logger(__name__)


def find_user(chat_id: int) -> User | None:
    return User.get_or_none(User.chat_id == chat_id)


def remember_language(user_id: int, language: str) -> None:
    User.update(language=language).where(User.id == user_id).execute()


def register(chat_id: int, name: str, invite_code: str | None, registration: str, is_admin: bool,
             language: str = "") -> tuple[User, bool]:
    """(user, created). Registering again is harmless and marks the chat reachable again."""
    user, created = _register(chat_id, name, invite_code, registration, is_admin, language)
    if created:
        log.info("user registered", user=user.id, chat=chat_id)
    return user, created


def _register(chat_id: int, name: str, invite_code: str | None, registration: str, is_admin: bool,
              language: str) -> tuple[User, bool]:
    with write_transaction():
        user = find_user(chat_id)
        if user is not None:
            if not user.reachable:
                User.update(reachable=True).where(User.id == user.id).execute()
            return user, False
        if not is_admin and registration == "closed":
            raise UserError(N_("Registration is closed. Ask the operator of this bot for access."))
        invite = None
        if not is_admin and registration == "invite":
            if not invite_code:
                raise UserError(N_("This bot is invite-only. Send /start <invite_code> with the code you were given."))
            invite = Invite.get_or_none((Invite.code == invite_code) & Invite.used_by.is_null())
            if invite is None:
                raise UserError(N_("That invite code is unknown or already used."))
        user = User.create(chat_id=chat_id, name=name[:100], language=language)
        if invite is not None:
            # Conditional: of two redemptions at the same instant, one takes the code; the other
            # rolls back its new user and is told the code is used.
            taken = Invite.update(used_by=user).where((Invite.id == invite.id) & Invite.used_by.is_null()).execute()
            if not taken:
                raise UserError(N_("That invite code is unknown or already used."))
        return user, True


def create_invite(admin_chat_id: int) -> str:
    code = secrets.token_urlsafe(9)
    Invite.create(code=code, created_by=admin_chat_id)
    return code
