"""The strategies a bot can run, by name. Each module has PARAMS and a pure decide()."""
from __future__ import annotations

from workers.strategies import dip
from workers.strategies.base import Closes, Decision, Holding, Param, ParamError, parse_params

STRATEGIES = {"dip": dip}
DEFAULT_STRATEGY = "dip"


def get(name: str):
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ParamError("Unknown strategy '{name}'. Available: {available}.", name=name,
                         available=", ".join(STRATEGIES)) from None


def validate(name: str, raw: dict[str, str]) -> dict[str, object]:
    """The full parameter set for a strategy, or ParamError saying what is wrong."""
    return parse_params(get(name).PARAMS, raw)


__all__ = ["Closes", "Decision", "Holding", "Param", "ParamError", "STRATEGIES", "DEFAULT_STRATEGY", "get", "validate"]
