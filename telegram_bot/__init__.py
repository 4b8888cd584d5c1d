"""The Telegram front end: thin command handlers, formatting, keyboards and the outbox notifier."""
