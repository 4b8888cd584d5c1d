"""Bybit and OKX behind the gateway, each through its real ccxt client and its fake server:
keys, a bot's buy and sell through the real act job with the exchange's own money, lookup by
client order id after a timeout, the testnet switch, and what their errors mean to the engine."""
from __future__ import annotations

import datetime
import time
from decimal import ROUND_DOWN, Decimal

import pytest

from exchanges import BadRequest, Credentials, KeyRejected, OrderRefused, OrderRequest, Retryable
from exchanges.gateway import ADAPTERS
from exchanges.live import LiveAccount
from models import ApiKey, Bot, Fill, Order, Outbox, PaperBalance, Position
from rpc import UserError, keys, reports
from tests.exchanges.conftest import VENUES, make_bot, see_price, store_key
from tests.workers.conftest import act_for, make_user
from workers import orders

BTC = "BTC/USDT"


def fills_of(bot) -> list[Fill]:
    return list(Fill.select().where(Fill.bot == bot).order_by(Fill.id))


def live_bot(ctx, venue, usdt="10000", testnet=False, capital="100"):
    credentials = venue.account(usdt=usdt, testnet=testnet)
    user = make_user()
    key = store_key(ctx, user, venue.exchange, credentials)
    return user, make_bot(user, key, venue.exchange, capital=capital), credentials


# ------------------------------------------------------------------ keys


def test_a_key_is_checked_and_stored_encrypted_and_one_that_can_withdraw_is_refused(ctx, venue):
    user = make_user()
    good, withdrawing = venue.account(), venue.account(can_withdraw=True)

    view = keys.add_key(user, ctx.gateway, ctx.vault, venue.exchange, good)
    with pytest.raises(UserError, match="withdraw"):
        keys.add_key(user, ctx.gateway, ctx.vault, venue.exchange, withdrawing)

    [stored] = ApiKey.select()
    assert stored.id == view["id"] and stored.exchange == venue.exchange and view["masked"].endswith(good.api_key[-4:])
    assert good.secret not in stored.secret_token and ctx.vault.decrypt(stored.secret_token) == good.secret
    if venue.exchange == "okx":  # the passphrase is a secret too
        assert good.passphrase not in stored.passphrase_token
        assert ctx.vault.decrypt(stored.passphrase_token) == good.passphrase
    else:
        assert stored.passphrase_token is None


def test_addkey_asks_okx_for_its_passphrase_and_no_other_exchange():
    exchange, credentials = keys.parse_addkey(["okx", "okxkey123456", "okxsecret123", "my-pass-phrase", "testnet"])
    assert (exchange, credentials.passphrase, credentials.testnet) == ("okx", "my-pass-phrase", True)
    with pytest.raises(UserError, match="passphrase") as missing:
        keys.parse_addkey(["okx", "okxkey123456", "okxsecret123"])
    assert "okxsecret123" not in str(missing.value)  # never echo a pasted secret
    with pytest.raises(UserError, match="no passphrase"):
        keys.parse_addkey(["bybit", "bybitkey1234", "bybitsecret1", "extra-word"])
    assert keys.parse_addkey(["BYBIT", "bybitkey1234", "bybitsecret1"])[0] == "bybit"


def test_a_bybit_key_of_a_classic_account_is_refused_with_the_reason(ctx, fake_bybit):
    classic = VENUES["bybit"]({"bybit": fake_bybit}).account(uta=0)
    with pytest.raises(BadRequest, match="Unified Trading Account"):
        keys.add_key(make_user(), ctx.gateway, ctx.vault, "bybit", classic)
    assert ApiKey.select().count() == 0


def test_the_engines_client_order_ids_fit_every_exchange():
    class Largest:  # a database's largest ids and a bot created far in the future
        id = 2**31 - 1
        created_at = datetime.datetime(2999, 12, 31, 23, 59, 59)

    cid = orders.client_order_id(Largest, 36**6 - 1, "sell", 9)
    for adapter in ADAPTERS.values():
        assert adapter.client_order_id_rule.fullmatch(cid), (adapter.id, cid)


