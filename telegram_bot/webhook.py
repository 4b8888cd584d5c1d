"""Webhook mode: one small tornado server on $PORT for Telegram's updates and `GET /healthz`.

PTB's own webhook server (Application.run_webhook) takes no other route, so this is PTB's
documented custom-webhook setup (the customwebhookbot examples): an Application without an
Updater, the updates put on its update_queue, and its life run here in run_webhook's order:
initialize, post_init, setWebhook, serve, start; on SIGINT/SIGTERM/SIGABRT stop serving,
stop (pending updates handled), post_stop (the notifier hands its outbox back), shutdown
(persistence flushed), post_shutdown.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import signal
from http import HTTPStatus

import tornado.web
from tornado.httpserver import HTTPServer
from telegram import Update
from telegram.ext import Application, ExtBot

from settings import Settings
from telegram_bot.healthz import HealthCheck

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)  # run_webhook's
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CONNECTIONS = 40  # setWebhook's, as run_webhook sends it


def webhook_path(token: str) -> str:
    """The webhook's path, also its secret token: derived from the bot token without revealing it."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class QuietHandler(tornado.web.RequestHandler):
    """Logs no request line: the webhook's URL holds its secret."""

    def log_exception(self, typ, value, tb) -> None:
        if not isinstance(value, tornado.web.HTTPError):
            log.error("webhook server: %s in %s", typ.__name__, type(self).__name__, exc_info=(typ, value, tb))


class TelegramUpdates(QuietHandler):
    """Telegram's POSTs, checked as PTB's webhook handler checks them."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, bot: ExtBot, update_queue: asyncio.Queue, secret_token: str) -> None:
        self.bot, self.update_queue, self.secret_token = bot, update_queue, secret_token

    async def post(self) -> None:
        if self.request.headers.get("Content-Type") != "application/json":
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        token = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(token.encode(), self.secret_token.encode()):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        try:
            update = Update.de_json(json.loads(self.request.body), self.bot)
        except Exception as error:  # never the body in the log: a user may have pasted a secret
            log.warning("webhook: a request that is no update was refused (%s)", type(error).__name__)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from None
        if update:
            self.bot.insert_callback_data(update)  # as PTB does, for arbitrary callback data
            await self.update_queue.put(update)


class Healthz(QuietHandler):
    SUPPORTED_METHODS = ("GET",)

    def initialize(self, check: HealthCheck) -> None:
        self.check = check

    async def get(self) -> None:
        healthy, figures = await self.check.answer()
        self.set_status(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(figures, sort_keys=True))


def web_app(application: Application, path: str, check: HealthCheck) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (rf"/{path}/?", TelegramUpdates,
             {"bot": application.bot, "update_queue": application.update_queue, "secret_token": path}),
            (r"/healthz", Healthz, {"check": check}),
        ],
        log_function=lambda handler: None,  # no access log (see QuietHandler)
    )


async def start_up(application: Application, server: HTTPServer, port: int, webhook_url: str, secret: str) -> None:
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    server.listen(port, address="0.0.0.0")
    await application.bot.set_webhook(url=webhook_url, allowed_updates=Update.ALL_TYPES, secret_token=secret,
                                      max_connections=MAX_CONNECTIONS)
    await application.start()


async def shut_down(application: Application, server: HTTPServer) -> None:
    server.stop()
    await server.close_all_connections()  # Telegram sends again an update whose request was cut
    if application.running:
        await application.stop()
        if application.post_stop:
            await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown:
        await application.post_shutdown(application)


async def serve(application: Application, port: int, public_url: str, check: HealthCheck, path: str) -> None:
    """Until a stop signal; one during start-up cuts it short, as run_webhook's does."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopping.set)
    server = HTTPServer(web_app(application, path, check))
    webhook_url = f"{public_url.rstrip('/')}/{path}"
    starting = asyncio.create_task(start_up(application, server, port, webhook_url, path))
    signalled = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start-up raises on, once shut down (finally)
            log.info("webhook serving on port %d", port)
            await signalled
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        log.info("stop signal: shutting down")
    finally:
        signalled.cancel()
        await shut_down(application, server)


def run_webhook(application: Application, config: Settings) -> None:
    check = HealthCheck(config.require_redis_url(), config.tick_seconds)
    path = webhook_path(config.require_telegram_token())
    asyncio.run(serve(application, config.port, config.webhook_url, check, path))
