"""The repo deploys as it is on a Heroku-style platform: app.json, the Procfile and the runtime agree."""
from __future__ import annotations

import json
import secrets

from settings import load
from tests.harness import PROJECT_DIR, procfile
from vault import Vault


def app() -> dict:
    return json.loads((PROJECT_DIR / "app.json").read_text())


def test_app_json_provisions_postgres_redis_and_every_process_of_the_procfile():
    manifest = app()
    assert {addon["plan"] for addon in manifest["addons"]} == {"heroku-postgresql", "heroku-redis"}
    assert set(manifest["formation"]) == set(procfile()) - {"release"}
    assert "release" in procfile()  # migrations run in the release phase
    assert manifest["env"]["TELEGRAM_TOKEN"]["required"] is True


def test_a_generated_fernet_secret_is_a_working_key():
    assert app()["env"]["FERNET_KEYS"]["generator"] == "secret"
    generated = secrets.token_hex(32)  # what the platform's "secret" generator makes

    config = load(environ={"FERNET_KEYS": generated})

    vault = Vault(config.fernet_keys)
    assert vault.decrypt(vault.encrypt("api secret")) == "api secret"
    assert load(environ={"FERNET_KEYS": generated}).fernet_keys == config.fernet_keys  # the same key every time


def test_the_runtime_is_pinned():
    assert (PROJECT_DIR / ".python-version").read_text().strip().startswith("3.")
