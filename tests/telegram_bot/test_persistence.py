"""Conversations shared through Redis by several Applications (as by several `bot` processes):
python-telegram-bot's real Application and ConversationHandler, our persistence, a real Redis
and the fake Bot API. These tests also hold the one place that reaches into PTB's private
state (`set_conversation_state`): they break if PTB 22.8's ConversationHandler changes it."""
from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest
import redis
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from telegram_bot import persistence
from telegram_bot.persistence import RedisPersistence, SharedConversationsApplication
from tests.conftest import TELEGRAM_TOKEN

CHAT = 7301
_update_ids = itertools.count(1)


def application(fake_telegram, redis_url: str, name: str, seen: list, gate: asyncio.Event | None = None) -> Application:
    """An Application with one shared conversation: /go, then two answers; `seen` records who did what."""

    async def go(update, context):
        if gate is not None:
            await gate.wait()  # a step that takes its time
        context.user_data["answers"] = []
        seen.append((name, "go"))
        return "first"

    async def first(update, context):
        context.user_data["answers"].append(update.message.text)
        seen.append((name, "first", update.message.text))
        return "second"

    async def second(update, context):
        answers = context.user_data.pop("answers") + [update.message.text]
        seen.append((name, "second", tuple(answers)))
        return ConversationHandler.END

    async def outside(update, context):
        seen.append((name, "outside", update.message.text))

    text = filters.TEXT & ~filters.COMMAND
    app = (ApplicationBuilder().token(TELEGRAM_TOKEN).base_url(f"{fake_telegram.base_url}/bot")
           .persistence(RedisPersistence(redis_url)).application_class(SharedConversationsApplication).build())
    app.add_handler(ConversationHandler(
        entry_points=[CommandHandler("go", go)],
        states={"first": [MessageHandler(text, first)], "second": [MessageHandler(text, second)]},
        fallbacks=[], name="flow", persistent=True))
    app.add_handler(MessageHandler(text, outside))
    return app


def run(fake_telegram, redis_url, scenario, gate: asyncio.Event | None = None) -> list:
    """Two Applications ("a" and "b") on one Redis, then `scenario(a, b, say)`; returns what they did."""
    seen: list = []

    async def say(app: Application, text: str, group: int | None = None) -> None:
        """The user (CHAT) writes, in their private chat or in a group; `app` gets the update."""
        if group is None:
            sent = fake_telegram.send_user_message(CHAT, text)
        else:
            sent = fake_telegram.send_user_message(group, text, chat_type="group", from_id=CHAT)
        await app.process_update(Update.de_json({"update_id": next(_update_ids), "message": sent}, app.bot))

    async def main():
        async with application(fake_telegram, redis_url, "a", seen, gate) as a, \
                application(fake_telegram, redis_url, "b", seen) as b:
            await scenario(a, b, say)

    asyncio.run(main())
    return seen


def stored(redis_url: str) -> dict:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return {"conversations": client.hgetall(persistence.conversations_hash("flow")),
            "user_data": client.hgetall(persistence.USER_DATA), "locks": client.keys(f"{persistence.PREFIX}:lock:*")}


def test_each_step_goes_on_in_the_other_application(fake_telegram, redis_url):
    async def scenario(a, b, say):
        await say(a, "/go")
        await say(b, "red")
        await say(a, "blue")
        await say(b, "green")  # the conversation ended in a: no step of it any more

    assert run(fake_telegram, redis_url, scenario) == [
        ("a", "go"), ("b", "first", "red"), ("a", "second", ("red", "blue")), ("b", "outside", "green")]
    assert stored(redis_url) == {"conversations": {}, "user_data": {}, "locks": []}


def test_a_step_in_the_middle_is_in_redis_between_updates(fake_telegram, redis_url):
    async def scenario(a, b, say):
        await say(a, "/go")
        await say(b, "red")

    run(fake_telegram, redis_url, scenario)
    assert stored(redis_url) == {"conversations": {f"[{CHAT}, {CHAT}]": '"second"'},
                                 "user_data": {str(CHAT): '{"answers": ["red"]}'}, "locks": []}


def test_the_next_update_in_another_application_waits_for_the_step_in_flight(fake_telegram, redis_url):
    async def scenario(a, b, say):
        slow = asyncio.create_task(say(a, "/go"))
        await asyncio.sleep(0.3)  # a holds the user's lock, its step not done
        answer = asyncio.create_task(say(b, "red"))
        await asyncio.sleep(0.3)
        assert not answer.done()
        gate.set()
        await asyncio.gather(slow, answer)

    gate = asyncio.Event()
    assert run(fake_telegram, redis_url, scenario, gate) == [("a", "go"), ("b", "first", "red")]


def test_a_step_slower_than_the_lock_time_keeps_the_lock_until_it_ends(fake_telegram, redis_url):
    async def scenario(a, b, say):
        a.persistence.lock_seconds = b.persistence.lock_seconds = 0.3  # stands for LOCK_SECONDS
        slow = asyncio.create_task(say(a, "/go"))
        await asyncio.sleep(0.1)
        again = asyncio.create_task(say(b, "/go"))  # the user presses again; b gets it
        await asyncio.sleep(1.0)  # more than three lock times: a's step still runs
        assert not again.done()
        gate.set()
        await asyncio.gather(slow, again)

    gate = asyncio.Event()
    # b read a's step ("first"), where /go is no entry point: no second "go"
    assert run(fake_telegram, redis_url, scenario, gate) == [("a", "go")]
    assert stored(redis_url) == {"conversations": {f"[{CHAT}, {CHAT}]": '"first"'},
                                 "user_data": {str(CHAT): '{"answers": []}'}, "locks": []}


