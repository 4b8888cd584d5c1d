"""Chat commands through the real bot process: one-line forms, bad input, and owner scoping."""
from __future__ import annotations

import secrets
import time

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.registry import FinishedJobRegistry

from tests.conftest import TEST_REDIS_URL
from tests.telegram_bot.chat import WAIT, Chat
from tests.test_end_to_end import number_after
from workers.context import REPORT_QUEUE


def test_an_unregistered_chat_is_asked_to_start_first(chat):
    assert "Send /start" in chat.say("/bots")


def test_start_is_idempotent(user):
    again = user.say("/start", "botfleet")
    assert "registered" not in again
    assert "/newbot" in again


def test_help_lists_every_command_with_an_example(user):
    text = user.say("/help", "botfleet")
    for command in ("/addkey binance", "/addkey okx", "/newbot 1 BTC/USDT 100", "/startbot 1", "/deletebot 1",
                    "/balance"):
        assert command in text


def test_an_unknown_command_says_how_to_get_help(user):
    assert "Unknown command /fly" in user.say("/fly to the moon", "Unknown")


def test_admin_is_hidden_from_non_admins(user):
    assert "Unknown command /admin" in user.say("/admin", "Unknown")


def test_a_wrong_key_is_refused_deleted_from_the_chat_and_not_stored(user):
    reply = user.say("/addkey binance kWRONGkey123456 sWRONGsecret123456", "rejected")
    assert "API key" in reply and "sWRONG" not in reply
    pasted = [m for m in user.telegram.transcript(user.id) if m["text"].startswith("/addkey")]
    assert pasted[0]["deleted"]
    assert "no API keys" in user.say("/keys", "keys")


def test_a_key_that_can_withdraw_is_refused(user):
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    user.binance.add_account(api_key, secret, {"USDT": "1"}, can_withdraw=True)
    assert "withdraw" in user.say(f"/addkey binance {api_key} {secret}", "withdraw")
    assert "no API keys" in user.say("/keys", "keys")


def test_addkey_without_enough_words_shows_usage_and_still_deletes_the_message(user):
    assert "Usage: /addkey" in user.say("/addkey binance onlyonesecretword", "Usage")
    assert user.telegram.transcript(user.id)[-2]["deleted"]


def test_addkey_for_an_unknown_exchange_names_the_supported_ones(user):
    assert "exchange (binance, bybit, okx)" in user.say("/addkey krakenx aaaaaaaaaa bbbbbbbbbb", "⚠️")


def test_addkey_without_the_exchange_never_echoes_the_pasted_key(user):
    reply = user.say("/addkey AKEYaaaaaaaaaaaa SECRETbbbbbbbbbb PASScccccccc", "⚠️")
    assert "AKEY" not in reply and "SECRET" not in reply and "PASS" not in reply


def test_a_testnet_key_makes_testnet_bots(user):
    api_key, secret = "k" + secrets.token_hex(16), secrets.token_hex(32)
    user.binance.add_account(api_key, secret, {"USDT": "1000"})
    added = user.say(f"/addkey binance {api_key} {secret} testnet", "added")
    assert "(testnet)" in added
    assert "testnet" in user.say(f"/newbot {number_after('Key', added)} BTC/USDT 100", "Created")


def test_a_good_key_is_shown_masked_only(user):
    key_id = user.with_key()
    listing = user.say("/keys", "Your keys")
    assert f"Key {key_id}" in listing and "..." in listing


@pytest.mark.parametrize("words, expected", [
    ("paper:binance BTC/USDT", "Usage: /newbot"),
    ("paper:binance BTC/USDT lots", "Capital must be a number"),
    ("paper:binance BTC/USDT -5", "positive amount"),
    ("paper:binance BTCUSDT 100", "Symbols look like BTC/USDT"),
    ("paper:binance DOGE/EUR 100", "no active spot market"),
    ("paper:binance BTC/USDT 4", "below the minimum order"),
    ("paper:binance BTC/USDT 100 moon", "Unknown strategy 'moon'"),
    ("paper:binance BTC/USDT 100 dip speed=3", "Unknown parameter speed"),
    ("paper:binance BTC/USDT 100 dip tp=0", "tp must be between"),
    ("paper:krakenx BTC/USDT 100", "Unknown exchange"),
    ("abc BTC/USDT 100", "key id from /keys"),
])
def test_newbot_bad_input_says_what_to_fix_and_creates_nothing(user, words, expected):
    assert expected in user.say(f"/newbot {words}".strip(), "⚠️")
    assert "no bots yet" in user.say("/bots", "bots")


