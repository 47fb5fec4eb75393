"""Fuzzing the input side with hypothesis: compose files (generated, and the compose corpus
mutated as text and as trees), `x-composewatch` settings and `.env` files. Whatever the
input, the outcome is a valid model or a clean error: a ComposewatchError subclass (exit code
2 at the command line), never another exception. Deterministic (`derandomize`) and bounded
(`max_examples`), so it runs in CI in a few seconds per test.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from composewatch.compose import ProjectOptions, load_project, render_config
from composewatch.compose.envfile import load_env_file, parse_env
from composewatch.compose.yamlload import parse_documents
from composewatch.config import SETTINGS_KEY, Settings, parse_settings
from composewatch.errors import ComposewatchError, ConfigError, InputError

REPO = Path(__file__).resolve().parents[2]
# The compose corpus: compose files with Docker Compose's own output (tests/corpus/README.md).
CORPUS = REPO / "tests" / "corpus"
ENVIRON = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home", "TAG": "1.0", "PORT": "8080"}

# CI's fixed budget; COMPOSEWATCH_FUZZ_EXAMPLES=2000 for a deeper (still deterministic) run.
EXAMPLES = int(os.environ.get("COMPOSEWATCH_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _compose_files() -> list[Path]:
    """The main compose file of each corpus case (its folder is copied whole)."""
    if not CORPUS.is_dir():
        return []
    names = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
    found = []
    for case in sorted(CORPUS.iterdir()):
        main = next((case / n for n in names if (case / n).is_file()), None)
        if main is not None:
            found.append(main)
    return found


CORPUS_FILES = _compose_files()
needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason=f"no compose corpus at {CORPUS}")


@contextmanager
def _project(case: Path | None, files: dict[str, str | bytes]) -> Iterator[Path]:
    """A scratch project directory: a copy of a corpus case (if any) with `files` over it."""
    with tempfile.TemporaryDirectory(prefix="cw-fuzz-") as scratch:
        root = Path(scratch) / "project"
        if case is not None:
            shutil.copytree(case, root, symlinks=True)
        else:
            root.mkdir()
        for name, content in files.items():
            path = root / name
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        yield root


def _load_cleanly(root: Path, compose_name: str) -> None:
    """Load as `composewatch config` does; a ComposewatchError is a clean outcome."""
    options = ProjectOptions(files=(compose_name,), working_dir=str(root), environ=ENVIRON)
    try:
        loaded = load_project(options)
        parse_settings(
            loaded.extensions.get(SETTINGS_KEY),
            file=compose_name,
            service_names=set(loaded.project.services),
        )
        json.loads(render_config(loaded, "json"))
        parse_documents(render_config(loaded, "yaml"), "output")  # readable as compose input
    except ComposewatchError as exc:
        assert isinstance(exc, InputError), repr(exc)  # bad input: exit code 2
        message = str(exc)
        assert message and "Traceback" not in message
        event("refused")  # --hypothesis-show-statistics: how often each outcome came up
    else:
        event("loaded")


# --- generated values and trees ----------------------------------------------------------

_NASTY_STRINGS = st.sampled_from(
    [
        "", "${", "${X", "${X:?}", "$${X}", "${X:-${Y:-z}}", "::", ":", "/", "1.5", "-1", "0",
        "99999", "80:80", "127.0.0.1:8080:80/udp", "a:b:c:d", "./src:/app:ro", "1e999", "nan",
        "1m30s", "30 seconds", "512m", "1gb", "x" * 300, "[/x]", "\x1b[31m", "é", "service:web",
        "CMD", "!reset", "true", "no", "~", ".inf", "0x1F", "0o17", "017",
    ]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _NASTY_STRINGS,
    st.text(max_size=20),
)
_KEYS = st.one_of(
    st.sampled_from(
        [
            "image", "build", "ports", "volumes", "environment", "env_file", "depends_on",
            "command", "healthcheck", "develop", "watch", "path", "action", "target",
            "networks", "secrets", "configs", "extends", "include", "profiles", "deploy",
            "resources", "limits", "cpus", "memory", "mem_limit", "stop_grace_period",
            "container_name", "extra_hosts", "labels", "ulimits", "devices", "x-composewatch",
            "services", "web", "context", "dockerfile", "source", "type", "condition",
            "required", "file", "service", "name", "external", "tmpfs", "expose", "scale",
        ]
    ),
    st.text(min_size=1, max_size=8),
)  # fmt: skip
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=4)
    ),
    max_leaves=25,
)


def _dump(tree: Any) -> str:
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


@FUZZ
@given(services=st.dictionaries(_KEYS, st.dictionaries(_KEYS, _TREES, max_size=6), max_size=3))
def test_generated_compose_files_load_or_fail_cleanly(services: dict[str, Any]) -> None:
    text = _dump({"services": services})
    with _project(None, {"compose.yaml": text, "Dockerfile": "FROM busybox\n"}) as root:
        _load_cleanly(root, "compose.yaml")


# Plausible services: each field drawn from values compose accepts and values just beside them,
# so that most files get past the schema and exercise parsing, normalisation and rendering.
_NAMES = ["web", "db", "worker"]
_DURATIONS = st.sampled_from(["1s", "1m30s", "500ms", "0", "-1s", "1.5h", "10", "1 s", "1d"])
_SIZES = st.one_of(
    st.sampled_from(["512m", "1g", "1.5gb", "100", "0", "-1m", "1 kb", "1t"]),
    st.integers(-1, 2**40),
)
_PORT_TEXT = st.sampled_from(
    ["80", "8080:80", "127.0.0.1:8000-8001:80-81/udp", "${PORT}:80", "[::1]:80:80", "80-79",
     "0:0", "65536", "a:b", "1.2.3.4:80", "::80", "80/sctp"]
)  # fmt: skip
_PORTS = st.one_of(
    _PORT_TEXT,
    st.integers(-1, 70_000),
    st.fixed_dictionaries(
        {"target": st.one_of(st.integers(0, 70_000), st.just("80"))},
        optional={
            "published": st.one_of(st.integers(0, 70_000), _PORT_TEXT),
            "protocol": st.sampled_from(["tcp", "udp", "x"]),
            "host_ip": st.sampled_from(["127.0.0.1", "::1", "nope"]),
        },
    ),
)
_VOLUMES = st.one_of(
    st.sampled_from(
        ["./src:/app:ro", "data:/data", "/abs:/x:z", "${HOME}/x:/y", "/x", "c:/x", "::",
         "./a:/b:rw,nocopy", "tmp:/t:shared"]
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["bind", "volume", "tmpfs", "npipe", "x"]),
         "target": st.just("/t")},
        optional={
            "source": st.sampled_from(["./src", "data", ""]),
            "read_only": st.booleans(),
            "tmpfs": st.fixed_dictionaries({}, optional={"size": _SIZES}),
        },
    ),
)  # fmt: skip
_RULES = st.fixed_dictionaries(
    {
        "path": st.sampled_from([".", "./src", "", "/abs"]),
        "action": st.sampled_from(["sync", "rebuild", "restart", "sync+restart", "sync+exec", "x"]),
    },
    optional={
        "target": st.sampled_from(["/app", "", "rel"]),
        "ignore": st.lists(
            st.sampled_from(["*.pyc", "node_modules/", "[", "!x", "**"]), max_size=3
        ),
        "exec": st.fixed_dictionaries({"command": st.sampled_from(["echo hi", "'unclosed"])}),
    },
)
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "image": st.sampled_from(["busybox", "busybox:latest", "${TAG}", "", "a b"]),
    "build": st.one_of(
        st.sampled_from([".", "./missing"]),
        st.fixed_dictionaries(
            {"context": st.just(".")},
            optional={
                "dockerfile": st.sampled_from(["Dockerfile", "missing"]),
                "args": st.one_of(st.lists(st.sampled_from(["A=1", "B"])), st.dictionaries(
                    st.sampled_from(["A", "B"]), st.one_of(st.none(), _SCALARS))),
                "target": st.text(max_size=5),
            },
        ),
    ),
    "ports": st.lists(_PORTS, max_size=3),
    "expose": st.lists(st.one_of(st.integers(-1, 70_000), _PORT_TEXT), max_size=2),
    "volumes": st.lists(_VOLUMES, max_size=3),
    "environment": st.one_of(
        st.lists(st.sampled_from(["A=1", "B", "C=${X:-d}", "=x", "D==", "PATH"]), max_size=4),
        st.dictionaries(st.sampled_from(["A", "B", "C"]), st.one_of(st.none(), _SCALARS)),
    ),
    "command": st.one_of(
        st.sampled_from(["echo hi", "sh -c 'a && b'", "'unclosed", "", "a\\"]),
        st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
    ),
    "depends_on": st.one_of(
        st.lists(st.sampled_from([*_NAMES, "missing"]), max_size=2, unique=True),
        st.dictionaries(
            st.sampled_from(_NAMES),
            st.fixed_dictionaries(
                {},
                optional={
                    "condition": st.sampled_from(
                        ["service_started", "service_healthy", "service_completed_successfully",
                         "x"]
                    ),
                    "required": st.booleans(),
                    "restart": st.booleans(),
                },
            ),
            max_size=2,
        ),
    ),
    "healthcheck": st.fixed_dictionaries(
        {},
        optional={
            "test": st.one_of(
                st.sampled_from(["curl -f http://localhost/", ""]),
                st.lists(st.sampled_from(["CMD", "CMD-SHELL", "NONE", "x"]), max_size=3),
            ),
            "interval": _DURATIONS,
            "timeout": _DURATIONS,
            "retries": st.integers(-1, 10),
            "disable": st.booleans(),
        },
    ),
    "stop_grace_period": _DURATIONS,
    "mem_limit": _SIZES,
    "shm_size": _SIZES,
    "cpus": st.one_of(st.floats(-1, 64, allow_nan=False), st.sampled_from(["0.5", "x", "1e3"])),
    "restart": st.sampled_from(["no", "always", "on-failure:3", "unless-stopped"]),
    "profiles": st.lists(st.sampled_from(["dev", "prod", "*"]), max_size=2),
    "labels": st.one_of(
        st.lists(st.sampled_from(["a=1", "b", "c=${X}"]), max_size=3),
        st.dictionaries(st.sampled_from(["a", "b"]), _SCALARS, max_size=2),
    ),
    "extra_hosts": st.lists(st.sampled_from(["h:1.2.3.4", "h=::1", "bad"]), max_size=2),
    "ulimits": st.dictionaries(
        st.sampled_from(["nofile", "nproc"]),
        st.one_of(
            st.integers(-1, 2**20),
            st.fixed_dictionaries({"soft": st.integers(), "hard": st.integers()}),
        ),
        max_size=2,
    ),
    "develop": st.fixed_dictionaries({"watch": st.lists(_RULES, max_size=3)}),
    "deploy": st.fixed_dictionaries(
        {},
        optional={
            "replicas": st.integers(-1, 3),
            "resources": st.fixed_dictionaries(
                {},
                optional={
                    "limits": st.fixed_dictionaries(
                        {}, optional={"cpus": st.sampled_from(["0.5", "2", "x"]), "memory": _SIZES}
                    )
                },
            ),
        },
    ),
    "container_name": st.sampled_from(["c1", "c", "/bad", "ok-name"]),
    "scale": st.integers(-1, 3),
    "networks": st.one_of(
        st.lists(st.sampled_from(["default", "back", "missing"]), max_size=2, unique=True),
        st.dictionaries(st.sampled_from(["default", "back"]), st.none(), max_size=2),
    ),
}  # fmt: skip
_SERVICE = st.fixed_dictionaries(
    {"image": _FIELDS["image"]},
    optional={k: v for k, v in _FIELDS.items() if k != "image"},
)
_HEALTH = st.fixed_dictionaries(
    {},
    optional={
        "url": st.sampled_from(["http://127.0.0.1:8080/", "http://127.0.0.1:99999/", "x"]),
        "path": st.sampled_from(["/", "/healthz", "healthz"]),
        "timeout_s": st.one_of(st.floats(allow_nan=True), st.integers(-1, 10_000)),
        "probe": st.sampled_from(["auto", "http", "docker", "running", "x"]),
    },
)


@FUZZ
@given(
    services=st.dictionaries(st.sampled_from(_NAMES), _SERVICE, min_size=1, max_size=3),
    settings_services=st.dictionaries(
        st.sampled_from([*_NAMES, "missing"]),
        st.fixed_dictionaries(
            {},
            optional={
                "health": _HEALTH,
                "stop_timeout_s": st.floats(allow_nan=True),
                "watch": st.booleans(),
            },
        ),
        max_size=2,
    ),
    resources=st.booleans(),
)
def test_plausible_compose_files_load_or_fail_cleanly(
    services: dict[str, Any], settings_services: dict[str, Any], resources: bool
) -> None:
    tree: dict[str, Any] = {"services": services}
    if resources:
        tree |= {"networks": {"back": None}, "volumes": {"data": {}, "tmp": None}}
    if settings_services:
        tree["x-composewatch"] = {"services": settings_services}
    with _project(None, {"compose.yaml": _dump(tree), "Dockerfile": "FROM busybox\n"}) as root:
        (root / "src").mkdir()
        _load_cleanly(root, "compose.yaml")


# --- the corpus, mutated -----------------------------------------------------------------


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node's path in a YAML tree."""
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, (*prefix, index))
    return found


