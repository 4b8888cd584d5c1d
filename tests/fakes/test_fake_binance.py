"""The fake Binance API, driven by the real ccxt.binance client exactly as the workers use it."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal

import ccxt
import pytest

from .binance_api import FakeBinance

KEY, SECRET = "alice-key", "alice-secret"


@pytest.fixture
def fake():
    fake = FakeBinance().start()
    fake.add_account(KEY, SECRET, {"USDT": "1000", "BTC": "0.01"})
    yield fake
    fake.stop()


def make_client(fake, api_key=KEY, secret=SECRET, **config):
    # ccxt's own throttle only slows the tests down; the fake has no rate limit unless injected
    return ccxt.binance({"apiKey": api_key, "secret": secret, "enableRateLimit": False,
                         **fake.ccxt_overrides(), **config})


def wait_for_order(client, client_order_id, symbol="BTC/USDT", timeout=3.0):
    """Poll GET /api/v3/order until the exchange knows the order (or fail after `timeout`)."""
    deadline = time.time() + timeout
    while True:
        try:
            return client.fetch_order(None, symbol, params={"origClientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def signed_post(fake, path, params, api_key=KEY, secret=SECRET):
    """A signed POST exactly as Binance expects it (params in the body), without ccxt."""
    body = urllib.parse.urlencode({**params, "timestamp": int(time.time() * 1000)})
    body += "&signature=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{fake.base_url}{path}", data=body.encode(), method="POST",
                                     headers={"X-MBX-APIKEY": api_key})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def client(fake):
    client = make_client(fake)
    client.load_markets()
    return client


def test_ccxt_overrides_point_the_spot_apis_at_the_fake(fake):
    api = fake.ccxt_overrides()["urls"]["api"]
    assert api == {"public": f"{fake.base_url}/api/v3", "private": f"{fake.base_url}/api/v3",
                   "v1": f"{fake.base_url}/api/v1", "sapi": f"{fake.base_url}/sapi/v1"}


def test_load_markets_exposes_binance_filters_as_precision_and_limits(client):
    assert set(client.markets) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"}
    btc = client.market("BTC/USDT")
    assert btc["spot"] and btc["active"]
    assert btc["precision"]["amount"] == 0.00001
    assert btc["precision"]["price"] == 0.01
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5


def test_fetch_ohlcv_returns_history_then_the_current_candle(fake, client):
    fake.set_history("BTC/USDT", ["59000", "59500", "60500"])
    fake.set_price("BTC/USDT", "60100")
    candles = client.fetch_ohlcv("BTC/USDT", "1h")
    assert [c[4] for c in candles] == [59000, 59500, 60500, 60100]
    assert [b[0] - a[0] for a, b in zip(candles, candles[1:])] == [3_600_000] * 3
    assert candles[-1][0] == int(time.time() * 1000) // 3_600_000 * 3_600_000
    assert candles[-1][1] == 60500 and candles[-1][2] == 60500 and candles[-1][3] == 60100


def test_fetch_ohlcv_honours_limit(fake, client):
    fake.set_history("ETH/USDT", [str(3000 + i) for i in range(50)])
    candles = client.fetch_ohlcv("ETH/USDT", "5m", limit=10)
    assert len(candles) == 10
    assert candles[-2][4] == 3049


def test_fetch_ticker_reports_the_current_price(fake, client):
    fake.set_price("SOL/USDT", "151.23")
    ticker = client.fetch_ticker("SOL/USDT")
    assert ticker["last"] == 151.23
    assert ticker["bid"] < ticker["last"] < ticker["ask"]


def test_fetch_order_book_surrounds_the_price(fake, client):
    fake.set_price("BTC/USDT", "60000")
    book = client.fetch_order_book("BTC/USDT")
    assert book["bids"][0][0] == 59999.99 and book["asks"][0][0] == 60000.01


def test_market_buy_fills_at_current_price_with_fee_in_base(fake, client):
    fake.set_price("BTC/USDT", "60000")
    order = client.create_order("BTC/USDT", "market", "buy", 0.001)
    assert order["status"] == "closed" and order["info"]["status"] == "FILLED"
    assert order["filled"] == 0.001 and order["cost"] == 60 and order["average"] == 60000
    assert order["fee"] == {"currency": "BTC", "cost": 0.000001}


def test_market_buy_moves_balances(fake, client):
    fake.set_price("BTC/USDT", "60000")
    client.create_order("BTC/USDT", "market", "buy", 0.001)
    balances = fake.balances(KEY)
    assert balances["USDT"] == Decimal("940")
    assert balances["BTC"] == Decimal("0.010999")  # 0.01 + 0.001 - 0.1% commission
    assert client.fetch_balance()["BTC"]["free"] == 0.010999


def test_market_sell_takes_fee_in_quote(fake, client):
    fake.set_price("BTC/USDT", "50000")
    order = client.create_order("BTC/USDT", "market", "sell", 0.01)
    assert order["fee"] == {"currency": "USDT", "cost": 0.5}
    assert fake.balances(KEY) == {"USDT": Decimal("1499.5"), "BTC": Decimal("0")}


def test_market_buy_with_cost_spends_at_most_quote_order_qty(fake, client):
    fake.set_price("BTC/USDT", "60000")
    client.create_market_buy_order_with_cost("BTC/USDT", 50)
    [order] = fake.orders(KEY)
    assert order["quoteOrderQty"] == Decimal("50")
    assert order["quantity"] == Decimal("0.00083")  # rounded down to the 0.00001 lot step
    assert order["cummulativeQuoteQty"] == Decimal("49.8")


def test_orders_are_recorded_with_the_api_key_that_signed_them(fake, client):
    fake.add_account("bob-key", "bob-secret", {"USDT": "100"})
    make_client(fake, "bob-key", "bob-secret").create_order("ETH/USDT", "market", "buy", 0.01)
    client.create_order("BTC/USDT", "market", "buy", 0.0001, params={"newClientOrderId": "alice-1"})
    [alice_order] = fake.orders(KEY)
    assert alice_order["clientOrderId"] == "alice-1" and alice_order["symbol"] == "BTCUSDT"
    assert alice_order["quantity"] == Decimal("0.0001") and alice_order["status"] == "FILLED"
    assert [o["symbol"] for o in fake.orders("bob-key")] == ["ETHUSDT"]


def test_fetch_order_by_client_order_id_finds_it(client):
    placed = client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "tick-42"})
    found = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "tick-42"})
    assert found["id"] == placed["id"] and found["status"] == "closed" and found["filled"] == 0.001


def test_fetch_unknown_order_raises_order_not_found(client):
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "never-sent"})


def test_wrong_secret_raises_authentication_error(fake):
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        make_client(fake, secret="not-the-secret").fetch_balance()


def test_unknown_api_key_raises_authentication_error(fake):
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        make_client(fake, api_key="nobody").fetch_balance()


def test_key_without_trading_permission_cannot_place_orders(fake):
    fake.add_account("reader", "reader-secret", {"USDT": "100"}, can_trade=False)
    with pytest.raises(ccxt.AuthenticationError):
        make_client(fake, "reader", "reader-secret").create_order("BTC/USDT", "market", "buy", 0.001)
    assert fake.orders("reader") == []


def test_insufficient_funds_raises_insufficient_funds(fake, client):
    with pytest.raises(ccxt.InsufficientFunds):
        client.create_order("BTC/USDT", "market", "buy", 1)
    assert fake.orders() == [] and fake.balances(KEY)["USDT"] == Decimal("1000")


def test_below_min_notional_is_rejected_as_bad_request(client):
    # Real Binance answers {"code":-1013,"msg":"Filter failure: NOTIONAL"}, which ccxt 4.5 maps to
    # BadRequest -- not InvalidOrder (only LOT_SIZE/PRICE_FILTER messages become InvalidOrder).
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        client.create_order("BTC/USDT", "market", "buy", 0.00005)


def test_off_step_quantity_raises_invalid_order(client):
    # ccxt truncates amounts to the step itself, so send the raw request to reach the server check
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        client.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000015"})


def test_limit_order_rests_and_locks_quote(fake, client):
    order = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    assert order["status"] == "open"
    assert fake.balances(KEY)["USDT"] == Decimal("950") and fake.locked(KEY)["USDT"] == Decimal("50")
    assert [o["id"] for o in client.fetch_open_orders("BTC/USDT")] == [order["id"]]


def test_cancel_order_releases_locked_funds(fake, client):
    order = client.create_order("BTC/USDT", "limit", "sell", 0.01, 70000)
    client.cancel_order(order["id"], "BTC/USDT")
    assert fake.balances(KEY)["BTC"] == Decimal("0.01") and fake.locked(KEY)["BTC"] == 0
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"


def test_duplicate_client_order_id_of_an_open_order_is_rejected(client):
    client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "dup"})


def test_client_order_id_of_a_filled_order_can_be_reused(fake, client):
    # Binance only requires uniqueness "among open orders": a retry after a fill is a second fill.
    client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "again"})
    client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "again"})
    assert [o["clientOrderId"] for o in fake.orders(KEY)] == ["again", "again"]


def test_fetch_my_trades_lists_fills(client):
    order = client.create_order("BTC/USDT", "market", "buy", 0.001)
    [trade] = client.fetch_my_trades("BTC/USDT")
    assert trade["order"] == order["id"] and trade["amount"] == 0.001 and trade["fee"]["currency"] == "BTC"


def test_unknown_symbol_raises_bad_symbol(client):
    with pytest.raises(ccxt.BadSymbol):
        client.public_get_ticker_price({"symbol": "DOGEUSDT"})


def test_api_restrictions_report_withdrawal_permission(fake):
    fake.add_account("withdrawer", "w-secret", {}, can_withdraw=True)
    assert make_client(fake, "withdrawer", "w-secret").sapi_get_account_apirestrictions()["enableWithdrawals"] is True
    assert make_client(fake).sapi_get_account_apirestrictions()["enableWithdrawals"] is False


def test_500_fault_raises_exchange_not_available(fake, client):
    fake.inject_fault("/api/v3/ticker", 500)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_ticker("BTC/USDT")


def test_500_with_binance_error_body_raises_operation_failed(fake, client):
    # ccxt maps the code before the HTTP status, and -1001 is OperationFailed, not a NetworkError
    fake.inject_fault("/api/v3/ticker", 500, body={"code": -1001, "msg": "Internal error; unable to process "
                                                                         "your request. Please try again."})
    with pytest.raises(ccxt.OperationFailed) as raised:
        client.fetch_ticker("BTC/USDT")
    assert not isinstance(raised.value, ccxt.NetworkError)


def test_fault_affects_only_count_requests(fake, client):
    fake.inject_fault("/api/v3/klines", 503, count=2)
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_ohlcv("BTC/USDT", "1m")
    assert client.fetch_ohlcv("BTC/USDT", "1m")


def test_429_fault_raises_rate_limit_error(fake, client):
    fake.inject_fault("/api/v3/klines", 429)
    with pytest.raises((ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        client.fetch_ohlcv("BTC/USDT", "1m")


def test_429_fault_sends_retry_after_and_binance_body(fake):
    fake.inject_fault("/api/v3/ping", 429, retry_after=7)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{fake.base_url}/api/v3/ping", timeout=5)
    assert raised.value.code == 429 and raised.value.headers["Retry-After"] == "7"
    assert json.loads(raised.value.read())["code"] == -1003


def test_delay_fault_times_out_the_client_but_the_order_still_executes(fake):
    client = make_client(fake, timeout=300)  # ms
    client.load_markets()
    fake.inject_fault("/api/v3/order", 0, delay=0.6)
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order("BTC/USDT", "market", "buy", 0.001)
    deadline = time.time() + 3
    while not fake.orders(KEY) and time.time() < deadline:
        time.sleep(0.02)
    assert fake.orders(KEY)[0]["status"] == "FILLED"


def test_held_answer_leaves_the_order_filled_on_the_exchange_while_the_client_waits(fake):
    client = make_client(fake, timeout=2000)  # ms
    client.load_markets()
    fake.inject_fault("/api/v3/order", 0, hold=30)
    started = time.time()
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(client.create_order, "BTC/USDT", "market", "buy", 0.001)
        deadline = time.time() + 3
        while not fake.orders(KEY) and time.time() < deadline:
            time.sleep(0.02)
        assert fake.orders(KEY)[0]["status"] == "FILLED" and not sending.done()
        with pytest.raises(ccxt.RequestTimeout):
            sending.result()
    assert time.time() - started < 10  # released when the client hung up, not after the hold


def test_set_filters_changes_the_rules_exchange_info_serves_and_orders_obey(fake, client):
    fake.set_filters("BTC/USDT", stepSize="0.001", minQty="0.001", minNotional="10")
    fresh = make_client(fake)
    fresh.load_markets()
    assert fresh.market("BTC/USDT")["precision"]["amount"] == 0.001
    assert fresh.market("BTC/USDT")["limits"]["cost"]["min"] == 10
    with pytest.raises(ccxt.InvalidOrder):
        client.create_order("BTC/USDT", "market", "buy", 0.0015)  # the old client's step is no longer valid


def test_request_log_counts_public_calls(fake, client):
    fake.reset_log()
    client.fetch_ohlcv("BTC/USDT", "1m")
    client.fetch_ohlcv("ETH/USDT", "1m")
    client.fetch_balance()
    klines = [r for r in fake.requests() if r["path"] == "/api/v3/klines"]
    assert [r["query"]["symbol"] for r in klines] == ["BTCUSDT", "ETHUSDT"]
    assert all(r["api_key"] is None and r["status"] == 200 for r in klines)
    assert [r["api_key"] for r in fake.requests() if r["path"] == "/api/v3/account"] == [KEY]


# ----------------------------------------------------------------------------- order book depth

def test_depth_serves_an_explicit_book_best_first_honouring_limit(fake, client):
    fake.set_book("BTC/USDT", bids=[(59990, "0.5"), (59999, "0.2"), (59980, 1)],
                  asks=[(60010, "0.3"), (60001, "0.1"), (60020, 2)])
    book = client.fetch_order_book("BTC/USDT", limit=2)
    assert book["bids"] == [[59999, 0.2], [59990, 0.5]]
    assert book["asks"] == [[60001, 0.1], [60010, 0.3]]
    assert len(client.fetch_order_book("BTC/USDT")["asks"]) == 3


def test_synthetic_book_follows_the_price_with_the_configured_depth(fake, client):
    fake.set_book_depth("ETH/USDT", levels=3, qty="2.5")
    fake.set_price("ETH/USDT", "3100")
    book = client.fetch_order_book("ETH/USDT")
    assert book["bids"] == [[3099.99, 2.5], [3099.98, 2.5], [3099.97, 2.5]]
    assert book["asks"] == [[3100.01, 2.5], [3100.02, 2.5], [3100.03, 2.5]]


def test_explicit_book_survives_set_price_until_cleared(fake, client):
    fake.set_book("BTC/USDT", bids=[(50000, 1)], asks=[(50100, 1)])
    fake.set_price("BTC/USDT", "70000")
    assert client.fetch_order_book("BTC/USDT")["asks"] == [[50100, 1]]
    assert client.fetch_ticker("BTC/USDT")["ask"] == 50100  # the ticker's top of book is the same book
    fake.set_book("BTC/USDT", None)
    assert client.fetch_order_book("BTC/USDT")["asks"][0] == [70000.01, 1]


# ----------------------------------------------------------------------------- market orders walk the book

def test_market_buy_walks_the_asks_with_one_fill_and_trade_per_level(fake, client):
    fake.set_book("BTC/USDT", bids=[(59990, 1)], asks=[(60000, "0.001"), (60010, "0.002"), (60020, 1)])
    order = client.create_order("BTC/USDT", "market", "buy", 0.004)
    levels = [(60000, 0.001), (60010, 0.002), (60020, 0.001)]
    assert order["status"] == "closed" and order["filled"] == 0.004 and order["cost"] == 240.04
    assert [(t["price"], t["amount"]) for t in order["trades"]] == levels
    trades = client.fetch_my_trades("BTC/USDT")
    assert [(t["price"], t["amount"], t["order"]) for t in trades] == [(*level, order["id"]) for level in levels]
    assert fake.book("BTC/USDT")["asks"] == [(Decimal("60020"), Decimal("0.999"))]
    assert fake.balances(KEY)["USDT"] == Decimal("759.96")


def test_market_sell_consumes_the_bids_so_the_next_order_gets_worse_prices(fake, client):
    fake.set_book("BTC/USDT", bids=[(59990, "0.004"), (59980, "0.01")], asks=[(60010, 1)])
    first = client.create_order("BTC/USDT", "market", "sell", 0.006)
    assert [(t["price"], t["amount"]) for t in first["trades"]] == [(59990, 0.004), (59980, 0.002)]
    second = client.create_order("BTC/USDT", "market", "sell", 0.004)
    assert [(t["price"], t["amount"]) for t in second["trades"]] == [(59980, 0.004)]
    assert fake.book("BTC/USDT")["bids"] == [(Decimal("59980"), Decimal("0.004"))]
    proceeds = Decimal("59990") * Decimal("0.004") + Decimal("59980") * Decimal("0.006")
    fees = sum(Decimal(str(t["fee"]["cost"])) for t in client.fetch_my_trades("BTC/USDT"))
    assert fake.balances(KEY) == {"USDT": 1000 + proceeds - fees, "BTC": Decimal("0")}


def test_market_order_that_exhausts_the_book_expires_partly_filled(fake, client):
    fake.set_book("BTC/USDT", bids=[], asks=[(60000, "0.001"), (60100, "0.001")])
    order = client.create_order("BTC/USDT", "market", "buy", 0.005)
    assert order["info"]["status"] == "EXPIRED" and order["status"] == "expired"
    assert order["amount"] == 0.005 and order["filled"] == 0.002 and len(order["trades"]) == 2
    assert client.fetch_order(order["id"], "BTC/USDT")["status"] == "expired"
    assert fake.book("BTC/USDT")["asks"] == []
    assert fake.balances(KEY)["USDT"] == Decimal("879.9") and fake.locked(KEY)["USDT"] == 0


def test_market_order_without_explicit_book_fills_whole_at_the_price_whatever_the_synthetic_depth(fake, client):
    fake.set_book_depth("BTC/USDT", levels=1, qty="0.001")
    order = client.create_order("BTC/USDT", "market", "buy", 0.005)
    assert order["status"] == "closed" and order["filled"] == 0.005 and order["average"] == 60000


# ----------------------------------------------------------------------------- resting limit orders match

def test_set_price_fills_crossed_limit_orders_at_their_limit_price_as_maker(fake, client):
    near = client.create_order("BTC/USDT", "limit", "buy", 0.001, 59000)
    far = client.create_order("BTC/USDT", "limit", "buy", 0.001, 57000)
    sell = client.create_order("BTC/USDT", "limit", "sell", 0.002, 61000)
    fake.set_price("BTC/USDT", "58500")
    assert [client.fetch_order(o["id"], "BTC/USDT")["status"] for o in (near, far, sell)] == ["closed", "open", "open"]
    [trade] = client.fetch_my_trades("BTC/USDT")
    assert (trade["order"], trade["price"], trade["amount"], trade["takerOrMaker"]) == (near["id"], 59000, 0.001, "maker")
    assert trade["fee"]["currency"] == "BTC" and trade["fee"]["cost"] == 0.000001
    assert fake.balances(KEY) == {"USDT": Decimal("884"), "BTC": Decimal("0.008999")}
    assert fake.locked(KEY) == {"USDT": Decimal("57"), "BTC": Decimal("0.002")}
    fake.set_price("BTC/USDT", "61500")  # now the sell is crossed: it gets its 61000, not 61500
    assert client.fetch_order(sell["id"], "BTC/USDT")["average"] == 61000
    assert fake.balances(KEY) == {"USDT": Decimal("884") + Decimal("122") - Decimal("0.122"), "BTC": Decimal("0.008999")}
    assert fake.locked(KEY) == {"USDT": Decimal("57"), "BTC": Decimal("0")}


def test_limit_order_crossed_when_placed_fills_at_once_as_taker_at_the_market_price(fake, client):
    order = client.create_order("BTC/USDT", "limit", "buy", 0.001, 60500)
    assert order["status"] == "closed" and order["average"] == 60000
    assert fake.trades(KEY)[0]["isMaker"] is False
    assert fake.balances(KEY)["USDT"] == Decimal("940") and fake.locked(KEY)["USDT"] == 0


def test_limit_order_takes_the_book_within_its_limit_and_rests_the_rest(fake, client):
    fake.set_book("BTC/USDT", bids=[(59000, 1)], asks=[(60000, "0.001"), (60200, 1)])
    order = client.create_order("BTC/USDT", "limit", "buy", 0.003, 60100)
    assert order["info"]["status"] == "PARTIALLY_FILLED" and order["status"] == "open"
    assert order["filled"] == 0.001 and [t["price"] for t in order["trades"]] == [60000]
    assert fake.locked(KEY)["USDT"] == Decimal("120.2")  # the remaining 0.002 at the 60100 limit
    assert fake.balances(KEY)["USDT"] == Decimal("819.8")


def test_ioc_limit_order_that_cannot_trade_expires_and_unlocks(fake, client):
    order = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"timeInForce": "IOC"})
    assert order["info"]["status"] == "EXPIRED" and order["filled"] == 0
    assert fake.balances(KEY)["USDT"] == Decimal("1000") and fake.locked(KEY)["USDT"] == 0


def test_fill_order_fills_a_resting_order_in_parts_each_a_trade(fake, client):
    client.create_order("BTC/USDT", "limit", "buy", 0.003, 50000, params={"newClientOrderId": "part"})
    fake.fill_order(KEY, "part", "0.001")
    seen = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "part"})
    assert seen["info"]["status"] == "PARTIALLY_FILLED" and seen["status"] == "open"
    assert seen["filled"] == 0.001 and seen["remaining"] == 0.002
    assert fake.locked(KEY)["USDT"] == Decimal("100")
    fake.fill_order(KEY, "part", "0.002")
    seen = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "part"})
    assert seen["info"]["status"] == "FILLED" and seen["filled"] == 0.003
    assert [(t["amount"], t["price"]) for t in client.fetch_my_trades("BTC/USDT")] == [(0.001, 50000), (0.002, 50000)]
    assert fake.balances(KEY)["USDT"] == Decimal("850") and fake.locked(KEY)["USDT"] == 0
    with pytest.raises(KeyError):
        fake.fill_order(KEY, "part", "0.001")  # nothing open under that id any more


def test_set_price_with_liquidity_fills_only_that_much_best_price_first(fake, client):
    client.create_order("BTC/USDT", "limit", "buy", 0.002, 59000, params={"newClientOrderId": "low"})
    client.create_order("BTC/USDT", "limit", "buy", 0.002, 59500, params={"newClientOrderId": "high"})
    fake.set_price("BTC/USDT", "58000", liquidity="0.003")
    orders = {o["clientOrderId"]: o for o in fake.orders(KEY)}
    assert (orders["high"]["status"], orders["high"]["executedQty"]) == ("FILLED", Decimal("0.002"))
    assert (orders["low"]["status"], orders["low"]["executedQty"]) == ("PARTIALLY_FILLED", Decimal("0.001"))
    fake.set_price("BTC/USDT", "58000")  # no limit this time: the rest fills
    assert [o["status"] for o in fake.orders(KEY)] == ["FILLED", "FILLED"]


# ----------------------------------------------------------------------------- canceled by someone else

def test_cancel_externally_cancels_an_order_keeping_its_partial_fill(fake, client):
    client.create_order("BTC/USDT", "limit", "sell", 0.01, 70000, params={"newClientOrderId": "ui"})
    fake.fill_order(KEY, "ui", "0.004")
    fake.cancel_externally(KEY, "ui")
    seen = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "ui"})
    assert seen["status"] == "canceled" and seen["filled"] == 0.004
    assert client.fetch_open_orders("BTC/USDT") == []
    assert fake.balances(KEY) == {"USDT": Decimal("1000") + Decimal("280") - Decimal("0.28"), "BTC": Decimal("0.006")}
    assert fake.locked(KEY)["BTC"] == 0
    with pytest.raises(ccxt.OrderNotFound):  # -2011 "Unknown order sent."
        client.cancel_order(seen["id"], "BTC/USDT")


# ----------------------------------------------------------------------------- order history

def test_fetch_orders_lists_the_symbols_history_oldest_first_since_a_time(fake, client):
    first = client.create_order("BTC/USDT", "market", "buy", 0.001)
    client.create_order("ETH/USDT", "market", "buy", 0.01)
    time.sleep(0.02)
    since = int(time.time() * 1000)
    second = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)
    third = client.create_order("BTC/USDT", "limit", "sell", 0.001, 70000)
    client.cancel_order(third["id"], "BTC/USDT")
    history = client.fetch_orders("BTC/USDT")
    assert [(o["id"], o["status"]) for o in history] == [(first["id"], "closed"), (second["id"], "open"),
                                                         (third["id"], "canceled")]
    assert [o["id"] for o in client.fetch_orders("BTC/USDT", since=since)] == [second["id"], third["id"]]
    assert [o["id"] for o in client.fetch_orders("BTC/USDT", limit=1)] == [third["id"]]  # the most recent
    [request] = [r for r in fake.requests() if r["path"] == "/api/v3/allOrders" and "startTime" in r["query"]]
    assert request["query"]["startTime"] == str(since)


def test_fetch_orders_refuses_a_window_over_24_hours(client):
    now = int(time.time() * 1000)
    with pytest.raises(ccxt.BadRequest, match="-1127"):
        client.fetch_orders("BTC/USDT", since=now - 2 * 86_400_000, params={"until": now})


def test_fetch_order_by_client_order_id_finds_the_newest_order_with_that_id(client):
    client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "same"})
    second = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "same"})
    found = client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "same"})
    assert found["id"] == second["id"] and found["status"] == "open"


# ----------------------------------------------------------------------------- late execution (-1007)

def test_late_execution_error_answers_1007_then_executes_at_that_moments_price(fake, client):
    fake.inject_late_execution(execute_after=1.5, answer="error")
    sent = time.time()
    with pytest.raises(ccxt.RequestTimeout, match="-1007"):
        client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "late-1"})
    assert time.time() - sent < 1.0  # answered at once
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "late-1"})
    assert client.fetch_orders("BTC/USDT") == [] and fake.balances(KEY)["USDT"] == Decimal("1000")
    fake.set_price("BTC/USDT", "61000")
    order = wait_for_order(client, "late-1")
    assert time.time() - sent >= 1.5
    assert order["status"] == "closed" and order["average"] == 61000
    assert [r["status"] for r in fake.requests() if r["method"] == "POST"] == [408]
    [late] = fake.late_executions()
    assert (late["clientOrderId"], late["outcome"], late["orderId"]) == ("late-1", "executed", int(order["id"]))


def test_late_execution_timeout_holds_the_answer_until_the_client_gives_up(fake):
    client = make_client(fake, timeout=400)  # ms
    client.load_markets()
    fake.inject_late_execution(execute_after=1.5, answer="timeout")
    sent = time.time()
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "late-2"})
    assert 0.35 < time.time() - sent < 1.0  # the client's own timeout, not the fake's
    while not any(r["status"] for r in fake.requests() if r["method"] == "POST") and time.time() - sent < 1.4:
        time.sleep(0.02)
    assert time.time() - sent < 1.0  # the fake noticed the hang-up and let the held request go
    with pytest.raises(ccxt.OrderNotFound):
        client.fetch_order(None, "BTC/USDT", params={"origClientOrderId": "late-2"})
    assert fake.locked(KEY)["USDT"] == 0
    order = wait_for_order(client, "late-2")
    assert order["status"] == "open" and fake.locked(KEY)["USDT"] == Decimal("50")  # it rests like any limit


def test_late_execution_honours_the_duplicate_rule_when_it_executes(fake, client):
    fake.inject_late_execution(execute_after=1.0, answer="error")
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "dup-late"})
    retry = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "dup-late"})
    deadline = time.time() + 3
    while fake.late_executions()[0]["outcome"] == "pending" and time.time() < deadline:
        time.sleep(0.05)
    [late] = fake.late_executions()
    assert late["outcome"] == "rejected" and late["error"] == {"code": -2010, "msg": "Duplicate order sent."}
    assert [o["orderId"] for o in fake.orders(KEY)] == [int(retry["id"])]


def test_late_execution_after_a_filled_retry_is_a_second_fill(fake, client):
    # The danger the engine must avoid: once the retry is filled its id is free again.
    fake.inject_late_execution(execute_after=1.0, answer="error")
    with pytest.raises(ccxt.RequestTimeout):
        client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "twice"})
    client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "twice"})
    deadline = time.time() + 3
    while len(fake.orders(KEY)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert [(o["clientOrderId"], o["status"]) for o in fake.orders(KEY)] == [("twice", "FILLED")] * 2


# ----------------------------------------------------------------------------- duplicate rule

def test_client_order_id_of_a_canceled_order_can_be_reused(fake, client):
    first = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "reuse"})
    client.cancel_order(first["id"], "BTC/USDT")
    second = client.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, params={"newClientOrderId": "reuse"})
    assert second["id"] != first["id"] and second["status"] == "open"


# ----------------------------------------------------------------------------- fees in BNB

def test_bnb_fees_are_charged_in_bnb_at_the_discounted_rate(fake):
    fake.add_account("bnb-key", "bnb-secret", {"USDT": "1000", "BNB": "1"}, pay_fees_in_bnb=True)
    fake.set_price("BNB/USDT", "612.34")
    client = make_client(fake, "bnb-key", "bnb-secret")
    order = client.create_order("BTC/USDT", "market", "buy", 0.001)
    taker_fee = (Decimal("60") * Decimal("0.00075") / Decimal("612.34")).quantize(Decimal("1e-8"), ROUND_HALF_UP)
    assert taker_fee == Decimal("0.00007349")
    assert order["fee"] == {"currency": "BNB", "cost": float(taker_fee)}
    assert fake.balances("bnb-key") == {"USDT": Decimal("940"), "BNB": 1 - taker_fee, "BTC": Decimal("0.001")}
    client.create_order("BTC/USDT", "limit", "sell", 0.001, 61000)
    fake.set_price("BTC/USDT", "61000")  # a maker fill pays in BNB too
    maker_fee = (Decimal("61") * Decimal("0.00075") / Decimal("612.34")).quantize(Decimal("1e-8"), ROUND_HALF_UP)
    assert [(t["fee"]["currency"], t["fee"]["cost"]) for t in client.fetch_my_trades("BTC/USDT")] == [
        ("BNB", float(taker_fee)), ("BNB", float(maker_fee))]
    assert fake.balances("bnb-key") == {"USDT": Decimal("1001"), "BNB": 1 - taker_fee - maker_fee, "BTC": Decimal("0")}


def test_bnb_fees_fall_back_to_the_received_asset_without_enough_bnb(fake):
    fake.add_account("poor-key", "poor-secret", {"USDT": "1000", "BNB": "0.00001"}, pay_fees_in_bnb=True)
    order = make_client(fake, "poor-key", "poor-secret").create_order("BTC/USDT", "market", "buy", 0.001)
    assert order["fee"] == {"currency": "BTC", "cost": 0.000001}
    assert fake.balances("poor-key")["BNB"] == Decimal("0.00001")


# ----------------------------------------------------------------------------- latency

def test_latency_delays_public_and_private_requests(fake, client):
    fake.set_latency(0.2)
    for call in (lambda: client.fetch_ticker("BTC/USDT"), client.fetch_balance):
        started = time.time()
        call()
        assert time.time() - started >= 0.2


def test_latency_overlaps_a_thousand_concurrent_orders(fake):
    fake.add_account("burst-key", "burst-secret", {"USDT": "100000"})
    fake.set_latency(0.05)

    def order(n):
        return signed_post(fake, "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                   "quantity": "0.0001", "newClientOrderId": f"bot-{n}"},
                           "burst-key", "burst-secret")

    started = time.time()
    with ThreadPoolExecutor(max_workers=1000) as pool:
        answers = list(pool.map(order, range(1000)))
    assert time.time() - started < 10  # serialised, 1,000 x 50 ms would take 50 s
    assert {a["status"] for a in answers} == {"FILLED"} and len(fake.orders("burst-key")) == 1000


# ----------------------------------------------------------------------------- request log

def test_request_log_records_each_orders_params_and_arrival_time(fake, client):
    fake.reset_log()
    before = time.time()
    client.create_order("BTC/USDT", "market", "buy", 0.001, params={"newClientOrderId": "bot-7-1"})
    [entry] = [r for r in fake.requests() if r["method"] == "POST" and r["path"] == "/api/v3/order"]
    assert entry["query"] == {}  # ccxt sends a private POST's params in the body
    assert entry["params"]["newClientOrderId"] == "bot-7-1" and entry["params"]["side"] == "BUY"
    assert "signature" not in entry["params"] and before <= entry["time"] <= time.time()
