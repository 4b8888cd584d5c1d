"""Guided conversations live in Redis, not in one process's memory: any number of `bot`
processes (a scaled webhook: Heroku routes each request to any web dyno; a deploy's overlap; a
restart) carry a user's /newbot or /addkey on from wherever the last answer was handled.

What is stored: each ConversationHandler's state per (chat, user) and each user's user_data
(the answers given so far), as JSON in Redis hashes. Every update of a private chat, in
whichever process it lands (`SharedConversationsApplication.process_update`):
1. takes its user's lock and reads their user_data and their state in each conversation, in
   one round trip, into the Application (python-telegram-bot's ConversationHandler then picks
   the step from that state);
2. runs the handlers;
3. hands what changed to this persistence through PTB's `Application.update_persistence()`
   (kept per user, no I/O), writes it and lets go of the lock, in one round trip.
The lock makes the user's next update, in any process, wait until this one's answers are
written: one update of a user at a time, across processes (not in the order they were sent:
waiting updates take the lock in whichever order their tries come). While the handlers run, a
small task renews the lock every LOCK_SECONDS / 3 (a slow step, such as an exchange call, keeps
it), so it ends by itself only LOCK_SECONDS after a process was killed in the middle of an
update. Should the lock be lost all the same (Redis restarted, the process stalled), the write
of step 3 is dropped, not laid over what a newer update wrote; an update whose read failed
writes nothing either.
Updates outside private chats touch neither: conversations live in private chats only. PTB's
own writes (every UPDATE_SECONDS, and once more on a graceful stop) still run and find nothing
left to write.

Secrets never go in user_data as they are (a half-entered API key is kept as a Fernet token).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from collections import defaultdict

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import Application, BasePersistence, ConversationHandler, PersistenceInput

log = logging.getLogger(__name__)

PREFIX = "botfleet:chat"
USER_DATA = f"{PREFIX}:user_data"
UPDATE_SECONDS = 0.5  # PTB's interval writes: each update writes its own changes already
LOCK_SECONDS = 10  # how long a killed process's lock lasts; renewed while an update runs
LOCK_POLL_SECONDS = (0.005, 0.2)  # first and longest wait between two tries for a held lock

Field = tuple[str, str]  # (Redis hash, field)

# Take the user's lock (KEYS[1]) and read one field (ARGV[i + 1]) of each hash (KEYS[i], i >= 2);
# nothing while another update holds the lock.
BEGIN = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local values = {}
for i = 2, #KEYS do values[i - 1] = redis.call('HGET', KEYS[i], ARGV[i + 1]) end
return values
"""
# Only while the user's lock (KEYS[1]) is still ours (ARGV[1]): write each staged field (field
# ARGV[2i - 2], value ARGV[2i - 1] of hash KEYS[i]; '' deletes), then let go of the lock.
# 0: the lock was lost (it ran out, another update holds it), nothing written.
COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 2, #KEYS do
  local field, value = ARGV[2 * i - 2], ARGV[2 * i - 1]
  if value == '' then redis.call('HDEL', KEYS[i], field) else redis.call('HSET', KEYS[i], field, value) end
