"""logconfig: secrets never reach what a handler writes; noisy HTTP loggers are quiet."""
from __future__ import annotations

import io
import logging

import pytest

from logconfig import REDACTED, RedactingFilter, configure_logging

SECRET = "123456:TOKEN-abcdefgh"


@pytest.fixture
def capture():
    """A logger whose only handler writes through RedactingFilter([SECRET]) to a StringIO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([SECRET, "short", None]))
    logger = logging.getLogger("tests.logconfig")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


@pytest.fixture
def restore_logging():
    root, httpx = logging.getLogger(), logging.getLogger("httpx")
    saved = root.handlers[:], root.level, httpx.level
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    httpx.setLevel(saved[2])


def test_secret_in_the_message_is_redacted(capture):
    logger, stream = capture
    logger.info(f"GET https://api.telegram.org/bot{SECRET}/getMe")
    assert SECRET not in stream.getvalue()
    assert f"bot{REDACTED}/getMe" in stream.getvalue()


def test_secret_in_percent_args_is_redacted(capture):
    logger, stream = capture
    logger.info("token %s used %d times", SECRET, 3)
    assert stream.getvalue() == f"token {REDACTED} used 3 times\n"


def test_secret_in_an_exception_traceback_is_redacted(capture):
    logger, stream = capture
    try:
        raise RuntimeError(f"bad url with {SECRET}")
    except RuntimeError:
        logger.exception("request failed")
    written = stream.getvalue()
    assert SECRET not in written
    assert "request failed" in written and f"RuntimeError: bad url with {REDACTED}" in written


def test_message_without_secrets_is_unchanged(capture):
    logger, stream = capture
    logger.info("%d%% done", 50)
    assert stream.getvalue() == "50% done\n"


def test_strings_under_eight_characters_are_not_secrets(capture):
    logger, stream = capture
    logger.info("a short word")
    assert stream.getvalue() == "a short word\n"
    assert RedactingFilter(["1234567", "12345678"]).secrets == ("12345678",)


def test_configure_logging_redacts_what_goes_to_stderr(capsys, restore_logging):
    configure_logging("worker", secrets=[SECRET])
    logging.getLogger("botfleet.stderr_check").info("token is %s", SECRET)
    written = capsys.readouterr().err
    assert SECRET not in written
    assert f"worker INFO botfleet.stderr_check: token is {REDACTED}" in written


def test_configure_logging_raises_httpx_to_warning(capsys, restore_logging):
    configure_logging("bot", secrets=[SECRET])
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot.../getUpdates")
    assert "getUpdates" not in capsys.readouterr().err