def test_newbot_replies_with_the_full_settings(user):
    reply = user.say("/newbot paper:binance ETH/USDT 250 dip dip=0.8 tp=2 sl=4 period=30", "Created")
    assert "capital 250 USDT" in reply and "paper" in reply
    for setting in ("dip=0.8", "tp=2", "sl=4", "period=30", "timeframe=1m", "trail=0"):
        assert setting in reply


def test_another_users_bot_and_key_are_not_found_and_untouched(user, fakes):
    owner = Chat(*fakes).registered()
    key_id, bot_id = owner.with_key(), owner.with_bot()
    for command in (f"/startbot {bot_id}", f"/stopbot {bot_id}", f"/deletebot {bot_id}", f"/status {bot_id}",
                    f"/profit {bot_id}", f"/delkey {key_id}", f"/balance {key_id}", f"/newbot {key_id} BTC/USDT 100"):
        assert "not found" in user.say(command, "not found")
    assert f"{bot_id} " in owner.say("/bots", "Your bots") and "stopped" in owner.say("/bots", "Your bots")


def test_start_stop_and_bots_show_the_status(user):
    bot_id = user.with_bot()
    assert "running" in user.say(f"/startbot {bot_id}", "running")
    assert "already running" in user.say(f"/startbot {bot_id}", "already")
    assert "running" in user.say("/bots", "Your bots")
    assert "stopped" in user.say(f"/stopbot {bot_id}", "stopped")


def test_a_key_used_by_a_running_bot_cannot_be_deleted(user):
    key_id = user.with_key()
    bot_id = user.with_bot(str(key_id))
    user.say(f"/startbot {bot_id}", "running")
    assert "Stop them first" in user.say(f"/delkey {key_id}", "⚠️")
    user.say(f"/stopbot {bot_id}", "stopped")
    question = user.say_message(f"/delkey {key_id}", "Delete key")
    assert "deleted" in user.press(question, f"delkey:yes:{key_id}", "deleted")["text"]


def test_deletebot_asks_first_and_deletes_on_yes(user):
    bot_id = user.with_bot()
    before = len(user.telegram.bot_messages(user.id))
    user.telegram.send_user_message(user.id, f"/deletebot {bot_id}")
    question = user.telegram.wait_for_bot_message(user.id, "Delete bot", timeout=WAIT, after=before)
    assert "no bots yet" not in user.say("/bots", "bots")

    user.telegram.press_button(user.id, question["message_id"], f"deletebot:yes:{bot_id}")

    user.telegram.wait_for_bot_message(user.id, lambda m: m["edited"] and "deleted" in m["text"], timeout=WAIT)
    assert "no bots yet" in user.say("/bots", "bots")


def test_trades_with_a_bad_count_shows_usage(user):
    assert "Usage: /trades" in user.say("/trades many", "Usage")


def test_balance_of_a_key_arrives_from_a_worker(user):
    key_id = user.with_key()
    before = user.send(f"/balance {key_id}")
    balance = user.telegram.wait_for_bot_message(user.id, "USDT: 1,000 free", timeout=WAIT, after=before)
    assert f"key {key_id}" in balance["text"]


@pytest.mark.parametrize("command, title, rows", [
    ("/daily", "Daily profit", 7), ("/daily 3", "Daily profit", 3), ("/weekly", "Weekly profit", 4),
    ("/monthly 2", "Monthly profit", 2),
])
def test_period_reports_show_one_line_per_period(user, command, title, rows):
    user.with_bot()
    text = user.say(command, title)
    assert text.count("no trades") == rows


