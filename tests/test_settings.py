from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from tracker.errors import ConfigurationError
from tracker.settings import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, Secret, Settings
from tracker.sources.base import RateLimit


def test_defaults_are_the_embedded_service() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///./tracker.db"
    assert settings.redis_url == DEFAULT_REDIS_URL == "redis://localhost:6379/0"
    assert settings.webhook_allow_private is False
    assert settings.api_tokens == ()


def test_reads_per_source_url_and_key() -> None:
    settings = Settings.from_env(
        {
            "TRACKER_CAINIAO_URL": "http://127.0.0.1:9000/cainiao/",
            "TRACKER_17TRACK_URL": "http://127.0.0.1:9000/17track",
            "TRACKER_17TRACK_KEY": "s3cret-17",
            "PATH": "/usr/bin",  # not ours: ignored
        }
    )
    assert settings.source("cainiao").url == "http://127.0.0.1:9000/cainiao"
    assert settings.source("17track").key == Secret("s3cret-17")
    assert settings.source("17track").key is not None
    assert settings.source("17track").key.reveal() == "s3cret-17"
    assert settings.source("dhl").url is None


def test_secrets_never_show_in_repr() -> None:
    settings = Settings.from_env(
        {
            "TRACKER_17TRACK_KEY": "s3cret-17",
            "TRACKER_API_TOKENS": "tok-one,tok-two",
        }
    )
    shown = repr(settings) + str(settings)
    for secret in ("s3cret-17", "tok-one", "tok-two"):
        assert secret not in shown
    assert [t.reveal() for t in settings.api_tokens] == ["tok-one", "tok-two"]


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"TRACKER_DATABASE_URL": "not a url"}, "TRACKER_DATABASE_URL", "not a database URL"),
        ({"TRACKER_DATABASE_URL": "mysql://x@y/z"}, "TRACKER_DATABASE_URL", "unsupported"),
        (
            {"TRACKER_DATABASE_URL": "postgresql+psycopg2://u@h/db"},
            "TRACKER_DATABASE_URL",
            "psycopg",
        ),
        ({"TRACKER_REDIS_URL": "http://localhost"}, "TRACKER_REDIS_URL", "not a Redis URL"),
        ({"TRACKER_REDIS_URL": "redis://localhost:notaport/0"}, "TRACKER_REDIS_URL", "port"),
        ({"TRACKER_FOOBAR_URL": "http://x"}, "TRACKER_FOOBAR_URL", "unknown source 'foobar'"),
        ({"TRACKER_CAINIAO_URL": "ftp://x"}, "TRACKER_CAINIAO_URL", "http(s) URL"),
        ({"TRACKER_SOURCES": "cainiao,fedx"}, "TRACKER_SOURCES", "unknown source 'fedx'"),
        ({"TRACKER_WEBHOOK_ALLOW_PRIVATE": "maybe"}, "TRACKER_WEBHOOK_ALLOW_PRIVATE", "boolean"),
        ({"TRACKER_API_PORT": "99999"}, "TRACKER_API_PORT", "between"),
        ({"TRACKER_CAINIAO_RATE": "fast"}, "TRACKER_CAINIAO_RATE", "CALLS/SECONDS"),
        ({"TRACKER_CAINIAO_RATE": "0/1"}, "TRACKER_CAINIAO_RATE", "positive"),
        ({"TRACKER_DHL_RATE": "1/1,daily"}, "TRACKER_DHL_RATE", "1/1,250/86400"),
        ({"TRACKER_DHL_RATE": "1/1,"}, "TRACKER_DHL_RATE", "CALLS/SECONDS"),
        ({"TRACKER_API_RATE_LIMIT": "lots"}, "TRACKER_API_RATE_LIMIT", "20/second"),
        ({"TRACKER_STALLED_DAYS": "ten"}, "TRACKER_STALLED_DAYS", "integer"),
        ({"TRACKER_SECRET_KEY": "hunter2"}, "TRACKER_SECRET_KEY", "key 1 of 1 is not a Fernet"),
        (
            {"TRACKER_DATABSE_URL": "sqlite://"},
            "TRACKER_DATABSE_URL",
            "did you mean TRACKER_DATABASE_URL",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable + ": ")
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_enabled_sources_keep_order_without_duplicates() -> None:
    settings = Settings.from_env({"TRACKER_SOURCES": "17track, cainiao,17track"})
    assert settings.enabled_sources == ("17track", "cainiao")


