"""Replies before notifications in Telegram's shared budget (telegram_bot/rate_limits.py)."""
from __future__ import annotations

import asyncio

from telegram_bot.rate_limits import HEADROOM, NOTIFICATION, ReplyFirstRateLimiter


def run_requests(limiter, notifications: int, replies: int, replies_after: float) -> tuple[list, list]:
    """Completion order of `notifications` queued at once and `replies` sent a little later."""
    done: list[str] = []

    async def send(kind: str, number: int) -> None:
        async def call():
            done.append(f"{kind}{number}")
            return True

        await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 1000 + number},
                                      NOTIFICATION if kind == "n" else None)

    async def scenario():
        queued = [asyncio.create_task(send("n", n)) for n in range(notifications)]
        await asyncio.sleep(replies_after)
        await asyncio.gather(*(send("r", n) for n in range(replies)))
        notified_before_replies_done = sum(1 for item in done if item.startswith("n"))
        await asyncio.gather(*queued)
        return notified_before_replies_done

    before = asyncio.run(scenario())
    return done, before


def test_replies_overtake_a_queue_of_notifications():
    limiter = ReplyFirstRateLimiter(overall_max_rate=20, overall_time_period=1)
    done, notified_before_replies_done = run_requests(limiter, notifications=80, replies=5, replies_after=0.2)
    assert notified_before_replies_done < 40  # a first-come limiter would have sent all 80 first
    assert len(done) == 85  # and every notification still goes once replies are served


def test_notifications_leave_headroom_for_a_burst_of_replies():
    limiter = ReplyFirstRateLimiter(overall_max_rate=20, overall_time_period=1)
    done, _ = run_requests(limiter, notifications=40, replies=HEADROOM, replies_after=0.05)
    last_reply = max(index for index, item in enumerate(done) if item.startswith("r"))
    # the burst found its free slots at once: it did not wait for the bucket to drain (1 slot per 50 ms)
    assert last_reply < 20 + 3