end
redis.call('DEL', KEYS[1])
return 1
"""
# Give the user's lock (KEYS[1]) another ARGV[2] ms if it is still ours (ARGV[1]); 0 if not.
EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


def conversations_hash(name: str) -> str:
    return f"{PREFIX}:conversations:{name}"


def lock_key(user_id: int) -> str:
    return f"{PREFIX}:lock:{user_id}"


def key_field(key: tuple) -> str:
    return json.dumps(list(key))


class RedisPersistence(BasePersistence):
    def __init__(self, redis_url: str):
        super().__init__(store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=True,
                                                     callback_data=False), update_interval=UPDATE_SECONDS)
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self._begin = self.redis.register_script(BEGIN)
        self._commit = self.redis.register_script(COMMIT)
        self._extend = self.redis.register_script(EXTEND)
        self.lock_seconds = LOCK_SECONDS  # per instance: tests shorten it
        self._stored: dict[Field, str] = {}  # what this process last read or wrote; absent: nothing
        self._staged: dict[int, dict[Field, str]] = defaultdict(dict)  # per user: changes to write ('' deletes)
        self._locks: dict[int, tuple[str, asyncio.Task]] = {}  # user -> their update's lock token, its renewal

    # one update of a user ---------------------------------------------------------------------

    async def begin_update(self, user_id: int, conversations: dict[str, tuple]) -> tuple[dict, dict[str, object]]:
        """Take the user's lock (waiting while an update in another process holds it; renewed
        until end_update), then read their user_data and their state in each conversation
        (name -> key)."""
        fields = [(USER_DATA, str(user_id))] + [(conversations_hash(n), key_field(k)) for n, k in conversations.items()]
        token, values = await self._lock_and_read(user_id, fields)
        self._locks[user_id] = token, asyncio.create_task(self._keep_lock(user_id, token))
        self._staged.pop(user_id, None)  # older than what was just read
        for field, value in zip(fields, values):
            self._remember(field, value or "")
        user_data, *states = (json.loads(value) if value else None for value in values)
        return user_data or {}, dict(zip(conversations, states))

    async def end_update(self, user_id: int) -> None:
        """Write what the user's update changed and let go of their lock; nothing when
        begin_update failed (no lock: the write could cover a newer update's)."""
        staged = self._staged.pop(user_id, {})
        token, renewal = self._locks.pop(user_id, ("", None))
        if renewal is None:
            return
        renewal.cancel()  # not awaited: it only sleeps or extends a lock the write checks anyway
        await self._write(token, user_id, staged)

    async def _lock_and_read(self, user_id: int, fields: list[Field]) -> tuple[str, list]:
        token, wait = uuid.uuid4().hex, LOCK_POLL_SECONDS[0]
        while (values := await self._begin(keys=[lock_key(user_id), *(h for h, _ in fields)],
                                           args=[token, int(self.lock_seconds * 1000), *(f for _, f in fields)])) is None:
            await asyncio.sleep(wait)
            wait = min(wait * 2, LOCK_POLL_SECONDS[1])
        return token, values

    async def _keep_lock(self, user_id: int, token: str) -> None:
        """Renew the lock of the user's update in flight; no Redis command for an update shorter
        than lock_seconds / 3."""
        while True:
            await asyncio.sleep(self.lock_seconds / 3)
            try:
                if not await self._extend(keys=[lock_key(user_id)], args=[token, int(self.lock_seconds * 1000)]):
                    log.warning("a conversation step's lock was lost while it ran; its write will be dropped")
                    return
            except RedisError:
                log.warning("could not renew a conversation step's lock; trying again")

    async def _write(self, token: str, user_id: int, staged: dict[Field, str]) -> None:
        written = await self._commit(keys=[lock_key(user_id), *(h for h, _ in staged)],
                                     args=[token, *itertools.chain.from_iterable((f, v) for (_, f), v in staged.items())])
        if not written:
            log.warning("a conversation step's lock was lost before its write; the write is dropped")

    def _stage(self, user_id: int, field: Field, value: str) -> None:
        """Keep a change for the user's end_update, unless Redis holds it already ('' deletes)."""
        if self._stored.get(field, "") != value:
            self._remember(field, value)
            self._staged[user_id][field] = value

    def _remember(self, field: Field, value: str) -> None:
        if value:
            self._stored[field] = value
        else:
            self._stored.pop(field, None)

    # PTB's interface: reads come per update (begin_update), writes are staged --------------------

    async def get_conversations(self, name: str) -> dict:
        return {}

    async def update_conversation(self, name: str, key: tuple, new_state: object | None) -> None:
        user_id = key[-1]  # our conversations are per chat and user (SharedConversationsApplication checks)
        self._stage(user_id, (conversations_hash(name), key_field(key)), "" if new_state is None else json.dumps(new_state))

    async def get_user_data(self) -> dict[int, dict]:
        return {}

    async def update_user_data(self, user_id: int, data: dict) -> None:
        self._stage(user_id, (USER_DATA, str(user_id)), json.dumps(data, sort_keys=True) if data else "")

    async def drop_user_data(self, user_id: int) -> None:
        self._stage(user_id, (USER_DATA, str(user_id)), "")

    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        pass  # read by begin_update, with the conversations' states

    async def flush(self) -> None:
        """On stopping: whatever is still staged (no update of this process in flight by then),
        under the user's lock like any write."""
        for user_id in list(self._staged):
            staged = self._staged.pop(user_id)
            token, _ = await self._lock_and_read(user_id, [])
            await self._write(token, user_id, staged)
        await self.redis.aclose()

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

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        pass

    async def refresh_bot_data(self, bot_data: dict) -> None:
        pass


def private_user(update: object) -> int | None:
    """The user of an update in a private chat (where every conversation lives), else None."""
    if isinstance(update, Update) and update.effective_chat and update.effective_user:
        if update.effective_chat.type == "private":
            return update.effective_user.id
    return None


def persistent_conversations(application: Application) -> dict[str, ConversationHandler]:
    found = {}
    for handler in itertools.chain.from_iterable(application.handlers.values()):
        if isinstance(handler, ConversationHandler) and handler.persistent:
            if handler.per_message or not (handler.per_chat and handler.per_user):
                raise ValueError(f"conversation {handler.name} must be per chat and user to be shared")
            found[handler.name] = handler
    return found


def conversation_key(update: Update) -> tuple[int, int]:
    """The key a per-chat, per-user ConversationHandler files an update's conversation under."""
    return update.effective_chat.id, update.effective_user.id


def set_conversation_state(conversation: ConversationHandler, key: tuple, state: object | None) -> None:
    """Put a state read from Redis into the handler, as no change of its own (nothing to write
    back). PTB 22.8 has no public way to do this: the states live in the handler's private
    `_conversations`, a TrackingDict once the Application initialized its persistence
    (ConversationHandler._initialize_persistence fills it the same way, with update_no_track).
    The one place that reaches in; tests/telegram_bot/test_persistence.py breaks if PTB changes it."""
    states = conversation._conversations  # noqa: SLF001 (see above)
    if state is None or state == ConversationHandler.END:
        states.data.pop(key, None)
    else:
        states.update_no_track({key: state})


class SharedConversationsApplication(Application):
    """PTB's Application, reading a private chat's conversation state and user_data from Redis
    before each update's handlers and writing them back right after (see the module's text)."""

    async def process_update(self, update: object) -> None:
        user_id = private_user(update)
        if user_id is None or not isinstance(self.persistence, RedisPersistence):
            await super().process_update(update)
            return
        conversations = persistent_conversations(self)
        key = conversation_key(update)
        try:
            user_data, states = await self.persistence.begin_update(user_id, {name: key for name in conversations})
        except RedisError:
            log.warning("could not read the conversations from Redis; going on with this process's copy")
        else:
            mine = self.user_data[user_id]  # the Application's own dict (user_data is a read-only view)
            mine.clear()
            mine.update(user_data)
            for name, conversation in conversations.items():
                set_conversation_state(conversation, key, states[name])
        try:
            await super().process_update(update)
            await self.update_persistence()  # PTB hands the changes over; the persistence keeps them per user
        finally:
            try:
                await self.persistence.end_update(user_id)
            except RedisError:
                log.warning("could not write a conversation step to Redis; its lock ends by itself")
