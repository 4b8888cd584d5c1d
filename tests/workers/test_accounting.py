"""Booking fills into a position, in plain numbers: a grid pair is charged what its own buy paid."""
from __future__ import annotations

from decimal import Decimal as D

from exchanges import MarketRules
from models import Position
from workers.accounting import FillFigures, book_buy, book_sell

RULES = MarketRules("SOL/USDT", "SOL", "USDT", amount_step=D("0.001"), price_step=D("0.01"),
                    min_amount=D("0.001"), min_cost=D("5"), taker_fee=D("0.001"), maker_fee=D("0.001"))
ZERO = D(0)


def position(amount="0", cost="0") -> Position:
    return Position(amount=D(amount), entry_cost=D(cost), entry_price=ZERO, fees=ZERO, proceeds=ZERO,
                    realized_profit=ZERO)


def fill(side, amount, price, fees=None, other="0") -> FillFigures:
    return FillFigures(side, D(amount), D(amount) * D(price), fees or {}, D(other))


def test_a_pair_paid_in_bnb_is_charged_what_its_buy_paid_and_leaves_nothing_in_the_position():
    held = position("0.524", "81.0")  # four levels held from before
    # a level buy of 0.131 at 148 for 19.388, fee 0.00003232 BNB worth 0.019392 (0.075 %, not the 0.1 % maker fee)
    book_buy(held, fill("buy", "0.131", "148", {"BNB": D("0.00003232")}, "0.019392"), RULES, D("148"))
    realized = book_sell(held, fill("sell", "0.131", "150", {"BNB": D("0.00003275")}, "0.01965"), RULES, D("148"))

    assert realized == D("19.65") - D("0.01965") - (D("19.388") + D("0.019392"))
    assert (held.amount, held.entry_cost, held.lots) == (D("0.524"), D("81.0"), [])


def test_a_base_fee_leaves_less_to_sell_and_the_pair_is_charged_its_share_of_the_buy():
    held = position()
    # 0.131 bought at 148 for 19.388 delivers 0.130869 after 0.000131 SOL of fee; 0.130 of it is sold
    book_buy(held, fill("buy", "0.131", "148", {"SOL": D("0.000131")}), RULES, D("148"))
    held.amount, held.entry_cost = held.amount + D("0.524"), held.entry_cost + D("81.0")
    realized = book_sell(held, fill("sell", "0.130", "150", {"USDT": D("0.0195")}), RULES, D("148"))

    assert realized == D("19.5") - D("0.0195") - D("19.388") * D("0.130") / D("0.130869")
    # the 0.000869 SOL the sell left is under a step: it joins the position with its cost
    assert held.lots == [] and held.amount == D("0.524869")
    assert held.entry_cost == D("81.0") + D("19.388") - D("19.388") * D("0.130") / D("0.130869")


def test_a_sell_filled_in_parts_takes_its_lot_in_parts():
    held = position("0.262", "40")
    book_buy(held, fill("buy", "0.131", "148"), RULES, D("148"))
    first = book_sell(held, fill("sell", "0.031", "150"), RULES, D("148"))
    assert held.lots == [["148", str(D("19.388") - D("19.388") * D("0.031") / D("0.131")), "0.100"]]
    second = book_sell(held, fill("sell", "0.100", "150"), RULES, D("148"))

    assert first + second == D("19.65") - D("19.388") and held.lots == []


def test_a_buy_filled_in_parts_is_one_lot():
    held = position()
    book_buy(held, fill("buy", "0.05", "148"), RULES, D("148"))
    book_buy(held, fill("buy", "0.081", "148"), RULES, D("148"))

    assert held.lots == [["148", "19.388", "0.131"]]


