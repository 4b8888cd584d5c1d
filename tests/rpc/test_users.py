"""Registration under REGISTRATION=open, invite and closed."""
from __future__ import annotations

import pytest

from models import Invite, User
from rpc import UserError
from rpc.users import create_invite, register


def test_open_registration_is_idempotent(database):
    first, created = register(11, "Ann", None, "open", False)
    again, created_again = register(11, "Ann", None, "open", False)
    assert created and not created_again and first.id == again.id
    assert User.select().count() == 1


def test_closed_registration_refuses_newcomers_but_not_admins(database):
    with pytest.raises(UserError, match="closed"):
        register(12, "Bob", None, "closed", False)
    assert register(13, "Admin", None, "closed", True)[1] is True
    assert User.select().count() == 1


def test_invite_registration_needs_an_unused_code(database):
    with pytest.raises(UserError, match="invite-only"):
        register(14, "Cy", None, "invite", False)
    code = create_invite(admin_chat_id=1)
    user, created = register(14, "Cy", code, "invite", False)
    assert created and Invite.get(Invite.code == code).used_by_id == user.id
    with pytest.raises(UserError, match="unknown or already used"):
        register(15, "Di", code, "invite", False)


def test_registering_again_makes_an_unreachable_user_reachable(database):
    user, _ = register(16, "Ed", None, "open", False)
    User.update(reachable=False).where(User.id == user.id).execute()
    register(16, "Ed", None, "open", False)
    assert User.get_by_id(user.id).reachable is True


def test_one_invite_code_registers_one_user_when_two_redeem_it_at_the_same_instant(database):
    import threading

    code = create_invite(1)
    start, outcomes = threading.Barrier(2), {}

    def redeem(chat_id):
        start.wait()
        try:
            register(chat_id, "racer", code, "invite", False)
            outcomes[chat_id] = "registered"
        except UserError:
            outcomes[chat_id] = "refused"
        finally:
            database.close()

    racers = [threading.Thread(target=redeem, args=(chat_id,)) for chat_id in (31, 32)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    assert sorted(outcomes.values()) == ["refused", "registered"]
    assert User.select().where(User.chat_id.in_([31, 32])).count() == 1
    assert Invite.get(Invite.code == code).used_by is not None