async def one_update(redis_url: str, between) -> None:
    """A user's update through a RedisPersistence of its own, its lock lost before its write
    (`between(client)`): the conversation ends and the draft goes (what the write would say)."""
    mine = RedisPersistence(redis_url)
    key = (CHAT, CHAT)
    try:
        await mine.begin_update(CHAT, {"flow": key})
        await between(mine.redis)
        await mine.update_conversation("flow", key, None)
        await mine.drop_user_data(CHAT)
        await mine.end_update(CHAT)
    finally:
        await mine.redis.aclose()


def test_a_write_after_the_lock_was_lost_writes_nothing(redis_url, caplog):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.hset(persistence.conversations_hash("flow"), f"[{CHAT}, {CHAT}]", '"second"')
    client.hset(persistence.USER_DATA, str(CHAT), '{"answers": ["red"]}')

    async def taken_over(redis_client):  # the lock ran out and another process's update took it
        await redis_client.set(persistence.lock_key(CHAT), "another update", px=5000)

    asyncio.run(one_update(redis_url, taken_over))
    assert stored(redis_url) == {"conversations": {f"[{CHAT}, {CHAT}]": '"second"'},
                                 "user_data": {str(CHAT): '{"answers": ["red"]}'},
                                 "locks": [persistence.lock_key(CHAT)]}
    assert client.get(persistence.lock_key(CHAT)) == "another update"  # not let go of either
    assert "lock was lost before its write" in caplog.text

    async def ran_out(redis_client):
        await redis_client.delete(persistence.lock_key(CHAT))

    asyncio.run(one_update(redis_url, ran_out))
    assert stored(redis_url)["conversations"] == {f"[{CHAT}, {CHAT}]": '"second"'}


def test_an_update_whose_read_failed_writes_nothing(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.set(persistence.USER_DATA, "not a hash")  # Redis refuses the read (WRONGTYPE)

    async def main():
        mine = RedisPersistence(redis_url)
        key = (CHAT, CHAT)
        try:
            with pytest.raises(redis.exceptions.RedisError):
                await mine.begin_update(CHAT, {"flow": key})
            await mine.update_conversation("flow", key, "first")  # the handlers ran on this process's copy
            await mine.end_update(CHAT)
        finally:
            await mine.redis.aclose()

    asyncio.run(main())
    assert client.hgetall(persistence.conversations_hash("flow")) == {}


def test_the_lock_of_a_killed_process_ends_by_itself(fake_telegram, redis_url):
    waited = []

    async def scenario(a, b, say):
        redis.Redis.from_url(redis_url).set(persistence.lock_key(CHAT), "dead", px=500)  # its update never ends
        started = time.monotonic()
        await asyncio.wait_for(say(a, "/go"), timeout=5)
        waited.append(time.monotonic() - started)
        await say(b, "red")

    assert run(fake_telegram, redis_url, scenario) == [("a", "go"), ("b", "first", "red")]
    assert waited[0] >= 0.4


def test_a_group_update_neither_reads_nor_writes_the_users_conversation(fake_telegram, redis_url):
    async def scenario(a, b, say):
        await say(a, "/go")
        await say(b, "hello all", group=-100_555)  # the same user, in a group
        await say(a, "red")

    assert run(fake_telegram, redis_url, scenario) == [
        ("a", "go"), ("b", "outside", "hello all"), ("a", "first", "red")]
    assert stored(redis_url)["user_data"] == {str(CHAT): '{"answers": ["red"]}'}


class RedisCommands:
    """The commands our clients send to the test's Redis db while the block runs (not those a
    script runs inside Redis), through Redis's MONITOR."""

    END = "end-of-watch"

    def __init__(self, redis_url: str):
        self.client = redis.Redis.from_url(redis_url)
        self.marker = redis.Redis.from_url(redis_url)  # ends the watch; connected before it starts
        self.db = self.client.connection_pool.connection_kwargs.get("db", 0)
        self.commands: list[str] = []
        self._started = threading.Event()
        self._watcher = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        with self.client.monitor() as monitor:
            self._started.set()
            for command in monitor.listen():
                if command["command"] == f"ECHO {self.END}":
                    return
                if command["db"] == self.db and command["client_type"] != "lua":
                    self.commands.append(command["command"].split()[0].upper())

    def __enter__(self) -> "RedisCommands":
        self.marker.ping()
        self._watcher.start()
        assert self._started.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        self.marker.echo(self.END)
        self._watcher.join(10)


@pytest.mark.parametrize("text", ["/go", "hello"], ids=["a conversation step", "another update"])
def test_an_update_costs_two_redis_round_trips(fake_telegram, redis_url, text):
    async def scenario(a, b, say):
        await say(a, "warm up")  # a client loads the scripts on first use
        with RedisCommands(redis_url) as watch:
            await say(a, text)
        commands.extend(watch.commands)

    commands: list[str] = []
    run(fake_telegram, redis_url, scenario)
    assert commands == ["EVALSHA", "EVALSHA"]  # read (and lock), then write (and let go)
