"""A fake Telegram Bot API server, for running the real python-telegram-bot against it in tests.

FakeTelegram owns a real HTTP server on 127.0.0.1 that speaks the Bot API protocol
(https://core.telegram.org/bots/api): the bot under test is pointed at f"{fake.base_url}/bot"
(its TELEGRAM_API_URL) and calls /bot<TOKEN>/<method> exactly as it would call
api.telegram.org, long polling included.

It owns what Telegram would own: the private chats users have opened with the bot, every
message in them (the user's and the bot's, with edits and deletions), the update queue, the
callback queries, and a log of every API call. The test plays the user - send_user_message,
press_button - and inspects what the bot did - transcript, bot_messages, wait_for_bot_message,
calls - through Python methods, or through the same operations as JSON endpoints under
/control/<method name> for a client that is not Python. inject_fault and block_chat make the
API fail the way Telegram fails (429 with retry_after, 403 blocked, 5xx).

Groups and channels are modelled only as far as a member writing in one (send_user_message
with chat_type). Not modelled: webhook delivery (setWebhook is recorded and makes
getUpdates answer 409, as Telegram does), validation of the Markdown parse modes (accepted,
counted as written), media other than photos.
"""
from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
DEFAULT_FAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: BLOCKED,
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
# Without allowed_updates, Telegram sends every update type except these three.
OPT_IN_UPDATE_TYPES = {"chat_member", "message_reaction", "message_reaction_count"}

# PTB sends each parameter as a form field, JSON-encoded unless it already is a str, so the
# text "123" and the chat_id 123 arrive identically. Parameters the Bot API types as strings
# are therefore never JSON-decoded; every other value is decoded when it parses as JSON.
STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "action", "url",
    "secret_token", "language_code", "photo", "business_connection_id", "message_effect_id",
    "name", "description", "short_description",
    # the /control endpoints' own string parameters
    "data", "contains", "method", "first_name", "username",
})


class ApiError(Exception):
    """An error answer, in Telegram's shape: {"ok": false, "error_code", "description", ...}."""

    def __init__(self, status: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.status, self.description, self.parameters = status, description, parameters

    def body(self) -> dict:
        body = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class WaitTimeout(AssertionError):
    """wait_for_bot_message gave up; the message carries the chat's transcript."""


# --- Telegram's HTML parse mode -------------------------------------------------------------

# Tag -> entity type, for the tags Telegram supports; any other tag is an error.
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "a": "text_link", "tg-emoji": "custom_emoji",
}
_CHAR_REF = re.compile(r"&(?:#x([0-9a-fA-F]{1,7})|#([0-9]{1,7})|([a-zA-Z]+));?")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")


def _utf16_len(text: str) -> int:
    # Entity offsets and lengths are counted in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _char_ref(src: str, i: int) -> tuple[str, int] | None:
    """The character a reference like &lt; or &#128512; at i stands for, and where it ends.

    Like Telegram, only the four named references are known; anything else is literal text."""
    m = _CHAR_REF.match(src, i)
    if not m:
        return None
    if m[3] is not None:
        char = _NAMED_REFS.get(m[3])
        return (char, m.end()) if char else None
    code = int(m[1], 16) if m[1] else int(m[2])
    if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), m.end()