def _replace(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in tree.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(tree)]


def _like(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same YAML type as `value` (so the mutant often passes the schema)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-(2**64), max_value=2**64)
    if isinstance(value, float):
        return st.floats()
    if isinstance(value, str):
        return _NASTY_STRINGS | st.text(max_size=12) | st.just(value + value)
    if isinstance(value, list):
        return st.permutations(value) | st.just(value + value[:1]) | st.just(value[1:])
    if isinstance(value, dict):
        keys = list(value)
        return st.sampled_from(keys).map(lambda k: {x: v for x, v in value.items() if x != k})
    return st.none()


def _mutant(data: st.DataObject, tree: Any) -> Any:
    path = data.draw(st.sampled_from(_paths(tree)), label="path")
    node = tree
    for part in path:
        node = node[part]
    same_type = data.draw(st.booleans(), label="same type")
    empty = isinstance(node, list | dict) and not node
    value = data.draw(_like(node) if same_type and not empty else _TREES, label="value")
    return _replace(tree, path, value)


@needs_corpus
@FUZZ
@given(data=st.data())
def test_corpus_with_a_node_replaced_loads_or_fails_cleanly(data: st.DataObject) -> None:
    main = data.draw(st.sampled_from(CORPUS_FILES), label="case")
    try:
        tree = yaml.safe_load(main.read_text())
    except yaml.YAMLError:  # the corpus' invalid cases include broken YAML
        return
    if not isinstance(tree, dict):
        return
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        tree = _mutant(data, tree)
    with _project(main.parent, {main.name: _dump(tree)}) as root:
        _load_cleanly(root, main.name)


