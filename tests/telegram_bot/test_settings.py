"""/settings: buttons for each kind of message (on, silent, off), the language, the summary hour."""
from __future__ import annotations


def test_settings_shows_every_kind_with_its_level_and_the_language(user):
    message = user.say_message("/settings", "Settings")
    assert "Fills: on" in message["text"] and "Daily summary: off" in message["text"]
    assert "Language: English" in message["text"]
    assert {"set:fills:silent", "set:errors:off", "set:lang:pt_BR", "set:hours:"} <= set(user.button_data(message))


def test_a_pressed_level_is_saved_and_shown_in_place(user):
    message = user.say_message("/settings", "Settings")
    user.press(message, "set:fills:silent", "Fills: silent")
    user.press(message, "set:errors:off", "Errors and pauses: off")
    assert "Fills: silent" in user.say("/settings", "Settings")


def test_the_language_changes_at_once_and_stays(user):
    message = user.say_message("/settings", "Settings")
    user.press(message, "set:lang:pt_BR", "Idioma: português (Brasil)")
    assert "Seus robôs" in user.say("/bots", "robôs") or "ainda não tem robôs" in user.say("/bots", "robôs")
    message = user.say_message("/settings", "Ajustes")
    user.press(message, "set:lang:en", "Language: English")


def test_the_summary_hour_is_picked_from_buttons(user):
    message = user.say_message("/settings", "Settings")
    hours = user.press(message, "set:hours:", "which hour")
    assert len(user.button_data(hours)) == 24
    user.press(hours, "set:hour:7", "Daily summary at 07:00 UTC")


def test_a_made_up_setting_changes_nothing(user):
    message = user.say_message("/settings", "Settings")
    user.telegram.press_button(user.id, message["message_id"], "set:fills:loud", forged=True)
    user.telegram.wait_for_bot_message(user.id, "Unknown setting", timeout=30)
    assert "Fills: on" in user.say("/settings", "Settings")