# ------------------------------------------------------------------ money


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_a_buy_and_a_sell_book_exactly_what_the_exchange_moved(ctx, venue):
    user, bot, credentials = live_bot(ctx, venue)
    see_price(ctx, venue, BTC, "59500")

    assert act_for(bot, "buy")["booked"] == 1  # looked up right after the id-only answer

    [placed] = venue.fake.orders(credentials.api_key)
    [buy] = fills_of(bot)
    assert placed["client_id"] == Order.get(Order.bot == bot).client_order_id
    assert (buy.amount, buy.cost) == (placed["filled"], placed["cost"])
    assert {c: Decimal(a) for c, a in buy.fees.items()} == placed["fees"] == {"BTC": buy.fee}  # from what was bought
    held = venue.fake.balances(credentials.api_key)["BTC"]
    assert Position.get(Position.bot == bot).amount == held == buy.amount - buy.fee

    see_price(ctx, venue, BTC, "61000", tick=2)
    act_for(bot, "sell", tick=2)

    _, sold = venue.fake.orders(credentials.api_key)
    sell = fills_of(bot)[1]
    assert sell.amount == sold["qty"] == (held / Decimal("0.000001")).to_integral_value(ROUND_DOWN) * Decimal("0.000001")
    assert {c: Decimal(a) for c, a in sell.fees.items()} == sold["fees"] == {"USDT": sell.fee}
    after = Bot.get_by_id(bot.id)
    assert Position.get(Position.bot == bot).status == "closed"
    assert after.dust_amount == venue.fake.balances(credentials.api_key)["BTC"] == held - sell.amount
    # /profit: what the USDT wallet gained, plus the cost carried by the dust left on the exchange.
    usdt_gained = venue.fake.balances(credentials.api_key)["USDT"] - Decimal("10000")
    profit = reports.profit(user, ctx.redis)["by_quote"]["USDT"]
    assert profit["realized"] == sell.realized_profit
    assert abs(profit["realized"] - (usdt_gained + after.dust_cost)) < Decimal("1e-12")
    paid = {}
    for trade in venue.fake.trades(credentials.api_key):
        paid[trade["fee_asset"]] = paid.get(trade["fee_asset"], Decimal(0)) + trade["fee"]
    assert profit["fees_by_currency"] == paid


def test_a_resting_limit_buy_fills_as_a_maker_when_the_price_comes_down(ctx, venue):
    _, bot, credentials = live_bot(ctx, venue)
    see_price(ctx, venue, BTC, "60000")

    act_for(bot, "buy", price="59000")
    order = Order.get(Order.bot == bot)
    assert order.status == "open" and fills_of(bot) == []
    venue.fake.set_price(BTC, "58900")
    act_for(bot, "settle", tick=2)

    [fill] = fills_of(bot)
    assert Order.get_by_id(order.id).status == "filled" and fill.price == Decimal("59000")
    maker_fee = (fill.amount * venue.fake.maker_fee).quantize(Decimal("0.00000001"))
    assert Decimal(fill.fees["BTC"]) == maker_fee
    assert Position.get(Position.bot == bot).amount == venue.fake.balances(credentials.api_key)["BTC"]


def test_a_paper_bot_trades_on_the_venues_book_and_posts_nothing(ctx, venue):
    user = make_user()
    bot = make_bot(user, None, venue.exchange, capital="200")
    see_price(ctx, venue, BTC, "59500")

    act_for(bot, "buy")

    assert venue.order_requests() == []
    [fill] = fills_of(bot)
    assert fill.price == Decimal("59500.01")  # the fake's best ask, one tick above the last price
    usdt = PaperBalance.get(PaperBalance.user == user, PaperBalance.exchange == venue.exchange, PaperBalance.asset == "USDT")
    assert usdt.amount == Decimal("10000") - fill.cost - fill.fee


# ------------------------------------------------------------------ timeouts


def test_an_order_whose_answer_was_lost_is_found_by_its_client_order_id_and_placed_once(ctx, venue):
    user, bot, credentials = live_bot(ctx, venue)
    see_price(ctx, venue, BTC, "59500")
    venue.fake.inject_fault(venue.create_path, 0, delay=1.5)  # executed after the client gave up

    assert act_for(bot, "buy")["booked"] == 0
    assert Order.get(Order.bot == bot).status == "sent"
    time.sleep(2.0)
    act_for(bot, "buy", tick=2)  # the order in flight is settled first; no second buy

    [placed] = venue.fake.orders(credentials.api_key)
    order = Order.get(Order.bot == bot)
    assert order.status == "filled" and order.client_order_id == placed["client_id"]
    assert Order.select().where(Order.bot == bot).count() == 1 and len(fills_of(bot)) == 1
    lookups = [r for r in venue.fake.requests() if r["path"] == venue.lookup_path and r["method"] == "GET"]
    assert any(order.client_order_id in r["query"] for r in lookups)
    assert len([m for m in Outbox.select().where(Outbox.user == user) if m.kind == "fill"]) == 1


