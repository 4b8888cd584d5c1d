"""Private clients are cheap copies of a venue template: each must sign with its own key only."""
from __future__ import annotations

from decimal import Decimal

from exchanges import Credentials, Gateway, OrderRequest, OrderState, run_all
from exchanges.live import LiveAccount


def test_concurrent_orders_of_many_keys_are_each_signed_by_their_own_key(fake_binance):
    accounts = [(f"key{n:03d}" + "k" * 56, f"sec{n:03d}" + "s" * 56) for n in range(40)]
    for api_key, secret in accounts:
        fake_binance.add_account(api_key, secret, {"USDT": "1000"})
    gateway = Gateway({"binance": fake_binance.ccxt_overrides()})
    calls = [
        (LiveAccount(gateway, "binance", Credentials(api_key, secret)),
         OrderRequest(f"own{n}", "BTC/USDT", "buy", "market", Decimal("0.001"), None))
        for n, (api_key, secret) in enumerate(accounts)
    ]

    answers = run_all("place", calls)

    assert all(isinstance(answer, OrderState) for answer in answers)
    for n, (api_key, _) in enumerate(accounts):
        assert [order["clientOrderId"] for order in fake_binance.orders(api_key)] == [f"own{n}"]


def test_a_private_client_keeps_its_key_and_settings_to_itself(fake_binance):
    fake_binance.add_account("c" * 64, "d" * 64, {"USDT": "77"})
    gateway = Gateway({"binance": fake_binance.ccxt_overrides()})
    first = gateway.private("binance", Credentials("a" * 64, "b" * 64))
    second = gateway.private("binance", Credentials("c" * 64, "d" * 64))
    first.options["recvWindow"] = 1234

    assert (first.apiKey, second.apiKey) == ("a" * 64, "c" * 64)
    assert "recvWindow" not in second.options or second.options["recvWindow"] != 1234
    assert first.markets is second.markets  # loaded once per venue, shared
    del first  # ccxt closes a client's HTTP session when it goes: the shared one must stay usable
    assert second.fetch_balance()["total"]["USDT"] == 77
