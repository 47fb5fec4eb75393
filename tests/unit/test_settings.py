"""x-composewatch settings: defaults, validation, errors that name file and key."""

from __future__ import annotations

import pytest

from composewatch.config import parse_settings
from composewatch.errors import ConfigError, InputError


def test_defaults_when_absent() -> None:
    settings = parse_settings(None, file="compose.yaml", service_names={"web"})
    assert settings.quiet_ms == 30
    assert settings.for_service("web").health.probe == "auto"


def test_per_service_health() -> None:
    raw = {"services": {"web": {"health": {"path": "/healthz", "expected_status": 204}}}}
    settings = parse_settings(raw, file="compose.yaml", service_names={"web"})
    assert settings.for_service("web").health.path == "/healthz"
    assert settings.for_service("web").health.expected_status == 204


@pytest.mark.parametrize(
    ("raw", "key", "words"),
    [
        ({"quiet": 10}, "x-composewatch.quiet", "unknown key"),
        (
            {"services": {"web": {"health": {"urll": "x"}}}},
            "x-composewatch.services.web.health.urll",
            "unknown key",
        ),
        (
            {"services": {"web": {"health": {"timeout_s": -1}}}},
            "x-composewatch.services.web.health.timeout_s",
            "greater than 0",
        ),
        (
            {"services": {"web": {"health": {"url": "http://10.0.0.1/"}}}},
            "x-composewatch.services.web.health.url",
            "not on this machine",
        ),
        (
            {"services": {"web": {"health": {"path": "health"}}}},
            "x-composewatch.services.web.health.path",
            "must start",
        ),
        ({"services": {"db": {}}}, "x-composewatch.services.db", "no service named 'db'"),
    ],
)
def test_errors_name_the_file_and_the_key(raw: object, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, file="/p/compose.yaml", service_names={"web"})
    message = str(info.value)
    assert message.startswith(f"/p/compose.yaml: {key}:"), message
    assert words in message
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