def parse_html(src: str) -> tuple[str, list[dict]]:
    """The text and MessageEntity dicts Telegram makes of src with parse_mode HTML.

    A port of tdlib's parse_html: raises ValueError worded as Telegram words it (after
    "can't parse entities: ") for what Telegram rejects - unsupported or unclosed tags,
    mismatched end tags, malformed attributes, a bare "<".
    """
    out: list[str] = []  # one decoded character per item, so out[k:] is the text since k
    entities: list[dict] = []
    stack: list[tuple[str, str, int, int]] = []  # (tag, argument, utf16 offset, len(out))
    u16, i, n = 0, 0, len(src)

    def at(pos: int) -> str:
        return f"at byte offset {len(src[:pos].encode())}"

    def skip_spaces(pos: int) -> int:
        while pos < n and src[pos].isspace():
            pos += 1
        return pos

    while i < n:
        if src[i] == "&" and (ref := _char_ref(src, i)):
            out.append(ref[0])
            u16 += _utf16_len(ref[0])
            i = ref[1]
            continue
        if src[i] != "<":
            out.append(src[i])
            u16 += _utf16_len(src[i])
            i += 1
            continue
        begin = i
        if src.startswith("</", i):
            if not stack:
                raise ValueError(f"Unexpected end tag {at(begin)}")
            i += 2
            while i < n and not src[i].isspace() and src[i] != ">":
                i += 1
            name = src[begin + 2:i].lower()
            i = skip_spaces(i)
            if i >= n or src[i] != ">":
                raise ValueError(f"Unclosed end tag {at(begin)}")
            i += 1
            tag, argument, offset, start = stack.pop()
            if name and name != tag:
                raise ValueError(
                    f'Unmatched end tag {at(begin)}, expected "</{tag}>", found "</{name}>"'
                )
            if u16 > offset:
                _add_entity(entities, tag, argument, offset, u16 - offset, "".join(out[start:]))
            continue
        # A start tag: its name, then attributes up to ">".
        i += 1
        while i < n and not src[i].isspace() and src[i] != ">":
            i += 1
        if i >= n:
            raise ValueError(f"Unclosed start tag {at(begin)}")
        tag = src[begin + 1:i].lower()
        if tag not in _HTML_TAGS:
            raise ValueError(f'Unsupported start tag "{tag}" {at(begin)}')
        attributes = {}
        while True:
            i = skip_spaces(i)
            if i >= n:
                raise ValueError(f"Unclosed start tag {at(begin)}")
            if src[i] == ">":
                i += 1
                break
            name_start = i
            while i < n and not src[i].isspace() and src[i] not in "=>":
                i += 1
            name = src[name_start:i]
            if not name:
                raise ValueError(f'Empty attribute name in the tag "{tag}" {at(begin)}')
            i = skip_spaces(i)
            if tag == "blockquote" and name == "expandable" and (i >= n or src[i] != "="):
                attributes[name] = ""  # the one attribute Telegram allows without a value
                continue
            if i >= n or src[i] != "=":
                raise ValueError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"{at(begin)}"
                )
            i = skip_spaces(i + 1)
            if i >= n:
                raise ValueError(f'Unclosed start tag "{tag}" {at(begin)}')
            if src[i] in "'\"":
                quote, value = src[i], []
                i += 1
                while i < n and src[i] != quote:
                    if src[i] == "&" and (ref := _char_ref(src, i)):
                        value.append(ref[0])
                        i = ref[1]
                    else:
                        value.append(src[i])
                        i += 1
                i += 1
                attributes[name] = "".join(value)
            else:
                token = _NAME_TOKEN.match(src, i)
                i = token.end()
                if i < n and not src[i].isspace() and src[i] != ">":
                    raise ValueError(f"Unexpected end of name token {at(token.start())}")
                attributes[name] = token[0].lower()
        argument = ""
        if tag == "a":
            argument = attributes.get("href", "")
        elif tag == "code" and attributes.get("class", "").startswith("language-"):
            argument = attributes["class"][len("language-"):]
        elif tag == "tg-emoji":
            argument = attributes.get("emoji-id", "")
        elif tag == "blockquote" and "expandable" in attributes:
            argument = "expandable"
        elif tag == "span" and attributes.get("class") != "tg-spoiler":
            raise ValueError(f'Tag "span" must have class "tg-spoiler" {at(begin)}')
        stack.append((tag, argument, u16, len(out)))
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _add_entity(entities: list, tag: str, argument: str, offset: int, length: int, inner: str):
    entity = {"type": _HTML_TAGS[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = argument or inner
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise ValueError("Invalid custom emoji identifier specified")
        entity["custom_emoji_id"] = argument
    elif tag == "blockquote" and argument:
        entity["type"] = "expandable_blockquote"
    elif tag == "code" and argument:
        entity["language"] = argument  # dropped at the end unless a <pre> around it claims it
    elif tag == "pre" and entities and entities[-1]["type"] == "code" and \
            (entities[-1]["offset"], entities[-1]["length"]) == (offset, length):
        # <pre><code class="language-x">...</code></pre> is one pre entity with a language.
        language = entities.pop().get("language")
        if language:
            entity["language"] = language
    entities.append(entity)


# --- Decoding requests ----------------------------------------------------------------------

def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        while handler.rfile.readline().strip():  # trailers
            pass
        return b"".join(chunks)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _parse_multipart(body: bytes, content_type: str) -> dict:
    """Fields of a multipart/form-data body: str values, and dicts for uploaded files."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if not boundary:
        raise ApiError(400, "Bad Request: multipart boundary is missing")
    fields = {}
    for part in body.split(b"--" + boundary[1].encode())[1:]:
        if part.startswith(b"--"):  # the closing delimiter
            break
        head, _, content = part.partition(b"\r\n\r\n")
        content = content[:-2] if content.endswith(b"\r\n") else content
        head = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]*)"', head)
        filename = re.search(r'\bfilename="([^"]*)"', head)
        if not name:
            continue
        if filename:
            ctype = re.search(r"(?im)^content-type:\s*(\S+)", head)
            fields[name[1]] = {
                "filename": filename[1],
                "content_type": ctype[1] if ctype else "application/octet-stream",
                "content": content,
            }
        else:
            fields[name[1]] = content.decode("utf-8")
    return fields


def _read_params(handler: BaseHTTPRequestHandler, query: str) -> dict:
    """Parameters from the query string and a urlencoded, multipart or JSON body, decoded."""
    raw: dict = dict(parse_qsl(query, keep_blank_values=True))
    body = _read_body(handler)
    content_type = handler.headers.get("Content-Type", "")
    mime = content_type.split(";")[0].strip().lower()
    if body and mime == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON object") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Bad Request: JSON object expected")
        raw.update(data)
    elif body and mime == "multipart/form-data":
        raw.update(_parse_multipart(body, content_type))
    elif body:
        raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    params = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in STRING_PARAMS:
            try:
                value = json.loads(value)
            except ValueError:
                pass  # a plain string, e.g. chat_id="@channel"
        params[key] = value
    for key, value in params.items():  # "attach://name" refers to the uploaded part "name"
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in params:
            params[key] = params[value[9:]]
    return params


def _loggable(params: dict) -> dict:
    """params with uploaded files summarised, so the call log stays small and JSON-able."""
    return {
        key: {"filename": v["filename"], "content_type": v["content_type"],
              "size": len(v["content"])} if isinstance(v, dict) and "content" in v else v
        for key, v in params.items()
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self):
        self._handle()

    do_POST = do_GET

    def log_message(self, format, *args):  # noqa: A002 - quiet; http.server prints to stderr
        log.debug("%s " + format, self.client_address[0], *args)

    def _handle(self):
        path, _, query = self.path.partition("?")
        try:
            status, body = self.server.fake._route(unquote(path), _read_params(self, query))
        except ApiError as exc:
            status, body = exc.status, exc.body()
        except Exception:  # a bug in the fake: say so loudly rather than drop the connection
            log.exception("fake Telegram failed on %s", path)
            status, body = 500, ApiError(500, "Internal Server Error: bug in the fake").body()
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting, e.g. a long poll cancelled on shutdown


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # PTB opens many connections at once; don't drop SYNs

    allow_reuse_address = True  # come_back() listens on the same port again at once

    def __init__(self, fake: FakeTelegram, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.fake = fake

    def handle_error(self, request, client_address):
        log.debug("error serving %s", client_address, exc_info=True)


# --- The fake ------------------------------------------------------------------------------

class FakeTelegram:
    """The Bot API of one bot, with its private chats. Use as a context manager or start()/stop()."""

    def __init__(self, token: str = "123456:TEST-TOKEN", bot_username: str = "botfleet_test_bot"):
        self.token = token
        self.bot_user = {"id": int(token.split(":", 1)[0]), "is_bot": True,
                         "first_name": "Botfleet Test", "username": bot_username}
        self.base_url = ""
        # One lock guards all state; long polls and wait_for_bot_message wait on it.
        self._cond = threading.Condition()
        self._users: dict[int, dict] = {}     # chat id -> User, for users who wrote to the bot
        self._chats: dict[int, dict] = {}     # chat id -> Chat
        self._messages: dict[int, list[dict]] = {}  # chat id -> transcript entries, in order
        self._next_message_id: dict[int, int] = {}
        self._updates: list[dict] = []        # not yet confirmed by getUpdates' offset
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0             # a newer getUpdates ends an older one with 409
        self._queries: dict[str, dict] = {}   # callback query id -> {"chat_id", "answer"}
        self._faults: list[dict] = []
        self._blocked: set[int] = set()
        self._calls: list[dict] = []
        self._commands: dict[tuple, list] = {}
        self._webhook_url = ""
        self._stopping = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._api = {name.lower(): fn for name, fn in {
            "getMe": self._get_me, "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook, "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info, "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands, "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message, "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message, "answerCallbackQuery": self._answer_callback,
            "sendPhoto": self._send_photo, "sendChatAction": self._send_chat_action,
            "close": lambda p: True, "logOut": lambda p: True,
        }.items()}

    # Lifecycle

    def start(self) -> FakeTelegram:
        self._server = _Server(self)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval so stop() doesn't wait half a second for serve_forever.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        with self._cond:
            self._stopping = True  # held long polls answer at once
            self._cond.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def go_offline(self):
        """Telegram unreachable: the port refuses connections (and held long polls end) until
        come_back(); chats, messages and queued updates are kept."""
        port = self._server.server_address[1]
        self.stop()
        self._offline_port = port

    def come_back(self):
        with self._cond:
            self._stopping = False
        self._server = _Server(self, self._offline_port)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-telegram", daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # The user's side

    def send_user_message(self, chat_id: int, text: str, first_name: str = "User",
                          username: str | None = None, language_code: str = "en",
                          chat_type: str = "private", from_id: int | None = None,
                          caption_photo: bool = False) -> dict:
        """The user writes text to the bot; returns the Message.

        By default in their private chat (chat_id is the user's id). With chat_type "group",
        "supergroup" or "channel", chat_id is that chat (negative) and from_id the member
        writing. With caption_photo the text is the caption of a photo."""
        with self._cond:
            user_id = chat_id if from_id is None else from_id
            user = {"id": user_id, "is_bot": False, "first_name": first_name,
                    "language_code": language_code}
            if chat_type == "private":
                chat = {"id": chat_id, "type": "private", "first_name": first_name}
            else:
                chat = {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}
            if username:
                user["username"] = username
                if chat_type == "private":
                    chat["username"] = username
            self._users[chat_id], self._chats[chat_id] = user, chat
            self._blocked.discard(chat_id)  # writing to a blocked bot unblocks it, as in Telegram
            entities = []
            command = re.match(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])", text)
            if command and not caption_photo:
                entities.append({"type": "bot_command", "offset": 0,
                                 "length": _utf16_len(command[0])})
            photo = None
            if caption_photo:
                unique = f"{chat_id}-{self._next_message_id.get(chat_id, 1)}"
                photo = {"file_id": f"photo-{unique}", "file_unique_id": f"u{unique}",
                         "width": 800, "height": 600, "file_size": 1}
            entry = self._add_entry(chat_id, from_bot=False, text=text, entities=entities,
                                    photo=photo)
            message = self._message_json(chat_id, entry)
            self._push_update("message", message)
            return copy.deepcopy(message)

    def open_chat(self, chat_id: int, first_name: str = "User", language_code: str = "en") -> None:
        """A user who wrote to the bot some time ago: the bot may send to them; no update now."""
        with self._cond:
            self._users[chat_id] = {"id": chat_id, "is_bot": False, "first_name": first_name,
                                    "language_code": language_code}
            self._chats[chat_id] = {"id": chat_id, "type": "private", "first_name": first_name}

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> dict:
        """The user edits one of their messages: the bot gets an edited_message update."""
        with self._cond:
            entry = self._find(chat_id, message_id)
            if entry is None or entry["from_bot"]:
                raise AssertionError(f"no user message {message_id} in chat {chat_id}")
            entities = []
            command = re.match(r"/[A-Za-z0-9_]{1,64}(?![\w/<>])", text)
            if command:
                entities.append({"type": "bot_command", "offset": 0,
                                 "length": _utf16_len(command[0])})
            entry.update(text=text, source=text, entities=entities, edited=True,
                         edit_date=int(time.time()))
            message = self._message_json(chat_id, entry)
            self._push_update("edited_message", message)
            return copy.deepcopy(message)

    def press_button(self, chat_id: int, message_id: int, data: str, forged: bool = False) -> dict:
        """The user presses the inline button with callback_data data; returns the CallbackQuery.

        forged=True sends data the message has no button for, as a modified client can (data
        copied from someone else's buttons, or made up)."""
        with self._cond:
            entry = self._find(chat_id, message_id)
            if entry is None or entry["deleted"] or not entry["from_bot"]:
                raise AssertionError(f"no bot message {message_id} in chat {chat_id}")
            markup = entry["reply_markup"] or {}
            buttons = [b.get("callback_data") for row in markup.get("inline_keyboard", [])
                       for b in row]
            if data not in buttons and not forged:
                raise AssertionError(
                    f"message {message_id} has no button with callback_data {data!r}: {buttons}")
            query_id = str(4_000_000_000 + len(self._queries))
            query = {"id": query_id, "from": self._users[chat_id],
                     "message": self._message_json(chat_id, entry),
                     "chat_instance": str(chat_id * 7919), "data": data}
            self._queries[query_id] = {"chat_id": chat_id, "answer": None}
            self._push_update("callback_query", query)
            return copy.deepcopy(query)

    def forge_callback(self, chat_id: int, message_id: int, data: str) -> dict:
        """A tampered client sends callback data `data` for a bot message, whatever its buttons say."""
        with self._cond:
            entry = self._find(chat_id, message_id)
            if entry is None or not entry["from_bot"]:
                raise AssertionError(f"no bot message {message_id} in chat {chat_id}")
            query_id = str(4_000_000_000 + len(self._queries))
            query = {"id": query_id, "from": self._users[chat_id], "message": self._message_json(chat_id, entry),
                     "chat_instance": str(chat_id * 7919), "data": data}
            self._queries[query_id] = {"chat_id": chat_id, "answer": None}
            self._push_update("callback_query", query)
            return copy.deepcopy(query)

    # What the bot did

    def callback_answers(self, chat_id: int) -> list[dict]:
        """Per button press in the chat, in order: {"id", "answer" ({"text", "show_alert"} or
        None while unanswered), "attempts" (answerCallbackQuery calls, accepted or refused)}."""
        with self._cond:
            return [{"id": query_id, "answer": copy.deepcopy(q["answer"]), "attempts": q.get("attempts", 0)}
                    for query_id, q in self._queries.items() if q["chat_id"] == chat_id]

    def transcript(self, chat_id: int) -> list[dict]:
        """Every message of the chat in order, the user's and the bot's.

        Each is {"message_id", "from_bot", "text" (as displayed: tags parsed away; a photo's
        caption), "source" (as sent), "parse_mode", "entities", "reply_markup", "deleted",
        "edited", "date", "photo", ...}; edits update the entry in place."""
        with self._cond:
            return copy.deepcopy(self._messages.get(chat_id, []))

    def _bot_entries(self, chat_id: int) -> list[dict]:
        """The bot's messages in the chat, not deleted, as stored (hold the lock; copy what leaves)."""
        return [m for m in self._messages.get(chat_id, []) if m["from_bot"] and not m["deleted"]]

    def bot_messages(self, chat_id: int, after: int = 0) -> list[dict]:
        """The bot's messages in the chat, not deleted; from index `after` on (only those are
        copied, so a long-running chat costs only what is read)."""
        with self._cond:
            return copy.deepcopy(self._bot_entries(chat_id)[after:])

    def bot_message_count(self, chat_id: int) -> int:
        with self._cond:
            return len(self._bot_entries(chat_id))

    def wait_for_bot_message(self, chat_id: int, predicate=None, timeout: float = 10.0,
                             after: int = 0) -> dict:
        """The first of bot_messages(chat_id)[after:] that matches, waiting up to timeout.

        predicate: None (any message), a substring of the displayed text, or a callable taking
        the transcript entry. Edits count: a message edited into matching is found."""
        if predicate is None:
            matches = lambda m: True  # noqa: E731
        elif isinstance(predicate, str):
            matches = lambda m: predicate in m["text"]  # noqa: E731
        else:
            matches = predicate
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self._bot_entries(chat_id)[after:]:
                    if matches(message):
                        return copy.deepcopy(message)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(
                        f"no bot message matching {predicate!r} in chat {chat_id} (after index "
                        f"{after}) within {timeout}s; transcript:\n"
                        + _format_transcript(self._messages.get(chat_id, [])))
                self._cond.wait(remaining)

    def calls(self, method: str | None = None) -> list[dict]:
        """Every API call in order of arrival: {"method", "params", "time", "status"}; status is
        None while the call is still being answered (a held long poll)."""
        with self._cond:
            return copy.deepcopy([c for c in self._calls
                                  if method is None or c["method"].lower() == method.lower()])

    # Making the API fail

    def inject_fault(self, method: str, status: int, count: int = 1,
                     retry_after: int | None = None, description: str | None = None):
        """The next count calls of method fail with status, in Telegram's words."""
        if status == 429 and retry_after is None:
            retry_after = 1  # Telegram always says how long to wait
        if description is None:
            default = DEFAULT_FAULT_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
            description = default.format(retry_after=retry_after)
        with self._cond:
            self._faults.append({"method": method.lower(), "status": status, "remaining": count,
                                 "retry_after": retry_after, "description": description})

    def block_chat(self, chat_id: int):
        """The user blocks the bot: sending to the chat answers 403 until they write again."""
        with self._cond:
            self._blocked.add(chat_id)

    # Routing (called from the server's threads)

    def _route(self, path: str, params: dict) -> tuple[int, dict]:
        if path.startswith("/control/"):
            return self._control(path[len("/control/"):], params)
        m = re.fullmatch(r"/bot([^/]+)/([A-Za-z]*)", path)
        if not m:
            raise ApiError(404, "Not Found")
        token, method = m.groups()
        call = {"method": method, "params": _loggable(params), "time": time.time(),
                "status": None}
        with self._cond:
            self._calls.append(call)
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            implementation = self._api.get(method.lower())
            if implementation is None:
                raise ApiError(404, "Not Found")
            with self._cond:
                self._take_fault(method)
                status, body = 200, {"ok": True, "result": implementation(params)}
        except ApiError as exc:
            status, body = exc.status, exc.body()
        with self._cond:
            call["status"] = status
        return status, body

    def _control(self, operation: str, p: dict) -> tuple[int, dict]:
        chat = lambda: int(p["chat_id"])  # noqa: E731
        operations = {
            "send_user_message": lambda: self.send_user_message(
                chat(), p["text"], p.get("first_name", "User"), p.get("username"),
                p.get("language_code") or "en"),
            "press_button": lambda: self.press_button(chat(), int(p["message_id"]), p["data"],
                                                      bool(p.get("forged"))),
            "transcript": lambda: self.transcript(chat()),
            "bot_messages": lambda: self.bot_messages(chat()),
            "wait_for_bot_message": lambda: self.wait_for_bot_message(
                chat(), p.get("contains"), float(p.get("timeout", 10)), int(p.get("after", 0))),
            "calls": lambda: self.calls(p.get("method")),
            "inject_fault": lambda: self.inject_fault(
                p["method"], int(p["status"]), int(p.get("count", 1)), p.get("retry_after"),
                p.get("description")),
            "block_chat": lambda: self.block_chat(chat()),
        }
        if operation not in operations:
            raise ApiError(404, "Not Found")
        try:
            result = operations[operation]()
        except KeyError as exc:
            raise ApiError(400, f"Bad Request: parameter {exc} is required") from None
        except WaitTimeout as exc:
            raise ApiError(408, str(exc)) from None
        except (AssertionError, ValueError, TypeError) as exc:
            raise ApiError(400, f"Bad Request: {exc}") from None
        return 200, {"ok": True, "result": True if result is None else result}

    # State helpers (called with the lock held)

    def _take_fault(self, method: str):
        for fault in self._faults:
            if fault["method"] == method.lower() and fault["remaining"] > 0:
                fault["remaining"] -= 1
                retry_after = fault["retry_after"]
                raise ApiError(fault["status"], fault["description"],
                               None if retry_after is None else {"retry_after": retry_after})

    def _push_update(self, kind: str, obj: dict):
        self._updates.append({"update_id": self._next_update_id, kind: copy.deepcopy(obj)})
        self._next_update_id += 1
        self._cond.notify_all()

    def _add_entry(self, chat_id: int, *, from_bot: bool, text: str, entities: list,
                   source: str | None = None, parse_mode: str | None = None,
                   reply_markup: dict | None = None, photo: dict | None = None) -> dict:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        entry = {"message_id": message_id, "from_bot": from_bot, "text": text,
                 "source": text if source is None else source, "parse_mode": parse_mode,
                 "entities": entities, "reply_markup": reply_markup, "deleted": False,
                 "edited": False, "edit_date": None, "date": int(time.time()),
                 "photo": photo is not None, "photo_file": photo}
        self._messages.setdefault(chat_id, []).append(entry)
        self._cond.notify_all()
        return entry

    def _find(self, chat_id: int, message_id: int) -> dict | None:
        return next((m for m in self._messages.get(chat_id, [])
                     if m["message_id"] == message_id), None)

    def _message_json(self, chat_id: int, entry: dict) -> dict:
        """The entry as a Bot API Message object."""
        message = {"message_id": entry["message_id"], "date": entry["date"],
                   "chat": self._chats[chat_id],
                   "from": self.bot_user if entry["from_bot"] else self._users[chat_id]}
        if entry["photo"]:
            message["photo"] = [entry["photo_file"]]
            if entry["text"]:
                message["caption"] = entry["text"]
            if entry["entities"]:
                message["caption_entities"] = entry["entities"]
        else:
            message["text"] = entry["text"]
            if entry["entities"]:
                message["entities"] = entry["entities"]
        if entry["edited"]:
            message["edit_date"] = entry["edit_date"]
        markup = entry["reply_markup"]
        if markup and "inline_keyboard" in markup:  # Telegram echoes only inline keyboards
            message["reply_markup"] = markup
        return copy.deepcopy(message)

    def _chat_id(self, p: dict, sending: bool = False) -> int:
        if p.get("chat_id") in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(p["chat_id"])
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id not in self._chats:  # a bot can't start a conversation
            raise ApiError(400, "Bad Request: chat not found")
        if sending and chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat_id

    def _bot_entry(self, p: dict, action: str) -> tuple[int, dict]:
        chat_id = self._chat_id(p)
        if "inline_message_id" in p:
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        try:
            entry = self._find(chat_id, int(p.get("message_id")))
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        if entry is None or entry["deleted"]:
            raise ApiError(400, f"Bad Request: message to {action} not found")
        if action == "edit" and not entry["from_bot"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat_id, entry

    @staticmethod
    def _render(text, parse_mode, limit: int, caption: bool = False) -> tuple[str, list]:
        """Displayed text and entities of text sent with parse_mode, validated like Telegram."""
        text = "" if text is None else str(text)
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                text, entities = parse_html(text)
            except ValueError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        elif mode in ("", "markdown", "markdownv2"):
            entities = []
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        if not caption and not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > limit:
            raise ApiError(400, "Bad Request: message caption is too long" if caption
                           else "Bad Request: message is too long")
        return text, entities

    @staticmethod
    def _reply_markup(p: dict) -> dict | None:
        markup = p.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    # Bot API methods (called with the lock held; p holds the decoded parameters)

    def _get_me(self, p):
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    def _get_updates(self, p):
        if self._webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset, limit = int(p.get("offset") or 0), min(max(int(p.get("limit") or 100), 1), 100)
        if isinstance(p.get("allowed_updates"), list):  # remembered until changed, like Telegram
            self._allowed_updates = p["allowed_updates"] or None
        if offset > 0:  # confirms every update before offset
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:  # only the last -offset updates; the rest are forgotten
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()
        deadline = time.monotonic() + max(float(p.get("timeout") or 0), 0)
        while True:
            ready = [u for u in self._updates if self._wanted(u)][:limit]
            if ready or self._stopping:
                return copy.deepcopy(ready)
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                    "sure that only one bot instance is running")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(remaining)

    def _wanted(self, update: dict) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates is None:
            return kind not in OPT_IN_UPDATE_TYPES
        return kind in self._allowed_updates

    def _delete_webhook(self, p):
        self._webhook_url = ""
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, p):
        self._webhook_url = str(p.get("url") or "")
        return True

    def _get_webhook_info(self, p):
        return {"url": self._webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    @staticmethod
    def _commands_key(p) -> tuple:
        return json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True), \
            p.get("language_code") or ""

    def _set_my_commands(self, p):
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: commands must be an array")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: command description is empty or too long")
        self._commands[self._commands_key(p)] = commands
        return True

    def _get_my_commands(self, p):
        return copy.deepcopy(self._commands.get(self._commands_key(p), []))

    def _delete_my_commands(self, p):
        self._commands.pop(self._commands_key(p), None)
        return True

    def _send_message(self, p):
        chat_id = self._chat_id(p, sending=True)
        if not p.get("text"):
            raise ApiError(400, "Bad Request: message text is empty")
        text, entities = self._render(p["text"], p.get("parse_mode"), MAX_TEXT_LENGTH)
        entry = self._add_entry(chat_id, from_bot=True, text=text, entities=entities,
                                source=p["text"], parse_mode=p.get("parse_mode"),
                                reply_markup=self._reply_markup(p))
        return self._message_json(chat_id, entry)

    def _send_photo(self, p):
        chat_id = self._chat_id(p, sending=True)
        photo = p.get("photo")
        if isinstance(photo, dict) and not photo.get("content"):
            raise ApiError(400, "Bad Request: file must be non-empty")
        if not isinstance(photo, dict | str) or not photo:
            raise ApiError(400, "Bad Request: there is no photo in the request")
        caption, entities = self._render(p.get("caption"), p.get("parse_mode"),
                                         MAX_CAPTION_LENGTH, caption=True)
        unique = f"{chat_id}-{self._next_message_id.get(chat_id, 1)}"
        size = len(photo["content"]) if isinstance(photo, dict) else 0
        photo_file = {"file_id": f"photo-{unique}", "file_unique_id": f"u{unique}",
                      "width": 800, "height": 600, "file_size": size}
        entry = self._add_entry(chat_id, from_bot=True, text=caption, entities=entities,
                                source=p.get("caption") or "", parse_mode=p.get("parse_mode"),
                                reply_markup=self._reply_markup(p), photo=photo_file)
        return self._message_json(chat_id, entry)

    def _edit(self, entry: dict, chat_id: int, text, source, entities, parse_mode, markup):
        if (text, entities, markup) == (entry["text"], entry["entities"], entry["reply_markup"]):
            raise ApiError(400, NOT_MODIFIED)
        entry.update(text=text, source=source, entities=entities, parse_mode=parse_mode,
                     reply_markup=markup, edited=True, edit_date=int(time.time()))
        self._cond.notify_all()
        return self._message_json(chat_id, entry)

    def _edit_message_text(self, p):
        chat_id, entry = self._bot_entry(p, "edit")
        if entry["photo"]:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        if not p.get("text"):
            raise ApiError(400, "Bad Request: message text is empty")
        text, entities = self._render(p["text"], p.get("parse_mode"), MAX_TEXT_LENGTH)
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        return self._edit(entry, chat_id, text, p["text"], entities, p.get("parse_mode"),
                          self._reply_markup(p))

    def _edit_message_caption(self, p):
        chat_id, entry = self._bot_entry(p, "edit")
        if not entry["photo"]:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = self._render(p.get("caption"), p.get("parse_mode"),
                                         MAX_CAPTION_LENGTH, caption=True)
        return self._edit(entry, chat_id, caption, p.get("caption") or "", entities,
                          p.get("parse_mode"), self._reply_markup(p))

    def _edit_message_reply_markup(self, p):
        chat_id, entry = self._bot_entry(p, "edit")
        return self._edit(entry, chat_id, entry["text"], entry["source"], entry["entities"],
                          entry["parse_mode"], self._reply_markup(p))

    def _delete_message(self, p):
        _, entry = self._bot_entry(p, "delete")
        entry["deleted"] = True
        self._cond.notify_all()
        return True

    def _answer_callback(self, p):
        query = self._queries.get(str(p.get("callback_query_id")))
        if query is not None:
            query["attempts"] = query.get("attempts", 0) + 1
        if query is None or query["answer"] is not None:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        query["answer"] = {"text": p.get("text"), "show_alert": bool(p.get("show_alert"))}
        return True

    def _send_chat_action(self, p):
        self._chat_id(p, sending=True)
        if not p.get("action"):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True


def _format_transcript(entries: list[dict]) -> str:
    lines = []
    for m in entries:
        flags = "".join(f" [{f}]" for f in ("deleted", "edited", "photo") if m[f])
        lines.append(f"  #{m['message_id']} {'bot' if m['from_bot'] else 'user'}: "
                     f"{m['text']!r}{flags}")
    return "\n".join(lines) or "  (empty)"
