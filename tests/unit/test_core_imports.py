"""The pure core stays pure: no Docker, no clock, no threads, no sockets, no subprocesses.
Checked on the source (ast), so a stray import fails here before it decides anything."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "composewatch"
PURE = sorted(
    [
        *(PACKAGE / "core").glob("*.py"),
        PACKAGE / "engine" / "parse.py",
    ]
)
FORBIDDEN = {"docker", "asyncio", "time", "threading", "subprocess", "socket", "requests"}


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_edge(path: Path) -> None:
    assert imported(path) & FORBIDDEN == set()


# --- What importing a pure module loads, transitively, in a fresh interpreter -------------
# The ast check above reads a module's own imports only; `import composewatch.core.state`
# loaded 36 composewatch modules through its imports' imports. This one imports each pure
# module alone in a new interpreter and looks at everything that came with it.

#: Modules whose import means an edge (engine, network, processes, archives, files watched,
#: terminal) was pulled into a decision. pydantic itself loads `socket` and `threading`, so
#: those two are not listed.
EDGES = ("docker", "requests", "asyncio", "subprocess", "tarfile", "http", "watchfiles", "rich")

#: The pure layers: a pure module may load these and nothing else of composewatch.
PURE_LAYERS = (
    "composewatch.core",  # the decisions
    "composewatch.engine.parse",  # pure parsers of engine JSON
    "composewatch.compose.model",  # the compose data model, and the helpers it is made of
    "composewatch.compose.layout",
    "composewatch.compose.redaction",
    "composewatch.compose.scalars",  # Go's number parsing, as compose casts values
    "composewatch.compose.units",  # sizes and durations, text in, number out
    "composewatch.hiding",  # the values an error must never show (text in, text out)
    "composewatch.config",  # the settings model
    "composewatch.events",  # past-tense facts
    "composewatch.errors",
)
#: Package `__init__`s, allowed as such; whatever they import is checked on its own.
PACKAGES = {"composewatch", "composewatch.compose", "composewatch.engine"}

CORE_MODULES = sorted(
    "composewatch.core" + ("" if p.stem == "__init__" else f".{p.stem}")
    for p in (PACKAGE / "core").glob("*.py")
)
CHECKED = [*CORE_MODULES, "composewatch.engine.parse"]

_LIST_LOADED = "import importlib, json, sys; importlib.import_module(sys.argv[1]); " + (
    "print(json.dumps(sorted(sys.modules)))"
)


def disallowed(loaded: list[str]) -> list[str]:
    """The loaded modules a pure module may not bring: edges, and composewatch outside the
    pure layers."""

    def ours_and_impure(name: str) -> bool:
        if name in PACKAGES or not name.startswith("composewatch"):
            return False
        return not any(name == p or name.startswith(p + ".") for p in PURE_LAYERS)

    return [n for n in loaded if n.split(".")[0] in EDGES or ours_and_impure(n)]


@pytest.fixture(scope="module")
def loaded_by() -> dict[str, list[str]]:
    """Module -> every module its import loaded; one fresh interpreter per module, all started
    at once (a quarter second each, sequentially a few seconds)."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", _LIST_LOADED, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in CHECKED
    }
    loaded = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"import {name} failed:\n{err}"
        loaded[name] = json.loads(out)
    return loaded


def test_the_check_sees_an_edge_and_an_impure_module() -> None:
    """The filter itself: an edge, a loader module and an edge's submodule are caught; the
    pure layers, package __init__s and pydantic's socket are not."""
    assert disallowed(
        [
            "composewatch",
            "composewatch.compose",
            "composewatch.compose.model",
            "composewatch.compose.loader",
            "composewatch.core.state",
            "composewatch.mapping",
            "http.client",
            "socket",
            "tarfile",
        ]
    ) == ["composewatch.compose.loader", "composewatch.mapping", "http.client", "tarfile"]


@pytest.mark.parametrize("module", CHECKED)
def test_a_pure_module_loads_no_edge_and_nothing_impure(
    module: str, loaded_by: dict[str, list[str]]
) -> None:
    assert module in loaded_by[module]
    assert disallowed(loaded_by[module]) == []


ENGINE_CLIENTS = {"docker", "requests", "paramiko", "urllib3"}
OUTSIDE_ENGINE = sorted(p for p in PACKAGE.rglob("*.py") if (PACKAGE / "engine") not in p.parents)


@pytest.mark.parametrize("path", OUTSIDE_ENGINE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_engine_layer_talks_to_docker(path: Path) -> None:
    """Every module that imports a Docker client (or its HTTP stack) lives under engine/."""
    assert imported(path) & ENGINE_CLIENTS == set()


def test_the_engine_check_sees_a_docker_import(tmp_path: Path) -> None:
    stray = tmp_path / "stray.py"
    stray.write_text("def f():\n    from docker.errors import APIError\n    return APIError\n")
    assert imported(stray) & ENGINE_CLIENTS == {"docker"}
