"""Prints the service's health for an operator (or a platform's health check): live workers,
queue depths, the last tick's age and lag, unsent messages. Exits 1 when something is wrong
(no worker, a tick lagging more than three periods, no tick), 2 when it cannot look.

    python status.py
"""
from __future__ import annotations

import json
import sys

import models
import settings as settings_module
from workers.context import redis_from_url
from workers.health import health


def main() -> int:
    try:
        config = settings_module.load()
        redis_client = redis_from_url(config.require_redis_url())
        models.connect(config.database_url)
        figures = health(redis_client, config.tick_seconds)
    except settings_module.SettingsError as error:
        print(f"status: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the database or Redis unreachable: that is the answer
        print(f"status: cannot look: {type(error).__name__}: {str(error).splitlines()[0][:200]}", file=sys.stderr)
        return 2
    print(json.dumps(figures, indent=2, sort_keys=True))
    return 1 if figures["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