def test_an_order_the_exchange_never_took_is_given_up_and_the_bot_buys_again(ctx, venue, monkeypatch):
    monkeypatch.setattr(orders, "ABSENT_AFTER_SECONDS", 0)
    _, bot, credentials = live_bot(ctx, venue)
    see_price(ctx, venue, BTC, "59500")
    venue.fake.inject_fault(venue.create_path, 502, delay=1.5)  # lost on the way: nothing executed

    act_for(bot, "buy")
    time.sleep(1.0)
    act_for(bot, "settle", tick=2)  # not found by its id, nor in the history: given up

    lost = Order.get(Order.bot == bot)
    assert lost.status == "expired" and venue.fake.orders(credentials.api_key) == []
    act_for(bot, "buy", tick=3)
    [placed] = venue.fake.orders(credentials.api_key)
    assert placed["client_id"] != lost.client_order_id and len(fills_of(bot)) == 1


def test_a_bybit_order_older_than_the_recent_ones_is_found_in_the_order_history(ctx, fake_bybit):
    venue = VENUES["bybit"]({"bybit": fake_bybit})
    _, bot, credentials = live_bot(ctx, venue)
    see_price(ctx, venue, BTC, "59500")
    fake_bybit.recent_orders = 0  # /v5/order/realtime answers an empty list for any id
    venue.fake.inject_fault(venue.create_path, 0, delay=1.5)

    act_for(bot, "buy")
    time.sleep(2.0)
    act_for(bot, "settle", tick=2)

    assert Order.get(Order.bot == bot).status == "filled" and len(fills_of(bot)) == 1
    assert any(r["path"] == "/v5/order/history" and "orderLinkId=" in r["query"] for r in fake_bybit.requests())


# ------------------------------------------------------------------ testnet


def test_a_testnet_key_trades_on_the_testnet_only(ctx, venue):
    _, bot, credentials = live_bot(ctx, venue, testnet=True)
    see_price(ctx, venue, BTC, "59500", testnet=True)

    act_for(bot, "buy")

    assert Bot.get_by_id(bot.id).mode == "testnet" and len(fills_of(bot)) == 1
    signed = [r for r in venue.fake.requests() if r["api_key"] == credentials.api_key]
    assert signed and {r["network"] for r in signed} == {"testnet"}
    live = venue.account()
    with pytest.raises(KeyRejected):  # a live key does not exist on the testnet, nor a testnet key live
        ctx.gateway.check_key(venue.exchange, Credentials(live.api_key, live.secret, live.passphrase, testnet=True))
    with pytest.raises(KeyRejected):
        ctx.gateway.check_key(venue.exchange, Credentials(credentials.api_key, credentials.secret,
                                                          credentials.passphrase, testnet=False))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("fault", ["rate limit", "overloaded"])
def test_rate_limits_and_outages_are_retried_later(ctx, venue, fault):
    account = LiveAccount(ctx.gateway, venue.exchange, venue.account())
    request = OrderRequest("bf1x1v1b0", BTC, "buy", "market", Decimal("0.001"))
    status = {"rate limit": {"bybit": 403, "okx": 429}[venue.exchange], "overloaded": 502}[fault]
    venue.fake.inject_fault(venue.lookup_path, status)
    with pytest.raises(Retryable):
        account.lookup(request)
    if venue.exchange == "bybit":  # its per-key limit: HTTP 200 with retCode 10006
        venue.fake.inject_fault(venue.lookup_path, 200)
        with pytest.raises(Retryable):
            account.lookup(request)


def test_a_wrong_secret_rejects_the_key_and_insufficient_funds_refuse_the_order(ctx, venue):
    credentials = venue.account(usdt="20")
    forged = Credentials(credentials.api_key, "not-" + credentials.secret, credentials.passphrase)
    request = OrderRequest("bf1x1v1b0", BTC, "buy", "market", Decimal("0.001"))
    with pytest.raises(KeyRejected):
        LiveAccount(ctx.gateway, venue.exchange, forged).place(request)
    with pytest.raises(OrderRefused, match="Insufficient funds"):
        LiveAccount(ctx.gateway, venue.exchange, credentials).place(request)
    assert venue.fake.orders(credentials.api_key) == []


def test_insufficient_funds_tell_the_owner_through_the_act_job(ctx, venue):
    user, bot, _ = live_bot(ctx, venue, usdt="20")
    see_price(ctx, venue, BTC, "59500")

    act_for(bot, "buy")

    assert Order.get(Order.bot == bot).status == "rejected"
    [message] = Outbox.select().where(Outbox.user == user)
    assert message.kind == "bot_error" and "Insufficient funds" in message.payload["message"]
