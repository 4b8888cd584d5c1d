"""Each strategy's scripted price path through the Procfile's real processes.

`bot`, `scheduler` (a 1 s tick) and two `worker`s run as subprocesses, once for the module,
against the fake Telegram Bot API and the fake Binance (real HTTP servers), real Redis and a real
database. Each scene has its own users, keys and market, so the scenes share the service without
touching each other. Users register, add their key and create their bots by talking to the bot;
the price path is played on the fake exchange; every check is made from the outside: the
exchange's orders, trades and balances, the fill messages in the owner's chat, and the owner's
/status and /profit, whose money must be the exchange's own to the cent.
"""
from __future__ import annotations

import contextlib
import re
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest
import redis
from cryptography.fernet import Fernet

from telegram_bot import formatting as fmt
from tests.conftest import TELEGRAM_TOKEN, TEST_REDIS_URL, fresh_postgres_database
from tests.fakes.binance_api import FakeBinance
from tests.fakes.telegram_api import FakeTelegram
from tests.harness import Service
from tests.test_end_to_end import number_after, service_env

WAIT = 40  # seconds; generous for a loaded machine, never a timing assertion
CENT = Decimal("0.01")
BNB_PRICE = Decimal("600")  # the fake's BNB/USDT, which values fees paid in BNB; never moved here

# A fill message as formatting.fill_message writes it (several of one tick share a message).
FILL = re.compile(r"(?:🟢|🔴) (?P<side>BUY|SELL) · bot (?P<bot>\d+) \S+ · (?P<symbol>\S+)\n"
                  r"amount (?P<amount>\S+) \S+ @ (?P<price>\S+)\n"
                  r"cost (?P<cost>\S+) \S+, fee (?P<fee>[^\n]+)"
                  r"(?:\nrealized profit (?P<profit>\S+) \S+)?")
# One order of a new bot's plan, as strategy_texts.plan_text writes it.
PLANNED = re.compile(r"^(?P<role>[^:\n]+): (?P<side>buy|sell) (?P<amount>\S+) \S+ @ (?P<price>\S+) = ", re.M)


