"""Claim tokens keep growing when Redis restarts empty, so fences written before still let the
bots' next actors write (otherwise every bot would be refused until the counter caught up)."""
from __future__ import annotations

import redis

from models import Bot, write_transaction
from tests.workers.conftest import make_bot, make_user
from workers import claims


def fenced_by(token: int, bot: Bot) -> bool:
    with write_transaction():
        return bot.id in claims.fence(token, [bot.id])


def test_a_process_that_saw_the_old_counter_goes_on_above_it(ctx):
    bot = make_bot(make_user(), None)
    for _ in range(5):
        token, _ = ctx.claims.claim([bot.id])
        assert fenced_by(token, bot)
        ctx.claims.release(token)
    redis.Redis.from_url(ctx.settings.redis_url).flushdb()  # Redis restarted without its data

    token, claimed = ctx.claims.claim([bot.id])

    assert claimed == [bot.id] and token > Bot.get_by_id(bot.id).fence - 1 and fenced_by(token, bot)


def test_a_new_process_after_the_loss_starts_above_every_fence(ctx):
    bot = make_bot(make_user(), None)
    Bot.update(fence=5000).where(Bot.id == bot.id).execute()  # written before Redis lost its counter
    client = redis.Redis.from_url(ctx.settings.redis_url)
    client.flushdb()
    keeper = claims.ClaimKeeper(client, 3000)

    token, claimed = keeper.claim([bot.id])

    assert claimed == [bot.id] and token > 5000 and fenced_by(token, bot)
