"""Order sizing: how much of the base a decision's budget buys, at the market's precision."""
from __future__ import annotations

from decimal import Decimal

from exchanges import MarketRules, OrderRefused

# Room left in a buy's budget for the fee and for the price moving before the fill.
BUY_BUDGET_MARGIN = Decimal("0.003")


def buy_amount(rules: MarketRules, budget: Decimal, price: Decimal) -> Decimal:
    """The largest amount at the market's step whose cost plus fee stays within budget."""
    amount = rules.floor_amount(budget / (price * (1 + rules.taker_fee + BUY_BUDGET_MARGIN)))
    check_minimums(rules, amount, price)
    return amount


def sell_amount(rules: MarketRules, held: Decimal, price: Decimal) -> Decimal:
    amount = rules.floor_amount(held)
    check_minimums(rules, amount, price)
    return amount


def check_minimums(rules: MarketRules, amount: Decimal, price: Decimal) -> None:
    if not rules.tradable(amount, price):
        raise OrderRefused(
            f"The order ({amount} {rules.base} at {price}) is below {rules.symbol}'s minimum "
            f"({rules.min_amount} {rules.base}, {rules.min_cost} {rules.quote})."
        )


def smallest_capital(rules: MarketRules) -> Decimal:
    """The least capital whose first buy clears the market's minimum once fees are set aside."""
    return (rules.min_cost * (1 + rules.taker_fee + BUY_BUDGET_MARGIN)).quantize(Decimal("0.01"))
