"""One actor per bot: a claim in Redis that dies with its holder, and a fence in the database.

A job claims the bots it acts for with a fresh, ever-growing token (SET NX with a short TTL).
A thread of the holding process renews its claims while it lives, so a killed worker's bots are
free again within CLAIM_TTL, not minutes. A holder that lost its claim anyway (paused by the OS,
a slow network) is stopped by the fence: every write that acts for a bot first raises the bot's
`fence` to the writer's token, and a writer whose token is older than the fence is refused.
Tokens keep growing even when Redis restarts empty: a counter found below what this process
has seen is raised above every fence in the database first.
"""
from __future__ import annotations

import threading

from peewee import Case, fn

from logcontext import get_logger
from models import Bot

log = get_logger(__name__)

TOKEN_KEY = "botfleet:claim:token"

_RENEW = """
local renewed = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]); renewed = renewed + 1 end
end
return renewed
"""
_RAISE_AND_TAKE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return redis.call('INCR', KEYS[1])
"""
_RELEASE = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""


def claim_key(bot_id: int) -> str:
    return f"botfleet:claim:bot:{bot_id}"


def claim_ttl_ms(tick_seconds: float) -> int:
    """One tick: a killed worker's bots are free by the next tick but one, so its orders are
    settled within two ticks; renewed every third of it, so a live holder keeps its claims
    through a slow call (and a holder that loses them anyway is stopped by the fence)."""
    return int(max(2.0, tick_seconds) * 1000)


class ClaimKeeper:
    """Claims, renews and releases the bots this process acts for."""

    def __init__(self, redis_client, ttl_ms: int):
        self.redis, self.ttl_ms = redis_client, ttl_ms
        self._held: dict[int, list[int]] = {}
        self._lock = threading.Lock()
        self._floor: int | None = None  # the highest token this process knows was handed out
        self._raise_and_take = redis_client.register_script(_RAISE_AND_TAKE)
        self._renew = redis_client.register_script(_RENEW)
        self._release = redis_client.register_script(_RELEASE)
        self._thread = threading.Thread(target=self._renew_forever, name="claim-keeper", daemon=True)
        self._thread.start()

    def claim(self, bot_ids: list[int]) -> tuple[int, list[int]]:
        """(token, the bots claimed): a bot another actor holds is left out."""
        token = self._next_token()
        pipe = self.redis.pipeline(transaction=False)
        for bot_id in bot_ids:
            pipe.set(claim_key(bot_id), token, nx=True, px=self.ttl_ms)
        claimed = [bot_id for bot_id, ok in zip(bot_ids, pipe.execute()) if ok]
        with self._lock:
            self._held[token] = claimed
        return token, claimed

    def _next_token(self) -> int:
        token = int(self.redis.incr(TOKEN_KEY))
        if self._floor is None:
            self._floor = highest_fence()
        if token <= self._floor:  # Redis lost its counter: carry on above every fence written
            self._floor = max(self._floor, highest_fence())
            log.warning("claim tokens restarted; going on above the highest fence", token=token, fence=self._floor)
            token = int(self._raise_and_take(keys=[TOKEN_KEY], args=[self._floor]))
        self._floor = max(self._floor, token)
        return token

    def release(self, token: int) -> None:
        with self._lock:
            bot_ids = self._held.pop(token, [])
        for start in range(0, len(bot_ids), 1000):
            self._release(keys=[claim_key(i) for i in bot_ids[start:start + 1000]], args=[token])

    def _renew_forever(self) -> None:
        wait = self.ttl_ms / 3000
        while True:
            threading.Event().wait(wait)
            with self._lock:
                held = list(self._held.items())
            for token, bot_ids in held:
                try:
                    for start in range(0, len(bot_ids), 1000):
                        keys = [claim_key(i) for i in bot_ids[start:start + 1000]]
                        self._renew(keys=keys, args=[token, self.ttl_ms])
                except Exception:  # Redis away: the claims lapse, and the fence keeps us harmless
                    log.warning("could not renew bot claims", exc_info=True, bots=len(bot_ids))


def highest_fence() -> int:
    return int(Bot.select(fn.MAX(Bot.fence)).scalar() or 0)


def fence(token: int, bot_ids: list[int], versions: dict[int, int] | None = None) -> set[int]:
    """Inside a write transaction: raise the bots' fence to `token`; the bots for which that
    worked (for the others a newer claim has written, or, with `versions`, their trading state
    moved on since the decision). Row locks taken here serialize actors of one bot."""
    if not bot_ids:
        return set()
    condition = Bot.id.in_(bot_ids) & (Bot.fence <= token)
    changes = {Bot.fence: token}
    if versions is not None:
        condition &= Bot.version == Case(Bot.id, [(bot_id, versions[bot_id]) for bot_id in bot_ids])
        changes[Bot.version] = Bot.version + 1
    return {bot_id for (bot_id,) in Bot.update(changes).where(condition).returning(Bot.id).tuples()}
