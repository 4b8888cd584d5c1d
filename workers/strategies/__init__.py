"""The strategies a bot can run, by name. Each module has PARAMS and a pure decide(); adding a
strategy is adding a module here."""
from __future__ import annotations

from workers.strategies import dca, dip, grid
from workers.strategies.base import (Closes, Decision, Holding, OpenOrder, Param, ParamError, Want, parse_params)

STRATEGIES = {"dip": dip, "dca": dca, "grid": grid}
DEFAULT_STRATEGY = "dip"


def get(name: str):
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ParamError("Unknown strategy '{name}'. Available: {available}.", name=name,
                         available=", ".join(STRATEGIES)) from None


def validate(name: str, raw: dict[str, str]) -> dict[str, object]:
    """The full parameter set for a strategy, or ParamError saying what is wrong."""
    module = get(name)
    params = parse_params(module.PARAMS, raw)
    if hasattr(module, "check"):
        module.check(params)
    return params


def parameters(name: str) -> list[dict]:
    """A strategy's parameters as /help shows them: name, default, bounds or choices, meaning."""
    return [{"name": p.name, "default": p.default, "low": p.low, "high": p.high, "choices": p.choices,
             "integer": p.integer, "help": p.help} for p in get(name).PARAMS.values()]


def stops_after_sell_now(name: str) -> bool:
    """Whether "Sell now" also stops a bot of this strategy (one that would enter again at once)."""
    return bool(getattr(get(name), "STOPS_AFTER_SELL_NOW", False))


def summary(name: str) -> str:
    """The first sentence of a strategy's description."""
    text = " ".join((get(name).__doc__ or "").split())
    return text.split(". ")[0].rstrip(".") + "."


__all__ = ["Closes", "Decision", "Holding", "OpenOrder", "Param", "ParamError", "STRATEGIES", "DEFAULT_STRATEGY",
           "Want", "get", "parameters", "stops_after_sell_now", "summary", "validate"]
