"""Admin commands through the real bot process: /invite and /broadcast for admins only."""
from __future__ import annotations

import pytest

from tests.telegram_bot.chat import Chat

ADMIN_CHAT = 9_990_001


@pytest.fixture(scope="module")
def service_extra_env():
    return {"ADMIN_CHAT_IDS": str(ADMIN_CHAT)}


@pytest.fixture
def admin(service, fakes):
    chat = Chat(*fakes)
    chat.id = ADMIN_CHAT
    return chat.registered()


def test_invite_and_broadcast_are_hidden_from_non_admins(user):
    assert "Unknown command /invite" in user.say("/invite", "Unknown")
    assert "Unknown command /broadcast" in user.say("/broadcast hello everyone", "Unknown")


def test_invite_gives_a_single_use_code(admin):
    assert "/start " in admin.say("/invite", "Invite code")


def test_broadcast_reaches_every_reachable_user_once_with_its_text_escaped(admin, fakes):
    first, second = Chat(*fakes).registered(), Chat(*fakes, language="pt-br").registered()

    queued = admin.say("/broadcast Maintenance at <b>22:00</b> UTC", "queued")

    assert "queued" in queued
    for chat, heading in ((first, "Announcement"), (second, "Aviso")):
        message = chat.telegram.wait_for_bot_message(chat.id, "Maintenance", timeout=30)
        assert heading in message["text"] and "<b>22:00</b>" in message["text"]  # shown as typed, not as HTML
        assert sum("Maintenance" in m["text"] for m in chat.telegram.bot_messages(chat.id)) == 1


def test_broadcast_without_text_says_how(admin):
    assert "/broadcast" in admin.say("/broadcast", "announcement")
