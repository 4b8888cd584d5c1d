"""Guided conversations survive a restart of the `bot` process: python-telegram-bot's
persistence, kept in Redis instead of process memory.

What is stored: each ConversationHandler's states (per chat and user) and each user's
user_data (the answers given so far), as JSON in two Redis hashes. PTB writes changes every
UPDATE_SECONDS and once more on a graceful stop (Heroku's daily restart sends SIGTERM), and
reads them back at start. Secrets never go in user_data as they are (a half-entered API key is
kept as a Fernet token). Limit: state is read at start only, so with several `bot` processes
(webhook mode) one user's conversation should stay with one process.
"""
from __future__ import annotations

import json

import redis.asyncio as aioredis
from telegram.ext import BasePersistence, PersistenceInput

PREFIX = "botfleet:chat"
UPDATE_SECONDS = 0.5  # a killed process loses at most this much of a conversation


class RedisPersistence(BasePersistence):
    def __init__(self, redis_url: str):
        super().__init__(store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=True,
                                                     callback_data=False), update_interval=UPDATE_SECONDS)
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)

    # conversations ------------------------------------------------------------------------

    async def get_conversations(self, name: str) -> dict:
        stored = await self.redis.hgetall(f"{PREFIX}:conversations:{name}")
        return {tuple(json.loads(key)): json.loads(state) for key, state in stored.items()}

    async def update_conversation(self, name: str, key: tuple, new_state: object | None) -> None:
        field = json.dumps(list(key))
        if new_state is None:
            await self.redis.hdel(f"{PREFIX}:conversations:{name}", field)
        else:
            await self.redis.hset(f"{PREFIX}:conversations:{name}", field, json.dumps(new_state))

    # user_data ------------------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, dict]:
        stored = await self.redis.hgetall(f"{PREFIX}:user_data")
        return {int(user_id): json.loads(data) for user_id, data in stored.items()}

    async def update_user_data(self, user_id: int, data: dict) -> None:
        if data:
            await self.redis.hset(f"{PREFIX}:user_data", str(user_id), json.dumps(data))
        else:
            await self.redis.hdel(f"{PREFIX}:user_data", str(user_id))

    async def drop_user_data(self, user_id: int) -> None:
        await self.redis.hdel(f"{PREFIX}:user_data", str(user_id))

    # not stored --------------------------------------------------------------------------------

    async def get_chat_data(self) -> dict:
        return {}

    async def get_bot_data(self) -> dict:
        return {}

    async def get_callback_data(self):
        return None

    async def update_chat_data(self, chat_id: int, data: dict) -> None:
        pass

    async def update_bot_data(self, data: dict) -> None:
        pass

    async def update_callback_data(self, data) -> None:
        pass

    async def drop_chat_data(self, chat_id: int) -> None:
        pass

    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        pass  # this process's memory is the newest copy; Redis is read at start

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        pass

    async def refresh_bot_data(self, bot_data: dict) -> None:
        pass

    async def flush(self) -> None:
        await self.redis.aclose()
