"""On-demand RQ jobs for chat commands: plain ids in, a message in the owner's outbox out."""
from __future__ import annotations

from exchanges import GatewayError
from logcontext import bind
from models import ApiKey, NotFound, Outbox, User, get_owned, utcnow
from vault import VaultError, mask
from workers.context import context
from workers.trading import key_credentials

BALANCE_IN_PLACE = "balance_in_place"  # outbox kind: a key's balances shown in place of a chat message
FETCH_HOLD_SECONDS = 60  # a fetch under way holds its message at most this long (a lost job lets go)


def fetching_key(chat_id: int, message_id: int) -> str:
    """The Redis key that marks a balance fetch under way for one chat message."""
    return f"botfleet:balance-fetch:{chat_id}:{message_id}"


def start_fetch(redis, chat_id: int, message_id: int) -> bool:
    """Mark a fetch under way for this message; False when one already is (Refresh pressed
    again before the answer came: no second job)."""
    return bool(redis.set(fetching_key(chat_id, message_id), 1, nx=True, ex=FETCH_HOLD_SECONDS))


def report_balance(user_id: int, key_id: int, message_id: int | None = None) -> str:
    """Fetch the balances behind one of the user's keys and send them to the user's chat: in
    place of message `message_id` (the "Fetching…" message, then the same message at every
    Refresh), or without one (a job queued by an older `bot`) as a new message."""
    ctx = context()
    bind(user=user_id, key=key_id)
    user = User.get_by_id(user_id)
    payload = {"key_id": key_id}
    try:
        try:
            key = get_owned(ApiKey, user, key_id)
            payload.update(exchange=key.exchange, masked=mask(key.key_tail), testnet=key.testnet)
            balances = ctx.gateway.balances(key.exchange, key_credentials(ctx.vault, key))
            payload["balances"] = {asset: [str(free), str(used)] for asset, (free, used) in sorted(balances.items())}
        except NotFound:
            payload["error"] = f"Key {key_id} not found."
        except (GatewayError, VaultError) as error:
            payload["error"] = str(error)
        if message_id is None:
            Outbox.create(user=user, chat_id=user.chat_id, kind="balance", payload=payload)
        else:
            payload.update(message_id=message_id, checked_at=utcnow().isoformat())
            Outbox.create(user=user, chat_id=user.chat_id, kind=BALANCE_IN_PLACE, payload=payload)
    finally:
        if message_id is not None:
            ctx.redis.delete(fetching_key(user.chat_id, message_id))
    return "reported"
