"""Hints, once each: a big build context (naming its largest folders), health judged only by
"running", a slow phase."""

from __future__ import annotations

from pathlib import Path

import pytest

from composewatch import events as ev
from composewatch.compose.model import Healthcheck, Service
from composewatch.core.ignore import IgnoreRules, parse_ignore
from composewatch.health import ProbeKind, ProbePlan
from composewatch.hints import (
    HintingUI,
    context_hint,
    has_healthcheck,
    health_hint,
    load_context_sizes,
    slow_phase_hint,
)

MB = 1024 * 1024


def test_small_context_says_nothing() -> None:
    assert context_hint("web", {"app.py": 2000, "static/": 4 * MB}) is None


def test_big_context_names_the_largest_folders() -> None:
    hint = context_hint(
        "web", {"node_modules/": 40 * MB, "data/": 8 * MB, "app.py": 1000, ".git/": 3 * MB, "x/": 1}
    )
    assert hint is not None
    assert "51.0 MB" in hint
    assert "largest: node_modules/ (40.0 MB), data/ (8.0 MB), .git/ (3.0 MB)." in hint


def _rules(*patterns: str) -> IgnoreRules:
    return parse_ignore("\n".join(patterns), ".dockerignore")


def test_context_sizes_leave_out_what_dockerignore_excludes(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "node_modules" / "pkg" / "big.js").write_bytes(b"x" * 5000)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_bytes(b"x" * 300)
    (tmp_path / "src" / "b.log").write_bytes(b"x" * 700)
    (tmp_path / "Dockerfile").write_bytes(b"x" * 10)
    assert load_context_sizes(tmp_path, _rules()) == {
        "node_modules/": 5000,
        "src/": 1000,
        "Dockerfile": 10,
    }
    assert load_context_sizes(tmp_path, _rules("node_modules", "**/*.log")) == {
        "src/": 300,
        "Dockerfile": 10,
    }
    kept = load_context_sizes(tmp_path, _rules("node_modules", "!node_modules/pkg/big.js"))
    assert kept["node_modules/"] == 5000


RUNNING = ProbePlan(ProbeKind.RUNNING, 60.0)


@pytest.mark.parametrize(
    ("plan", "healthcheck", "says"),
    [
        (RUNNING, False, True),
        (RUNNING, True, False),
        (ProbePlan(ProbeKind.HTTP, 60.0, container_port=80), False, False),
    ],
)
def test_health_hint(plan: ProbePlan, healthcheck: bool, says: bool) -> None:
    hint = health_hint("worker", plan, healthcheck)
    assert (hint is not None) is says
    if hint:
        assert "x-composewatch.services.worker.health" in hint


@pytest.mark.parametrize(
    ("check", "dockerfile", "image", "expected"),
    [
        (Healthcheck(test=["CMD", "true"]), None, None, True),
        (Healthcheck(disable=True), "HEALTHCHECK CMD true", None, False),
        (None, "FROM x\nHEALTHCHECK --interval=1s CMD true\n", None, True),
        (None, "FROM x\nHEALTHCHECK NONE\n", None, False),
        (None, None, {"Healthcheck": {"Test": ["CMD-SHELL", "true"]}}, True),
        (None, None, {"Healthcheck": {"Test": ["NONE"]}}, False),
        (None, None, None, False),
    ],
)
def test_has_healthcheck(
    check: Healthcheck | None,
    dockerfile: str | None,
    image: dict[str, object] | None,
    expected: bool,
) -> None:
    service = Service(image="x", healthcheck=check)
    assert has_healthcheck(service, dockerfile, image) is expected


@pytest.mark.parametrize(
    ("phase", "seconds", "says"),
    [
        ("build", 20.0, "Dockerfile"),
        ("build", 5.0, None),
        ("stop", 4.0, "init: true"),
        ("checking", 12.0, "cheaper URL"),
        ("create", 99.0, None),
    ],
)
def test_slow_phase_hint(phase: str, seconds: float, says: str | None) -> None:
    hint = slow_phase_hint("web", phase, seconds)
    assert (hint is None) if says is None else (hint is not None and says in hint)


def test_slow_phase_hint_is_said_once_per_service_and_phase() -> None:
    seen: list[ev.Event] = []
    ui = HintingUI(lambda event: seen.append(event))
    slow = ev.Live("web", 5.0, (("detect", 0.05), ("stop", 4.5)))
    ui(slow)
    ui(slow)
    notes = [e for e in seen if isinstance(e, ev.Note)]
    assert len(notes) == 1 and notes[0].message.startswith("web: stop took 4.5 s")
    assert seen.count(slow) == 2