@pytest.mark.parametrize("command", ["/daily many", "/weekly 0", "/monthly 1 2"])
def test_period_reports_with_a_bad_count_show_usage(user, command):
    assert "Usage: /" in user.say(command, "⚠️")


def test_performance_without_closed_trades_says_so(user):
    assert "No closed trades yet" in user.say("/performance", "trades")


def test_profit_shows_profit_factor_and_drawdown(user):
    user.with_bot()
    assert "profit factor –, max drawdown 0.00 USDT" in user.say("/profit", "Profit")


# --- strategies (issue 8) ----------------------------------------------------

def test_help_with_a_strategy_lists_its_parameters_with_defaults_and_bounds(user):
    text = user.say("/help dca", "Strategy dca")
    for line in ("so — safety orders; default 5; 0 to 50", "vscale", "sscale", "start", "now | dip"):
        assert line in text
    assert "tsl — trailing stop loss" in user.say("/help dip", "Strategy dip")
    assert "Unknown strategy 'moon'" in user.say("/help moon", "Unknown")


def test_newbot_dca_shows_the_resolved_ladder(user):
    text = user.say("/newbot paper:binance BTC/USDT 400 dca so=2 vscale=2 dev=1.5", "Created")
    assert "base order: buy 0.00166 BTC @ 60,000 = 99.60 USDT" in text
    assert "safety order 1: buy 0.00168 BTC @ 59,100 = 99.29 USDT" in text
    assert "safety order 2: buy 0.00342 BTC @ 58,200 = 199.04 USDT" in text


def test_newbot_refuses_unknown_names_and_out_of_bound_values_of_each_strategy(user):
    assert "Unknown parameter levels" in user.say("/newbot paper:binance BTC/USDT 400 grid levels=5", "Unknown")
    assert "grids must be between 2 and 200; got '1'" in user.say("/newbot paper:binance BTC/USDT 400 grid grids=1", "grids")
    assert "vscale must be between 0.5 and 10" in user.say("/newbot paper:binance BTC/USDT 400 dca vscale=11", "vscale")
    assert "use a capital of at least" in user.say("/newbot paper:binance BTC/USDT 20 dca so=5", "capital")
    assert "low must be below high" in user.say("/newbot paper:binance BTC/USDT 400 grid low=2 high=1", "low")
    assert "You have no bots yet" in user.say("/bots", "bots")


def _photo_after(telegram, chat_id: int, before: int) -> dict:
    return telegram.wait_for_bot_message(chat_id, lambda m: m["photo"], timeout=60, after=before)


def test_backtest_answers_with_its_figures_under_an_equity_chart(user, fakes):
    telegram, binance = fakes
    binance.set_history("BTC/USDT", ["60000"] * 25 + ["59000", "60500"] * 10)
    before = len(telegram.bot_messages(user.id))
    queued = user.say_message("/backtest dip BTC/USDT 1 dip=1 tp=2", "dip on BTC/USDT over 1 days")  # any stage
    assert "Backtest" in queued["text"]
    photo = _photo_after(telegram, user.id, before)
    assert photo["photo_file"]["file_size"] > 10_000  # a real PNG went up
    # the job edited its "Backtesting…" message as it went, ending with "finished"
    finished = telegram.wait_for_bot_message(user.id, lambda m: m["message_id"] == queued["message_id"]
                                             and "finished" in m["text"], timeout=WAIT)
    assert finished["edited"] and "Backtest of dip on BTC/USDT over 1 days finished" in finished["text"]
    for figure in ("Backtest dip on BTC/USDT, 1 day(s)", "trades", "return", "buy and hold", "max drawdown",
                   "win rate", "profit factor", "fees", "dip=1"):
        assert figure in photo["text"]


