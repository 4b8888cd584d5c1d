"""A user's chat preferences: per kind of message on, silent or off; language; summary hour."""
from __future__ import annotations

from models import NOTIFICATION_LEVELS, User
from rpc import N_, UserError

# kind of message -> the User column that says how it is delivered
KINDS = {"fills": "notify_fills", "errors": "notify_errors", "summary": "notify_summary"}
# outbox kind -> kind of message (anything else, like a requested balance, is always delivered)
OUTBOX_KINDS = {"fill": "fills", "bot_error": "errors", "summary": "summary"}


def preferences(user: User) -> dict:
    fresh = User.get_by_id(user.id)
    return {**{kind: getattr(fresh, column) for kind, column in KINDS.items()},
            "language": fresh.language, "summary_hour": fresh.summary_hour}


def set_level(user: User, kind: str, level: str) -> dict:
    if kind not in KINDS or level not in NOTIFICATION_LEVELS:
        raise UserError(N_("Unknown setting."))
    User.update({getattr(User, KINDS[kind]): level}).where(User.id == user.id).execute()
    return preferences(user)


def set_language(user: User, language: str, available: tuple[str, ...]) -> dict:
    if language not in available:
        raise UserError(N_("Unknown setting."))
    User.update(language=language).where(User.id == user.id).execute()
    return preferences(user)


def set_summary_hour(user: User, hour) -> dict:
    if not str(hour).isdigit() or not 0 <= int(hour) <= 23:
        raise UserError(N_("Unknown setting."))
    # a new hour today may come before the old one: the next summary follows the new hour
    User.update(summary_hour=int(hour)).where(User.id == user.id).execute()
    return preferences(user)


def delivery_level(user: User, outbox_kind: str) -> str:
    """How a message of this outbox kind reaches this user: on, silent or off."""
    kind = OUTBOX_KINDS.get(outbox_kind)
    return "on" if kind is None else getattr(user, KINDS[kind])