def test_a_sell_whose_level_the_price_jumped_over_takes_the_newest_buy_under_it():
    held = position("0.393", "60")  # three levels the start bought
    book_buy(held, fill("buy", "0.131", "144"), RULES, D("144"))
    book_buy(held, fill("buy", "0.131", "148"), RULES, D("148"))
    # the sell at 154 pairs with 152, never bought as a level: the base it sells was bought at 148
    realized = book_sell(held, fill("sell", "0.131", "154"), RULES, D("152"))

    assert realized == D("0.131") * (154 - 148)
    assert held.lots == [["144", "18.864", "0.131"]]


def test_the_start_market_buy_is_one_lot_its_levels_sells_take_at_what_it_paid_a_unit():
    held = position()
    book_buy(held, fill("buy", "0.2", "140", {"USDT": D("0.014")}), RULES, D("140"), start=True)  # its first part
    book_buy(held, fill("buy", "0.193", "140.1", {"USDT": D("0.0270393")}), RULES, D("140"), start=True)
    paid = D("0.2") * 140 + D("0.014") + D("0.193") * D("140.1") + D("0.0270393")
    assert held.lots == [["140", str(paid), "0.393", "start"]] and held.entry_cost == paid

    first = book_sell(held, fill("sell", "0.131", "150"), RULES, D("140"))  # the levels it bought, from 150 up
    second = book_sell(held, fill("sell", "0.131", "170"), RULES, D("160"))  # one whose lower level never sold

    assert first == D("0.131") * 150 - paid * D("0.131") / D("0.393")
    assert second == D("0.131") * 170 - paid * D("0.131") / D("0.393")
    assert held.entry_cost == paid - 2 * (paid * D("0.131") / D("0.393")) > 0
    assert held.lots == [["140", str(held.entry_cost), "0.131", "start"]]


def test_a_level_bought_back_is_taken_before_the_start():
    held = position()
    book_buy(held, fill("buy", "0.262", "150"), RULES, D("150"), start=True)  # levels 160 and 170
    book_sell(held, fill("sell", "0.131", "160"), RULES, D("150"))
    book_buy(held, fill("buy", "0.131", "150"), RULES, D("150"))  # level 150 bought back

    realized = book_sell(held, fill("sell", "0.131", "160"), RULES, D("150"))

    assert realized == D("0.131") * 10
    assert held.lots == [["150", str(D("0.131") * 150), "0.131", "start"]]


def test_without_a_lot_a_sell_is_charged_the_average_cost_of_the_base_outside_lots():
    held = position("0.393", "39.3")  # a start from before its lots were kept: 100 a unit
    book_buy(held, fill("buy", "0.131", "154"), RULES, D("154"))  # a level above, bought back after a dip
    realized = book_sell(held, fill("sell", "0.131", "152"), RULES, D("150"))  # far above what the start paid

    assert realized == D("0.131") * (152 - 100)
    assert held.entry_cost == D("26.2") + D("0.131") * 154 and held.lots == [["154", "20.174", "0.131"]]


def test_selling_the_whole_position_ends_its_pairs():
    held = position()
    book_buy(held, fill("buy", "0.131", "148"), RULES, D("148"))
    book_buy(held, fill("buy", "0.131", "146"), RULES, D("146"))
    book_sell(held, fill("sell", "0.100", "145"), RULES)

    assert held.lots == []


def test_parts_of_two_buys_filled_alternately_each_join_their_own_lot():
    held = position("1", "100")  # a level held from before
    book_buy(held, fill("buy", "0.4", "104"), RULES, D("104"), buy=7)
    book_buy(held, fill("buy", "0.5", "103"), RULES, D("103"), buy=8)
    book_buy(held, fill("buy", "0.6", "104"), RULES, D("104"), buy=7)
    book_buy(held, fill("buy", "0.5", "103"), RULES, D("103"), buy=8)
    assert held.lots == [["104", "104.0", "1.0", "", "7"], ["103", "103.0", "1.0", "", "8"]]

    book_sell(held, fill("sell", "1", "104"), RULES, D("103"))
    book_sell(held, fill("sell", "1", "105"), RULES, D("104"))

    assert held.lots == [] and held.realized_profit == 2 and (held.amount, held.entry_cost) == (1, 100)