def test_backtest_refuses_bad_requests_before_queueing(user):
    assert "Unknown strategy 'moon'" in user.say("/backtest moon BTC/USDT", "Unknown")
    assert "Days must be a whole number from 1 to 365" in user.say("/backtest dip BTC/USDT 0", "Days")
    assert "tp must be between" in user.say("/backtest dca BTC/USDT 30 tp=0", "tp must")
    assert "at most 100000 per backtest" in user.say("/backtest dip BTC/USDT 90", "at most")


def test_chart_of_a_grid_bot_is_a_photo_and_another_users_bot_is_not_found(user, fakes):
    telegram, binance = fakes
    binance.set_history("BTC/USDT", ["60000"] * 40)
    bot_id = number_after("Bot", user.say("/newbot paper:binance BTC/USDT 1000 grid grids=6", "Created"))
    before = len(telegram.bot_messages(user.id))
    assert "Drawing the chart of bot" in user.say(f"/chart {bot_id}", "Drawing")
    photo = _photo_after(telegram, user.id, before)
    assert f"Bot {bot_id} grid-btc-" in photo["text"] and "BTC/USDT 1m" in photo["text"]
    stranger = Chat(*fakes).registered()
    assert f"Bot {bot_id} not found" in stranger.say(f"/chart {bot_id}", "not found")


def test_backtest_and_chart_answer_a_portuguese_reader_in_portuguese(fakes, service):
    telegram, binance = fakes
    binance.set_history("BTC/USDT", ["60000"] * 25 + ["59000", "60500"] * 10)
    reader = Chat(*fakes, language="pt-br").registered()
    before = len(telegram.bot_messages(reader.id))
    assert "acktest de dip em BTC/USDT nos últimos 1 dias" in reader.say("/backtest dip BTC/USDT 1 dip=1 tp=2",
                                                                         "de dip em BTC/USDT")
    caption = _photo_after(telegram, reader.id, before)["text"]
    assert "Backtest de dip em BTC/USDT, 1 dia(s)" in caption and "comprar e manter" in caption
    bot_id = number_after("Robô", reader.say("/newbot paper:binance BTC/USDT 1000 grid grids=6", "Criado"))
    before = len(telegram.bot_messages(reader.id))
    assert f"Desenhando o gráfico do robô {bot_id}" in reader.say(f"/chart {bot_id}", "Desenhando")
    caption = _photo_after(telegram, reader.id, before)["text"]
    assert caption.startswith(f"📈 Robô {bot_id} grid-btc-") and "execução(ões) mostrada(s)" in caption
    # Both jobs were told the reader's language for the words they draw (tests/workers/test_charts.py
    # reads those words back), and nothing else than ids and words.
    backtest_job, chart_job = _finished_report_job("run_backtest"), _finished_report_job("draw_chart")
    assert backtest_job.kwargs["language"] == "pt_BR" and chart_job.kwargs["language"] == "pt_BR"
    assert chart_job.args[1] == bot_id and set(chart_job.kwargs) == {"language"}
    # A chart job queued before jobs were given a language (no `language`) is still drawn and delivered.
    before = len(telegram.bot_messages(reader.id))
    Queue(REPORT_QUEUE, connection=redis.Redis.from_url(TEST_REDIS_URL)).enqueue(
        "workers.strategy_reports.draw_chart", *chart_job.args, result_ttl=60)
    assert _photo_after(telegram, reader.id, before)["text"].startswith(f"📈 Robô {bot_id} grid-btc-")


def _finished_report_job(function: str) -> Job:
    """The service's latest finished /backtest or /chart job (kept result_ttl seconds); the
    photo may reach the chat a moment before the worker files its job as finished."""
    connection = redis.Redis.from_url(TEST_REDIS_URL)
    deadline = time.monotonic() + WAIT
    while True:
        ids = FinishedJobRegistry(REPORT_QUEUE, connection=connection).get_job_ids()
        jobs = [job for job in Job.fetch_many(ids, connection=connection)
                if job is not None and job.func_name == f"workers.strategy_reports.{function}"]
        if jobs or time.monotonic() > deadline:
            return max(jobs, key=lambda job: job.enqueued_at)
        time.sleep(0.1)