def test_postgres_url_is_accepted() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/tracker"
    assert Settings.from_env({"TRACKER_DATABASE_URL": url}).database_url == url


def test_rate_overrides_the_published_quota() -> None:
    settings = Settings.from_env({"TRACKER_CAINIAO_RATE": "500/1", "TRACKER_DHL_RATE": "250/86400"})
    assert settings.rate_limits["cainiao"] == (RateLimit(500, 1.0),)
    assert settings.rate_limits["dhl"] == (RateLimit(250, 86400.0),)
    assert "17track" not in settings.rate_limits


def test_a_rate_may_have_several_windows() -> None:
    settings = Settings.from_env({"TRACKER_DHL_RATE": "1/1, 250/86400"})
    assert settings.rate_limits["dhl"] == (RateLimit(1, 1.0), RateLimit(250, 86400.0))


def test_api_rate_limit_in_limits_notation() -> None:
    assert Settings.from_env({}).api_rate_limit == "20/second"
    assert Settings.from_env({"TRACKER_API_RATE_LIMIT": "600/minute"}).api_rate_limit == (
        "600/minute"
    )


def test_secret_keys_are_a_list_of_fernet_keys_hidden_from_repr() -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = Settings.from_env({"TRACKER_SECRET_KEY": f" {first} ,{second}"})
    assert [k.reveal() for k in settings.secret_keys] == [first, second]
    assert first not in repr(settings) and second not in str(settings)
    assert Settings.from_env({}).secret_keys == ()
    assert Settings.from_env({"TRACKER_SECRET_KEY": ""}).secret_keys == ()


def test_a_malformed_secret_key_is_named_by_position_and_never_echoed() -> None:
    good = Fernet.generate_key().decode()
    bad = good[:-2] + "!="  # one character off: not url-safe base64
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"TRACKER_SECRET_KEY": f"{good},{bad}"})
    assert caught.value.variable == "TRACKER_SECRET_KEY"
    assert "key 2 of 2 is not a Fernet key" in str(caught.value)
    assert bad not in str(caught.value) and good not in str(caught.value)
    short = Fernet.generate_key().decode()[:20]
    with pytest.raises(ConfigurationError, match="key 1 of 1"):
        Settings.from_env({"TRACKER_SECRET_KEY": short})


def test_kubernetes_service_links_of_a_service_named_tracker_are_not_settings() -> None:
    injected = {
        "TRACKER_PORT": "tcp://10.0.0.1:8000",
        "TRACKER_PORT_8000_TCP": "tcp://10.0.0.1:8000",
        "TRACKER_PORT_8000_TCP_PROTO": "tcp",
        "TRACKER_PORT_8000_TCP_PORT": "8000",
        "TRACKER_PORT_8000_TCP_ADDR": "10.0.0.1",
        "TRACKER_SERVICE_HOST": "10.0.0.1",
        "TRACKER_SERVICE_PORT": "8000",
        "TRACKER_SERVICE_PORT_HTTP": "8000",
    }
    assert Settings.from_env(injected).api_port == 8000  # the defaults, untouched
    with pytest.raises(ConfigurationError, match="TRACKER_PORTS"):
        Settings.from_env({**injected, "TRACKER_PORTS": "1"})  # still a typo of ours
    # Services named tracker-api and tracker-redis: TRACKER_API_PORT is also a setting of ours
    others = {
        "TRACKER_API_PORT": "tcp://10.0.0.2:8000",
        "TRACKER_API_PORT_8000_TCP_ADDR": "10.0.0.2",
        "TRACKER_API_SERVICE_HOST": "10.0.0.2",
        "TRACKER_API_SERVICE_PORT_HTTP": "8000",
        "TRACKER_REDIS_PORT": "tcp://10.0.0.3:6379",
        "TRACKER_REDIS_SERVICE_PORT": "6379",
    }
    assert Settings.from_env(others).api_port == 8000
    assert Settings.from_env({**others, "TRACKER_API_PORT": "9000"}).api_port == 9000
    with pytest.raises(ConfigurationError, match="TRACKER_API_PORT"):
        Settings.from_env({"TRACKER_API_PORT": "http://nope"})  # not a link: a bad value