_TEXT_NOISE = st.text(
    alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"#%@`$ \n\t\\?~01a")), max_size=8
)


@needs_corpus
@FUZZ
@given(data=st.data())
def test_corpus_with_its_text_damaged_loads_or_fails_cleanly(data: st.DataObject) -> None:
    main = data.draw(st.sampled_from(CORPUS_FILES), label="case")
    text = main.read_text()
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        cut = data.draw(st.integers(0, 12), label="cut")
        text = text[:at] + data.draw(_TEXT_NOISE, label="insert") + text[at + cut :]
    with _project(main.parent, {main.name: text}) as root:
        _load_cleanly(root, main.name)


@needs_corpus
@FUZZ
@given(data=st.data())
def test_corpus_with_bytes_damaged_loads_or_fails_cleanly(data: st.DataObject) -> None:
    main = data.draw(st.sampled_from(CORPUS_FILES), label="case")
    raw = bytearray(main.read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)), label="at")
        raw[at : at + 1] = data.draw(st.binary(min_size=0, max_size=3), label="bytes")
    with _project(main.parent, {main.name: bytes(raw)}) as root:
        _load_cleanly(root, main.name)


# --- settings -------------------------------------------------------------------------------

_SETTING_KEYS = st.sampled_from(
    [
        "quiet_ms", "max_parallel_builds", "services", "web", "health", "probe", "url", "path",
        "port", "expected_status", "timeout_s", "stop_timeout_s", "watch", "other",
    ]
)  # fmt: skip
_SETTING_VALUES = st.one_of(
    _SCALARS,
    st.sampled_from(
        [
            "http://127.0.0.1:99999/", "http://localhost:0/", "http://[::1]:8080/x",
            "http://example.com/", "https://127.0.0.1/", "ftp://127.0.0.1/", "http://:80",
            "http://127.0.0.1:8080/\r\nX: y", "/healthz", "healthz", "auto", "http", "docker",
        ]
    ),
)  # fmt: skip
_SETTING_TREES = st.recursive(
    _SETTING_VALUES,
    lambda children: st.dictionaries(_SETTING_KEYS, children, max_size=5),
    max_leaves=15,
)


