"""Exchange API keys: check, store encrypted, list masked, delete."""
from __future__ import annotations

from logcontext import get_logger
from models import ORDER_IN_FLIGHT, ApiKey, Bot, Order, Position, get_owned, owned
from rpc import N_, UserError
from vault import mask
from exchanges import SUPPORTED_EXCHANGES, Credentials, check_exchange
from exchanges.gateway import needs_passphrase

log = get_logger(__name__)
ADDKEY_USAGE = "/addkey <exchange> <api_key> <secret> [passphrase] [testnet]"


def parse_addkey(args: list[str]) -> tuple[str, Credentials]:
    """(exchange, credentials) from the command's words, or UserError."""
    testnet = bool(args) and args[-1].lower() == "testnet"
    words = args[:-1] if testnet else list(args)
    if len(words) not in (3, 4):
        raise UserError(N_("Usage: {usage}\nExample: {example}"), usage=ADDKEY_USAGE,
                        example="/addkey binance AbCd...7LFx sEcReT...")
    if words[0].lower() not in SUPPORTED_EXCHANGES:  # never echo it: it may be a pasted key
        raise UserError(N_("The first word is the exchange ({exchanges}). Usage: {usage}"),
                        exchanges=", ".join(SUPPORTED_EXCHANGES), usage=ADDKEY_USAGE)
    exchange = check_exchange(words[0])
    api_key, secret = words[1], words[2]
    if len(api_key) < 8 or len(secret) < 8:
        raise UserError(N_("That does not look like an API key and secret: both are long strings from the exchange's API page."))
    passphrase = words[3] if len(words) == 4 else None
    if needs_passphrase(exchange) and passphrase is None:
        raise UserError(f"{exchange} keys come with the passphrase you chose when creating them. "
                        f"Usage: /addkey {exchange} <api_key> <secret> <passphrase> [testnet]")
    if not needs_passphrase(exchange) and passphrase is not None:
        raise UserError(f"{exchange} keys have no passphrase: send only the key and the secret. Usage: {ADDKEY_USAGE}")
    return exchange, Credentials(api_key=api_key, secret=secret, passphrase=passphrase, testnet=testnet)


def key_view(key: ApiKey) -> dict:
    return {"id": key.id, "exchange": key.exchange, "masked": mask(key.key_tail), "testnet": key.testnet,
            "bots": key.bots.count()}


def add_key(user, gateway, vault, exchange: str, credentials: Credentials) -> dict:
    """Check the key with the exchange, refuse withdrawal rights, store it encrypted."""
    check = gateway.check_key(exchange, credentials)
    if check["can_withdraw"]:
        raise UserError(N_(
            "This key can withdraw funds. For your safety botfleet only accepts keys without "
            "withdrawal permission: edit the key on the exchange (disable withdrawals) and add it again."
        ))
    key = ApiKey.create(
        user=user, exchange=exchange,
        api_key_token=vault.encrypt(credentials.api_key),
        secret_token=vault.encrypt(credentials.secret),
        passphrase_token=vault.encrypt(credentials.passphrase) if credentials.passphrase else None,
        key_tail=credentials.api_key[-4:], testnet=credentials.testnet,
    )
    log.info("key added", user=user.id, key=key.id, exchange=exchange, testnet=credentials.testnet)
    return key_view(key)


def list_keys(user) -> list[dict]:
    return [key_view(key) for key in owned(ApiKey, user).order_by(ApiKey.id)]


def delete_key(user, key_id) -> dict:
    """Remove a key no bot still needs: not while a bot on it runs, holds a position (a stopped
    bot still exits) or has an order in flight."""
    key = _deletable(user, key_id)
    view = key_view(key)
    key.delete_instance()
    log.info("key deleted", user=user.id, key=key.id)
    return view


def key_deletion_check(user, key_id) -> dict:
    """The key, if it could be deleted now (for the confirmation question); else UserError."""
    return key_view(_deletable(user, key_id))


def _deletable(user, key_id) -> ApiKey:
    key = get_owned(ApiKey, user, key_id)
    bots = owned(Bot, user).where(Bot.api_key == key)
    running = bots.where(Bot.status == "running").count()
    if running:
        raise UserError(N_("Key {id} is used by {count} running bot(s). Stop them first with /stopbot <id>."),
                        id=key.id, count=running)
    holding = bots.where(
        Bot.id.in_(Position.select(Position.bot).where(Position.status == "open"))
        | Bot.id.in_(Order.select(Order.bot).where(Order.status.in_(ORDER_IN_FLIGHT)))
    ).count()
    if holding:
        raise UserError(N_("Key {id} still has {count} bot(s) with an open position or an order in flight: "
                           "their exits need it. Wait for them to close, or delete those bots first."),
                        id=key.id, count=holding)
    return key
