"""logconfig: one structured line per record, secrets never reach what a handler writes, noisy
HTTP loggers are quiet, and whatever Python would print over several lines comes through too."""
from __future__ import annotations

import io
import logging
import sys
import threading
import warnings
from decimal import Decimal

import pytest

from logconfig import REDACTED, RedactingFilter, configure_logging, structured_handler
from logcontext import get_logger, log_context
from tests.logfmt import parse_line

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
def structured():
    """A logger writing through the processes' handler (secret: SECRET) to a StringIO."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.structured")
    logger.addHandler(structured_handler("worker", secrets=[SECRET], stream=stream))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield get_logger("tests.structured"), stream
    logger.handlers.clear()
    logger.propagate = True


@pytest.fixture
def restore_logging():
    root, httpx = logging.getLogger(), logging.getLogger("httpx")
    saved = root.handlers[:], root.level, httpx.level
    hooks = sys.excepthook, threading.excepthook, sys.unraisablehook
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    httpx.setLevel(saved[2])
    sys.excepthook, threading.excepthook, sys.unraisablehook = hooks
    logging.captureWarnings(False)


def only_line(stream: io.StringIO) -> dict:
    text = stream.getvalue()
    assert text.endswith("\n") and len(text.splitlines()) == 1, text
    return parse_line(text.rstrip("\n"))


# ------------------------------------------------------------------ RedactingFilter on any handler

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


# ------------------------------------------------------------------ the structured line

def test_a_record_is_one_logfmt_line_with_its_own_fields_first_then_the_ids(structured):
    log, stream = structured
    with log_context(exchange="binance", bot=12):
        log.info("order filled", side="buy", order=345, user=3, amount=Decimal("0.00100000"),
                 price=Decimal("1E-8"), paused=False, reason=None)
    record = only_line(stream)
    assert list(record)[:8] == ["time", "process", "level", "logger", "msg", "user", "bot", "order"]
    assert record | {"time": "t"} == {
        "time": "t", "process": "worker", "level": "INFO", "logger": "tests.structured", "msg": "order filled",
        "user": "3", "bot": "12", "order": "345", "exchange": "binance", "side": "buy", "amount": "0.00100000",
        "price": "0.00000001", "paused": "false",
    }  # a None field is left out; a Decimal never in exponent form


def test_values_are_quoted_and_escaped_only_when_needed(structured):
    log, stream = structured
    tricky = {"spaced": "two words", "quoted": 'say "hi"', "equals": "a=b", "slashed": "C:\\path",
              "empty": "", "lines": "one\ntwo\r\n\tthree", "separator": "a\u2028b\x85c", "bell": "\x07",
              "accents": "preço", "symbol": "BTC/USDT"}
    log.info("tricky values", **tricky)
    text = stream.getvalue()
    assert 'symbol=BTC/USDT' in text and "accents=preço" in text  # plain values stay bare
    assert 'spaced="two words"' in text and r'lines="one\ntwo\r\n\tthree"' in text
    record = only_line(stream)
    assert {name: record[name] for name in tricky} == tricky


def test_a_traceback_is_folded_into_the_same_line(structured):
    log, stream = structured
    try:
        raise ValueError("first line\nsecond line")
    except ValueError:
        log.exception("it broke", tick=7)
    record = only_line(stream)
    assert record["level"] == "ERROR" and record["msg"] == "it broke" and record["tick"] == "7"
    assert list(record)[-1] == "traceback"
    assert record["traceback"].startswith("Traceback (most recent call last):\n")
    assert record["traceback"].endswith("ValueError: first line\nsecond line")


def test_a_secret_is_redacted_in_the_message(structured):
    log, stream = structured
    log.info("token %s in a URL", SECRET)
    assert SECRET not in stream.getvalue()
    assert only_line(stream)["msg"] == f"token {REDACTED} in a URL"


def test_a_secret_is_redacted_in_a_field_given_at_the_call_or_by_the_context(structured):
    log, stream = structured
    with log_context(url=f"https://api.telegram.org/bot{SECRET}/getMe"):
        log.warning("request failed", detail=f"with {SECRET}!", secret_itself=SECRET)
    assert SECRET not in stream.getvalue()
    record = only_line(stream)
    assert record["url"] == f"https://api.telegram.org/bot{REDACTED}/getMe"
    assert record["detail"] == f"with {REDACTED}!" and record["secret_itself"] == REDACTED


def test_a_secret_is_redacted_in_a_folded_traceback(structured):
    log, stream = structured
    try:
        raise RuntimeError(f"bad url with {SECRET}\nand more")
    except RuntimeError:
        log.exception("request failed")
    assert SECRET not in stream.getvalue()
    assert only_line(stream)["traceback"].endswith(f"RuntimeError: bad url with {REDACTED}\nand more")


def test_a_field_never_hides_the_records_own(structured):
    log, stream = structured
    with log_context(process="somewhere else", time="never"):
        log.info("own fields first")
    record = only_line(stream)
    assert record["process"] == "worker" and record["field.process"] == "somewhere else"
    assert record["field.time"] == "never" and record["time"] != "never"


def test_rq_job_extras_become_the_job_field_and_its_arguments_stay_out(structured):
    _, stream = structured
    logging.getLogger("tests.structured").error(
        "Worker w: job abc: exception raised while executing (workers.trading.act)\nTraceback...",
        extra={"func": "workers.trading.act", "arguments": ["payload"], "kwargs": {}, "queue": "trades",
               "job_id": "abc"})
    record = only_line(stream)
    assert record["job"] == "abc" and record["queue"] == "trades" and record["func"] == "workers.trading.act"
    assert "arguments" not in record and "payload" not in stream.getvalue()
    assert record["msg"].endswith("(workers.trading.act)\nTraceback...")


# ------------------------------------------------------------------ configure_logging

def test_configure_logging_redacts_what_goes_to_stderr(capsys, restore_logging):
    configure_logging("worker", secrets=[SECRET])
    logging.getLogger("botfleet.stderr_check").info("token is %s", SECRET)
    written = capsys.readouterr().err
    assert SECRET not in written
    record = parse_line(written.rstrip("\n"))
    assert (record["process"], record["level"], record["logger"]) == ("worker", "INFO", "botfleet.stderr_check")
    assert record["msg"] == f"token is {REDACTED}"


def test_configure_logging_raises_httpx_to_warning(capsys, restore_logging):
    configure_logging("bot", secrets=[SECRET])
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot.../getUpdates")
    assert "getUpdates" not in capsys.readouterr().err


def test_warnings_and_uncaught_exceptions_come_out_as_one_line_each(capsys, restore_logging):
    configure_logging("bot", secrets=[SECRET])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"careful with {SECRET}\nreally")
    try:
        raise KeyError("lost")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    thread = threading.Thread(target=lambda: 1 / 0, name="doomed")
    thread.start()
    thread.join()
    written = capsys.readouterr().err
    assert SECRET not in written
    warned, uncaught, in_thread = (parse_line(line) for line in written.splitlines())
    assert warned["logger"] == "py.warnings" and f"careful with {REDACTED}\nreally" in warned["msg"]
    assert uncaught["level"] == "CRITICAL" and uncaught["traceback"].endswith("KeyError: 'lost'")
    assert in_thread["thread"] == "doomed" and in_thread["traceback"].endswith("ZeroDivisionError: division by zero")
