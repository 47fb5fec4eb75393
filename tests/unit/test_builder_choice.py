"""Which builder a build uses: BuildKit wherever the engine offers it, classic on request."""

from __future__ import annotations

import pytest

from composewatch.config import parse_settings
from composewatch.engine.build import Builder, choose_builder
from composewatch.errors import ConfigError, EngineError


@pytest.mark.parametrize(
    ("api", "os_type", "requested", "expected"),
    [
        ("1.41", "linux", None, Builder.BUILDKIT),
        ("1.39", "linux", "", Builder.BUILDKIT),
        ("1.38", "linux", None, Builder.CLASSIC),  # before Engine 18.09: no BuildKit
        ("1.41", "windows", None, Builder.CLASSIC),
        ("1.41", "linux", "0", Builder.CLASSIC),  # DOCKER_BUILDKIT=0
        ("1.41", "linux", "false", Builder.CLASSIC),
        ("1.41", "linux", "classic", Builder.CLASSIC),  # x-composewatch.builder
        ("1.41", "linux", "1", Builder.BUILDKIT),
        ("1.41", "linux", "buildkit", Builder.BUILDKIT),
    ],
)
def test_choice(api: str, os_type: str, requested: str | None, expected: Builder) -> None:
    assert choose_builder(api, os_type, requested) is expected


def test_buildkit_requested_where_the_engine_has_none_is_an_error() -> None:
    with pytest.raises(EngineError, match="DOCKER_BUILDKIT"):
        choose_builder("1.38", "linux", "1")


def test_builder_setting() -> None:
    settings = parse_settings({"builder": "classic"}, file="c.yaml", service_names=set())
    assert settings.builder == "classic"
    with pytest.raises(ConfigError, match=r"x-composewatch\.builder"):
        parse_settings({"builder": "kaniko"}, file="c.yaml", service_names=set())