@FUZZ
@given(raw=_SETTING_TREES)
def test_settings_parse_or_fail_cleanly(raw: Any) -> None:
    try:
        parsed = parse_settings(raw, file="compose.yaml", service_names={"web"})
    except ConfigError as exc:
        assert str(exc).startswith("compose.yaml: x-composewatch")
        return
    assert isinstance(parsed, Settings)
    for service in parsed.services.values():  # what was accepted is usable as it is
        assert 0 < service.health.timeout_s < float("inf")
        assert service.stop_timeout_s is None or 0 <= service.stop_timeout_s < float("inf")


# --- .env files -----------------------------------------------------------------------------

_ENV_LINES = st.lists(
    st.one_of(
        st.text(max_size=30),
        st.builds(
            lambda k, q, v: f"{k}={q}{v}",
            st.sampled_from(["A", "B", "export C", "D.E", "9X", " F ", ""]),
            st.sampled_from(["", "'", '"']),
            st.text(alphabet=st.sampled_from(list("ab$ {}:?-+'\"\\#=\t")), max_size=12),
        ),
    ),
    max_size=6,
)


def _lookup(name: str) -> str | None:
    return ENVIRON.get(name)


@FUZZ
@given(lines=_ENV_LINES)
def test_env_text_parses_or_fails_cleanly(lines: list[str]) -> None:
    try:
        values = parse_env("\n".join(lines), _lookup, file=".env")
    except InputError as exc:
        assert ".env" in str(exc)
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


@FUZZ
@given(data=st.binary(max_size=60), raw=st.booleans())
def test_env_bytes_load_or_fail_cleanly(data: bytes, raw: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="cw-fuzz-") as scratch:
        path = Path(scratch) / "app.env"
        path.write_bytes(data)
        try:
            load_env_file(path, _lookup, raw=raw)
        except InputError as exc:
            assert "app.env" in str(exc)


def test_the_corpus_is_there_for_the_fuzzers() -> None:
    """The corpus-driven fuzzers above skip without the corpus; in CI that is a failure."""
    if not CORPUS_FILES:
        if os.environ.get("CI") == "true":
            pytest.fail(f"compose corpus not found at {CORPUS}")
        pytest.skip(f"compose corpus not found at {CORPUS}")
    assert len(CORPUS_FILES) > 50
