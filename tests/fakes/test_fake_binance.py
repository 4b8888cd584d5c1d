"""The fake Binance API, driven by the real ccxt.binance client exactly as the workers use it."""

import json
import time
import urllib.error
import urllib.request
from decimal import Decimal

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


def test_request_log_counts_public_calls(fake, client):
    fake.reset_log()
    client.fetch_ohlcv("BTC/USDT", "1m")
    client.fetch_ohlcv("ETH/USDT", "1m")
    client.fetch_balance()
    klines = [r for r in fake.requests() if r["path"] == "/api/v3/klines"]
    assert [r["query"]["symbol"] for r in klines] == ["BTCUSDT", "ETHUSDT"]
    assert all(r["api_key"] is None and r["status"] == 200 for r in klines)
    assert [r["api_key"] for r in fake.requests() if r["path"] == "/api/v3/account"] == [KEY]
