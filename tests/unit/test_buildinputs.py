"""Build keys: applied as engine parameters, or refused with a paragraph naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from composewatch.compose.model import Project
from composewatch.core.buildinputs import (
    APPLIED_BUILD_KEYS,
    IGNORED_BUILD_KEYS,
    REFUSED_BUILD_KEYS,
    parse_build_request,
)
from composewatch.core.dockerfile import apply_named_images
from composewatch.errors import BuildContextError


def _project(**build: Any) -> Project:
    services = {
        "web": {"build": {"context": "/src", **build}},
        "worker": {"build": {"context": "/src", **build}},
    }
    return Project.model_validate({"name": "p", "services": services})


def test_every_build_key_compose_knows_is_applied_ignored_or_refused() -> None:
    compose_build_keys = {
        "context", "dockerfile", "dockerfile_inline", "args", "ssh", "cache_from", "cache_to",
        "additional_contexts", "entitlements", "extra_hosts", "isolation", "privileged",
        "labels", "no_cache", "pull", "network", "shm_size", "target", "secrets", "tags",
        "ulimits", "platforms", "provenance", "sbom",
    }  # fmt: skip
    known = APPLIED_BUILD_KEYS | set(IGNORED_BUILD_KEYS) | set(REFUSED_BUILD_KEYS)
    assert compose_build_keys <= known


def test_parameters_reach_the_engine_query() -> None:
    request = parse_build_request(
        _project(
            args={"A": "1"}, target="dev", labels={"l": "v"}, no_cache=True,
            pull=True, network="host", extra_hosts=["db=10.0.0.2", "ip6=::1"], shm_size="64m",
            cache_from=["app:cache", "type=registry,ref=app:reg"], platforms=["linux/amd64"],
            ulimits={"nofile": {"soft": 10, "hard": 20}, "nproc": 5},
        ),
        "web",
        "compose.yaml",
    )  # fmt: skip
    params = request.engine_params()
    assert json.loads(params["buildargs"]) == {"A": "1"}
    assert params["target"] == "dev" and params["nocache"] == "1" and params["pull"] == "1"
    assert params["networkmode"] == "host"
    assert params["extrahosts"] == "db:10.0.0.2,ip6:::1"
    assert params["shmsize"] == str(64 * 1024 * 1024)
    assert json.loads(params["cachefrom"]) == ["app:cache", "app:reg"]
    assert params["platform"] == "linux/amd64"
    assert json.loads(params["ulimits"]) == [
        {"Name": "nofile", "Soft": 10, "Hard": 20},
        {"Name": "nproc", "Soft": 5, "Hard": 5},
    ]


@pytest.mark.parametrize(
    ("build", "key"),
    [
        ({"secrets": ["token"]}, "secrets"),
        ({"ssh": ["=path"]}, "ssh"),
        ({"additional_contexts": {"src": "https://example.com/x.tar"}}, "additional_contexts.src"),
        ({"additional_contexts": {"src": "/src/lib"}, "pull": True}, "pull"),
        ({"cache_from": ["type=local,src=/tmp/c"]}, "cache_from"),
        ({"platforms": ["linux/amd64", "linux/arm64"]}, "platforms"),
    ],
)
def test_keys_that_cannot_be_honoured_are_refused_naming_the_key(
    build: dict[str, Any], key: str
) -> None:
    with pytest.raises(BuildContextError) as info:
        parse_build_request(_project(**build), "web", "compose.yaml")
    assert f"compose.yaml: services.web.build.{key}:" in str(info.value)


def test_identical_builds_are_grouped() -> None:
    project = _project(args={"A": "1"})
    requests = {s: parse_build_request(project, s, "c.yaml") for s in ("web", "worker")}
    # The builder shares builds by digest, which starts from this key.
    assert requests["web"].key() == requests["worker"].key()


def test_named_images_replace_context_names() -> None:
    text = (
        "FROM base AS build\nCOPY --from=assets /a /a\n"
        "RUN --mount=type=bind,from=assets,target=/x true\n"
        "FROM --platform=linux/amd64 base\nCOPY --from=build /b /b\n"
    )
    out = apply_named_images(text, {"base": "python:3.11-slim", "assets": "busybox:latest"})
    assert out == (
        "FROM python:3.11-slim AS build\nCOPY --from=busybox:latest /a /a\n"
        "RUN --mount=type=bind,from=busybox:latest,target=/x true\n"
        "FROM --platform=linux/amd64 python:3.11-slim\nCOPY --from=build /b /b\n"
    )
    # A build stage of the same name wins, as in BuildKit.
    assert apply_named_images("FROM x AS build\nCOPY --from=build / /\n", {"build": "i"}) == (
        "FROM x AS build\nCOPY --from=build / /\n"
    )


def test_image_contexts_are_accepted() -> None:
    request = parse_build_request(
        _project(additional_contexts={"base": "docker-image://busybox:latest"}), "web", "c"
    )
    assert request.named_images == (("base", "busybox:latest"),)


def test_directory_contexts_are_built_into_images_named_after_the_service() -> None:
    request = parse_build_request(
        _project(additional_contexts={"My_Lib": "/src/lib", "base": "docker-image://b:1"}),
        "web",
        "c",
    )
    assert request.context_dirs == (("My_Lib", "/src/lib", "p-web-context-my-lib"),)
    assert request.named_images == (("My_Lib", "p-web-context-my-lib"), ("base", "b:1"))
    helper = request.for_context_dir("/src/lib")
    assert helper.dockerfile_inline == "FROM scratch\nCOPY . /\n"
    assert str(helper.context) == "/src/lib" and helper.context_dirs == ()


def test_build_secrets_and_ssh_are_read_without_values() -> None:
    project = Project.model_validate(
        {
            "name": "p",
            "services": {"web": {"build": {
                "context": "/src",
                "secrets": [{"source": "a"}, {"source": "b", "target": "bee"}],
                "ssh": ["default", "deploy: /run/agent.sock", "other=/x.sock"],
            }}},
            "secrets": {"a": {"file": "/s/a.txt"}, "b": {"environment": "B_VALUE"}},
        }
    )  # fmt: skip
    request = parse_build_request(project, "web", "c")
    assert request.secrets == (("a", "file", "/s/a.txt"), ("bee", "environment", "B_VALUE"))
    assert request.ssh == (("default", ""), ("deploy", "/run/agent.sock"), ("other", "/x.sock"))
    assert request.needs_session
