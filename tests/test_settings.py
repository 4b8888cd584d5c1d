"""settings.load(environ=...): defaults, and every malformed variable named in a SettingsError."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from settings import SettingsError, load


def key() -> str:
    return Fernet.generate_key().decode()


def test_defaults_with_an_empty_environment():
    config = load(environ={})
    assert config.telegram_token is None
    assert config.telegram_api_url == "https://api.telegram.org/bot"
    assert config.database_url == "sqlite:///data/botfleet.db"
    assert config.redis_url is None
    assert config.fernet_keys == ()
    assert config.tick_seconds == 5.0
    assert config.exchange_overrides == {}
    assert config.admin_chat_ids == frozenset()
    assert config.registration == "open"
    assert config.webhook_url is None
    assert config.port == 8443


def test_blank_values_count_as_unset():
    assert load(environ={"TICK_SECONDS": "  ", "TELEGRAM_TOKEN": " "}).tick_seconds == 5.0


def test_well_formed_values_are_parsed():
    config = load(environ={
        "TELEGRAM_TOKEN": "123:abc", "TICK_SECONDS": "0.5", "ADMIN_CHAT_IDS": "1, -1002",
        "REGISTRATION": "Invite", "REDIS_URL": "rediss://h:1/0", "PORT": "8080",
        "EXCHANGE_OVERRIDES": '{"binance": {"urls": {"api": {}}}}',
    })
    assert config.telegram_token == "123:abc"
    assert config.tick_seconds == 0.5
    assert config.admin_chat_ids == frozenset({1, -1002})
    assert config.registration == "invite"
    assert config.redis_url == "rediss://h:1/0?ssl_cert_reqs=none"
    assert config.port == 8080
    assert config.exchange_overrides == {"binance": {"urls": {"api": {}}}}


def test_a_tls_redis_url_connects_as_herokus_self_signed_store_needs_unless_it_says_otherwise():
    import ssl

    from redis import ConnectionPool

    heroku = load(environ={"REDIS_URL": "rediss://:p4ss@ec2-1-2-3-4.compute-1.amazonaws.com:26380"}).redis_url
    pool = ConnectionPool.from_url(heroku)
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none" and pool.connection_kwargs["password"] == "p4ss"
    assert pool.make_connection().cert_reqs == ssl.CERT_NONE
    verified = "rediss://h:1/0?ssl_cert_reqs=required"
    assert load(environ={"REDIS_URL": verified}).redis_url == verified
    assert load(environ={"REDIS_URL": "redis://h:1/0"}).redis_url == "redis://h:1/0"  # no TLS, nothing added


def test_comma_separated_fernet_keys_parse_in_order():
    first, second = key(), key()
    assert load(environ={"FERNET_KEYS": f" {first} ,{second},"}).fernet_keys == (first, second)


def test_heroku_postgres_url_is_accepted():
    url = "postgres://user:pw@ec2.example.com:5432/dbname"
    assert load(environ={"DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("name, value", [
    ("FERNET_KEYS", "not-a-fernet-key"),
    ("TICK_SECONDS", "fast"),
    ("TICK_SECONDS", "0.05"),
    ("TICK_SECONDS", "3601"),
    ("TICK_SECONDS", "nan"),
    ("EXCHANGE_OVERRIDES", "{not json"),
    ("EXCHANGE_OVERRIDES", "[]"),
    ("EXCHANGE_OVERRIDES", '{"binance": 1}'),
    ("ADMIN_CHAT_IDS", "12,abc"),
    ("REGISTRATION", "sometimes"),
    ("REDIS_URL", "http://localhost:6379"),
    ("DATABASE_URL", "mysql://localhost/db"),
    ("PORT", "http"),
    ("PORT", "0"),
    ("PORT", "65536"),
    ("PORT", "-1"),
])
def test_malformed_variable_raises_settings_error_naming_it(name, value):
    with pytest.raises(SettingsError, match=name):
        load(environ={name: value})


def test_malformed_fernet_key_is_never_echoed():
    secret = "s3cr3t-but-malformed-key-value"
    with pytest.raises(SettingsError) as raised:
        load(environ={"FERNET_KEYS": f"{key()},{secret}"})
    assert "key number 2" in str(raised.value)
    assert secret not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_port_with_a_non_ascii_digit_raises_settings_error():
    with pytest.raises(SettingsError, match="PORT"):
        load(environ={"PORT": "²"})


def test_require_telegram_token_explains_botfather():
    with pytest.raises(SettingsError, match="@BotFather"):
        load(environ={}).require_telegram_token()


def test_require_telegram_token_returns_the_token():
    assert load(environ={"TELEGRAM_TOKEN": "123:abc"}).require_telegram_token() == "123:abc"


def test_require_fernet_keys_and_redis_url_name_the_variable_when_unset():
    config = load(environ={})
    with pytest.raises(SettingsError, match="FERNET_KEYS"):
        config.require_fernet_keys()
    with pytest.raises(SettingsError, match="REDIS_URL"):
        config.require_redis_url()


def test_secrets_are_the_token_and_the_fernet_keys():
    first = key()
    assert load(environ={"TELEGRAM_TOKEN": "123:abc", "FERNET_KEYS": first}).secrets == ("123:abc", first)


def test_load_with_environ_ignores_the_process_environment(monkeypatch):
    monkeypatch.setenv("TICK_SECONDS", "not a number")
    assert load(environ={}).tick_seconds == 5.0