@dataclass
class Fleet:
    """The running service and the fakes at its edges."""

    telegram: FakeTelegram
    binance: FakeBinance
    service: Service

    def wait_for(self, condition, what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.service.assert_alive()
                raise AssertionError(f"{what}: not within {timeout}s\n{self.service.logs()[-8000:]}")
            time.sleep(0.05)

    def move(self, symbol: str, price: str, ticks: int = 0) -> None:
        """The market trades at `price` (resting orders it crosses fill at their limit); with
        `ticks`, wait until the service has evaluated the market at that price so many times."""
        self.binance.set_price(symbol, price)
        if ticks:
            self.let_ticks_pass(symbol, ticks)

    def let_ticks_pass(self, symbol: str, ticks: int) -> None:
        """Until the market's evaluations have fetched its candles `ticks` times from now. A
        market's evaluations never overlap, so with one the bots decide at today's price before
        they see a later one, and with two the first decision is over (and acted on, had it acted)."""
        market, since = symbol.replace("/", ""), time.time()

        def seen() -> int:
            return sum(1 for r in self.binance.requests() if r["path"] == "/api/v3/klines"
                       and r["params"].get("symbol") == market and r["time"] >= since)
        self.wait_for(lambda: seen() >= ticks, f"{ticks} ticks of {symbol}")


class Owner:
    """A user of the service: their own chat and Binance account, bots made by talking to the bot."""

    def __init__(self, fleet: Fleet, chat: int, balances: dict, pay_fees_in_bnb: bool = False):
        self.fleet, self.chat = fleet, chat
        self.api_key, secret = f"key{chat}" + secrets.token_hex(16), secrets.token_hex(32)
        fleet.binance.add_account(self.api_key, secret, balances, pay_fees_in_bnb=pay_fees_in_bnb)
        self.say("/start", "registered")
        self.key_id = number_after("Key", self.say(f"/addkey binance {self.api_key} {secret}", "added"))

    def say(self, text: str, expect: str) -> str:
        """Send a message; the bot's first reply containing `expect`."""
        telegram = self.fleet.telegram
        before = len(telegram.bot_messages(self.chat))
        telegram.send_user_message(self.chat, text)
        return telegram.wait_for_bot_message(self.chat, expect, timeout=WAIT, after=before)["text"]

    def start_bot(self, settings: str) -> tuple[int, str]:
        """/newbot on the owner's key (one line: symbol, capital, strategy, name=value...), then
        /startbot; the bot's id and the creation reply."""
        created = self.say(f"/newbot {self.key_id} {settings}", "Created")
        bot = number_after("Bot", created)
        self.say(f"/startbot {bot}", "running")
        return bot, created

    def fills(self) -> list[dict]:
        """The fill messages in the chat, in order."""
        return [match.groupdict() for message in self.fleet.telegram.bot_messages(self.chat)
                for block in message["text"].split("\n\n") if (match := FILL.fullmatch(block))]

    def wait_for_fills(self, count: int) -> list[dict]:
        self.fleet.wait_for(lambda: len(self.fills()) >= count, f"{count} fill messages in chat {self.chat}")
        return self.fills()

    def troubles(self) -> list[str]:
        """The bot's warnings and pauses in the chat (a refused order, a failing bot...)."""
        return [m["text"] for m in self.fleet.telegram.bot_messages(self.chat) if m["text"].startswith(("⚠️", "⛔"))]

    def orders(self) -> list[dict]:
        """The account's orders on the exchange, oldest first."""
        return sorted(self.fleet.binance.orders(self.api_key), key=lambda o: o["orderId"])

    def resting(self) -> list[dict]:
        """The account's limit orders resting on the exchange, lowest price first."""
        return sorted((o for o in self.orders() if o["status"] == "NEW" and o["type"] == "LIMIT"),
                      key=lambda o: o["price"])

    def executed(self) -> list[tuple[dict, list[dict]]]:
        """The account's orders that traded, with their trades, in the order they first traded."""
        trades = self.fleet.binance.trades(self.api_key)
        done = [(o, [t for t in trades if t["orderId"] == o["orderId"]]) for o in self.orders()]
        return sorted(((o, t) for o, t in done if t), key=lambda pair: pair[1][0]["id"])


def as_shown(trades: list[dict]) -> dict:
    """An order's trades as its fill message must show them."""
    amount, cost = sum(t["qty"] for t in trades), sum(t["quoteQty"] for t in trades)
    fees: dict[str, Decimal] = {}
    for trade in trades:
        fees[trade["commissionAsset"]] = fees.get(trade["commissionAsset"], Decimal(0)) + trade["commission"]
    fee_text = fmt.fees_text({"fees": {a: str(v) for a, v in fees.items()}, "fee_currency": next(iter(fees))})
    return {"side": "BUY" if trades[0]["isBuyer"] else "SELL", "amount": fmt.num(amount),
            "price": fmt.price(cost / amount), "cost": fmt.num(cost, 2), "fee": fee_text}


def shown(fill: dict) -> dict:
    return {name: fill[name] for name in ("side", "amount", "price", "cost", "fee")}


def assert_fills_are_the_exchanges(owner: Owner, bot: int, count: int) -> list[dict]:
    """The first `count` fill messages are the account's first `count` executed orders, as the
    exchange traded them, all of `bot`."""
    fills = owner.fills()[:count]
    assert [shown(f) for f in fills] == [as_shown(trades) for _, trades in owner.executed()[:count]]
    assert {int(f["bot"]) for f in fills} == {bot}
    return fills


def planned(created: str) -> dict[str, tuple[str, str, str]]:
    """The orders a /newbot reply announced: role -> (side, amount, price), as shown."""
    return {m["role"]: (m["side"], m["amount"], m["price"]) for m in PLANNED.finditer(created)}


def total(trades: list[dict], field: str) -> Decimal:
    return sum((t[field] for t in trades), Decimal(0))


def quote_fees(trades: list[dict], base: str) -> Decimal:
    """The trades' fees valued in USDT, as the exchange charged them: in USDT, in the base at the
    trade's price, or in BNB at the fake's BNB price."""
    rate = {"USDT": lambda t: Decimal(1), base: lambda t: t["price"], "BNB": lambda t: BNB_PRICE}
    return sum((t["commission"] * rate[t["commissionAsset"]](t) for t in trades), Decimal(0))


# The service on SQLite passes these scenes too, in as long again; the in-process scenes
# (tests/workers) run on both databases.
DATABASES = ["postgres"]


@pytest.fixture(scope="module", params=DATABASES)
def fleet(request, tmp_path_factory):
    """The Procfile's processes on a database of the module's own, 1 s ticks, the fakes."""
    telegram, binance = FakeTelegram(token=TELEGRAM_TOKEN).start(), FakeBinance().start()
    queues = redis.Redis.from_url(TEST_REDIS_URL)
    queues.flushdb()
    folder = tmp_path_factory.mktemp("fleet")
    try:
        with contextlib.ExitStack() as stack:
            if request.param == "postgres":
                database_url = stack.enter_context(fresh_postgres_database())
            else:
                database_url = f"sqlite:///{folder / 'botfleet.db'}"
            env = service_env(database_url, TEST_REDIS_URL, Fernet.generate_key().decode(), telegram, binance)
            service = Service(env, folder).start()
            stack.callback(service.stop)
            yield Fleet(telegram, binance, service)
    finally:
        telegram.stop()
        binance.stop()
        queues.flushdb()


def test_dip_bots_buy_a_dip_and_leave_on_their_trailing_exit_and_trailing_stop(fleet):
    """Both buy 1 % under the SMA of 20 one-minute candles. `trail=1` arms at the take profit
    and sells 1 % under the peak; `tsl=2` sells 2 % under the peak, its take profit far away."""
    symbol = "BTC/USDT"
    fleet.binance.set_history(symbol, ["60000"] * 40)  # the closed candles: an SMA of 60000
    fleet.binance.set_price(symbol, "60000")
    trailing = Owner(fleet, 8601, {"USDT": "1000"})
    stopping = Owner(fleet, 8602, {"USDT": "1000"})
    trailing_bot, _ = trailing.start_bot("BTC/USDT 100 dip dip=1 tp=1.5 sl=3 trail=1")
    stopping_bot, _ = stopping.start_bot("BTC/USDT 100 dip dip=1 tp=50 sl=0 tsl=2")

    fleet.move(symbol, "59000")  # 1.7 % under the average: both buy at the market
    for owner in (trailing, stopping):
        assert [(f["side"], f["price"]) for f in owner.wait_for_fills(1)] == [("BUY", "59,000")]
    fleet.move(symbol, "62000", ticks=1)  # far over the take profit: the peak
    fleet.move(symbol, "61400", ticks=2)  # 0.97 % under the peak: both still hold
    assert [len(owner.orders()) for owner in (trailing, stopping)] == [1, 1]
    fleet.move(symbol, "61380")  # 1 % under the peak: the trailing exit
    trailing.wait_for_fills(2)
    fleet.move(symbol, "60760")  # 2 % under the peak: the trailing stop loss
    stopping.wait_for_fills(2)

    for owner, bot, exit_price in ((trailing, trailing_bot, "61,380"), (stopping, stopping_bot, "60,760")):
        buy, sell = assert_fills_are_the_exchanges(owner, bot, 2)
        assert [o["type"] for o in owner.orders()] == ["MARKET", "MARKET"] and sell["price"] == exit_price
        [(_, bought), (_, sold)] = owner.executed()
        # The buy's fee was taken in BTC; what is left after the sell is less than one lot.
        held = total(bought, "qty") - total(bought, "commission")
        left = held - total(sold, "qty")
        assert fleet.binance.balances(owner.api_key)["BTC"] == left < Decimal("0.00001")
        # Realized: what the sell brought in USDT, less what the BTC sold cost (its share of the buy).
        received = total(sold, "quoteQty") - total(sold, "commission")
        profit = received - total(bought, "quoteQty") * total(sold, "qty") / held
        assert profit > 0 and sell["profit"] == fmt.signed(profit)
        report = owner.say(f"/profit {bot}", "Profit")
        assert (f"USDT: realized {fmt.signed(profit)}, unrealized 0.00 (0 open), "
                f"fees {fmt.num(quote_fees(bought + sold, 'BTC'), 2)}, win rate 100.0% (1W/0L)") in report
        assert (f"fees paid: {fmt.num(total(bought, 'commission'))} BTC, "
                f"{fmt.num(total(sold, 'commission'))} USDT") in report
        assert owner.say(f"/status {bot}", "positions") == "No open positions."
        assert owner.troubles() == []


def test_a_dca_deal_fills_two_safety_orders_and_takes_profit_on_its_average(fleet):
    """The base order at the market, three safety orders resting 1, 2 and 3 % under it; a fall
    fills two; the take profit 1 % over the deal's average (fees in BNB included) cancels the
    third and sells the deal; `start=now` opens the next deal."""
    symbol = "ETH/USDT"
    fleet.binance.set_history(symbol, ["3000"] * 40)
    fleet.binance.set_price(symbol, "3000")
    owner = Owner(fleet, 8611, {"USDT": "1000", "BNB": "10"}, pay_fees_in_bnb=True)
    bot, created = owner.start_bot("ETH/USDT 800 dca so=3 dev=1 vscale=2 sscale=1 tp=1")
    ladder = planned(created)
    assert [price for _, _, price in ladder.values()] == ["3,000", "2,970", "2,940", "2,910"]

    [base] = owner.wait_for_fills(1)
    assert ("buy", base["amount"], base["price"]) == ladder["base order"] and base["side"] == "BUY"
    fleet.wait_for(lambda: len(owner.resting()) == 3, "three safety orders resting")
    assert [("buy", fmt.num(o["quantity"]), fmt.price(o["price"])) for o in owner.resting()] == [
        ladder[f"safety order {n}"] for n in (3, 2, 1)]

    fleet.move(symbol, "2965")  # under the first safety order: it fills at its price
    owner.wait_for_fills(2)
    fleet.move(symbol, "2935")  # under the second
    owner.wait_for_fills(3)
    assert_fills_are_the_exchanges(owner, bot, 3)
    deal = [trade for _, trades in owner.executed() for trade in trades]
    amount = total(deal, "qty")  # fees in BNB: every ETH bought is held
    cost = total(deal, "quoteQty") + quote_fees(deal, "ETH")
    average = cost / amount
    status = owner.say(f"/status {bot}", "positions")
    assert (f"{fmt.num(amount)} ETH on ETH/USDT, entry {fmt.price(average)} (cost {fmt.num(cost, 2)} USDT), "
            f"now 2,935, unrealized {fmt.signed(amount * 2935 - cost)} USDT") in status

    target = average * Decimal("1.01")
    fleet.move(symbol, str(target.quantize(CENT) - 2 * CENT), ticks=2)  # just under the take profit
    assert [o["side"] for o in owner.orders()] == ["BUY"] * 4 and len(owner.resting()) == 1
    fleet.move(symbol, str(target.quantize(CENT) + CENT))  # at it
    sell = owner.wait_for_fills(4)[3]
    assert_fills_are_the_exchanges(owner, bot, 4)

    base_order, *safety_orders, exit_order = owner.orders()[:5]  # the safety orders went out at once
    assert {fmt.price(o["price"]): o["status"] for o in safety_orders} == {
        "2,970": "FILLED", "2,940": "FILLED", "2,910": "CANCELED"}
    assert max(o["updateTime"] for o in safety_orders) <= exit_order["time"]  # canceled before the sale
    assert (exit_order["side"], exit_order["type"], exit_order["status"], exit_order["executedQty"]) == (
        "SELL", "MARKET", "FILLED", amount)
    sold = owner.executed()[3][1]
    profit = total(sold, "quoteQty") - quote_fees(sold, "ETH") - cost
    assert profit > 0 and sell["profit"] == fmt.signed(profit)
    report = owner.say(f"/profit {bot}", "Profit")
    assert f"USDT: realized {fmt.signed(profit)}, unrealized" in report and "win rate 100.0% (1W/0L)" in report
    # The deal is closed: start=now opens the next one at the market.
    assert owner.wait_for_fills(5)[4]["side"] == "BUY"
    assert owner.troubles() == []


def test_a_grid_rests_its_levels_and_trades_a_pair_down_and_back_up(fleet):
    """Levels 135, 140, ... 165: the base for the levels over the price bought at the market, a
    buy resting on each level under 150 and a sell on each over it; a fall fills the buy at 145
    and rests a sell at 150, the way back fills it for one pair's profit and rests the buy again."""
    symbol = "SOL/USDT"
    fleet.binance.set_history(symbol, ["150"] * 40)
    fleet.binance.set_price(symbol, "150")
    owner = Owner(fleet, 8621, {"USDT": "1000"})
    bot, created = owner.start_bot("SOL/USDT 1000 grid low=135 high=165 grids=6")
    levels = planned(created)
    assert [(side, price) for side, _, price in levels.values()] == [
        ("buy", "135"), ("buy", "140"), ("buy", "145"), ("sell", "155"), ("sell", "160"), ("sell", "165")]
    amount = levels["level 0"][1]  # every level trades the same amount

    [start] = owner.wait_for_fills(1)  # the SOL for the three levels over the price
    assert (start["side"], start["amount"], start["price"]) == ("BUY", fmt.num(3 * Decimal(amount)), "150")
    fleet.wait_for(lambda: len(owner.resting()) == 6, "six grid orders resting")
    resting = owner.resting()
    assert [(o["side"].lower(), fmt.price(o["price"])) for o in resting] == [
        (side, price) for side, _, price in levels.values()]
    assert all(fmt.num(o["quantity"]) == amount for o in resting if o["side"] == "BUY")
    # The start's fee was paid in SOL: the last sell rests what is left, the account's SOL to the lot.
    sells = sum(o["quantity"] for o in resting if o["side"] == "SELL")
    free, locked = fleet.binance.balances(owner.api_key)["SOL"], fleet.binance.locked(owner.api_key)["SOL"]
    assert locked == sells and free < Decimal("0.001")

    fleet.move(symbol, "144.9")  # the fall fills the buy at 145
    assert owner.wait_for_fills(2)[1]["price"] == "145"
    fleet.wait_for(lambda: [o["side"] for o in owner.resting() if o["price"] == 150] == ["SELL"],
                   "a sell resting one level up")
    fleet.move(symbol, "150.1")  # the way back fills that sell
    sell = owner.wait_for_fills(3)[2]
    fleet.wait_for(lambda: [o["side"] for o in owner.resting() if o["price"] == 145] == ["BUY"],
                   "the buy resting again")
    assert_fills_are_the_exchanges(owner, bot, 3)

    # The pair: the sell's proceeds less what the SOL it sold cost at the buy one level down.
    (_, _), (_, bought), (_, sold) = owner.executed()
    fee_rate = total(bought, "commission") / total(bought, "qty")
    pair_cost = total(sold, "qty") * bought[0]["price"] * (1 + fee_rate)
    profit = total(sold, "quoteQty") - total(sold, "commission") - pair_cost
    assert sell["price"] == "150" and profit > 0 and sell["profit"] == fmt.signed(profit)
    report = owner.say(f"/profit {bot}", "Profit")
    assert f"USDT: realized {fmt.signed(profit)}, unrealized" in report
    # What the bot holds is what the account holds.
    held = fleet.binance.balances(owner.api_key)["SOL"] + fleet.binance.locked(owner.api_key)["SOL"]
    assert f"{fmt.num(held)} SOL on SOL/USDT" in owner.say(f"/status {bot}", "positions")
    assert owner.troubles() == []
