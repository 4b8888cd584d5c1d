"""On-demand RQ jobs for chat commands: plain ids in, a message in the owner's outbox out."""
from __future__ import annotations

from exchanges import GatewayError
from logcontext import bind
from models import ApiKey, NotFound, Outbox, User, get_owned
from vault import VaultError, mask
from workers.context import context
from workers.trading import key_credentials


def report_balance(user_id: int, key_id: int) -> str:
    """Fetch the balances behind one of the user's keys and send them to the user's chat."""
    ctx = context()
    bind(user=user_id, key=key_id)
    user = User.get_by_id(user_id)
    payload = {"key_id": key_id}
    try:
        key = get_owned(ApiKey, user, key_id)
        payload.update(exchange=key.exchange, masked=mask(key.key_tail), testnet=key.testnet)
        balances = ctx.gateway.balances(key.exchange, key_credentials(ctx.vault, key))
        payload["balances"] = {asset: [str(free), str(used)] for asset, (free, used) in sorted(balances.items())}
    except NotFound:
        payload["error"] = f"Key {key_id} not found."
    except (GatewayError, VaultError) as error:
        payload["error"] = str(error)
    Outbox.create(user=user, chat_id=user.chat_id, kind="balance", payload=payload)
    return "reported"
