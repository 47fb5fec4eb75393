"""core.startup.admit by table: each service starts as soon as its own dependencies' conditions
hold, and the others say what they wait on (or why they never will start)."""

from __future__ import annotations

import pytest

from composewatch.compose.model import Project
from composewatch.core.probe import ContainerStatus
from composewatch.core.startup import Admission, Fact, admit, needs_of, optional_of

S, H, C = "service_started", "service_healthy", "service_completed_successfully"

# otel-demo's shape, shortened: a slow database, a quick cache, a one-shot migration.
NEEDS = {
    "db": {},
    "cache": {},
    "migrate": {"db": H},
    "api": {"db": H, "migrate": C},
    "web": {"cache": S},
    "worker": {"cache": H},
}
ORDER = ["db", "cache", "migrate", "api", "web", "worker"]


def running(health: str | None = None) -> ContainerStatus:
    return ContainerStatus(True, None, health, health is not None)


def exited(code: int) -> ContainerStatus:
    return ContainerStatus(False, code, None, False)


def started(status: ContainerStatus | None = None, found: bool | None = None) -> Fact:
    return Fact(started_at_s=10.0, found=found, status=status)


CASES: list[tuple[str, dict[str, Fact], list[str], Admission]] = [
    (
        "nothing started: those without dependencies start together",
        {},
        ORDER,
        Admission(
            ("db", "cache"),
            {
                "migrate": "waits for db to start",
                "api": "waits for db to start",
                "web": "waits for cache to start",
                "worker": "waits for cache to start",
            },
        ),
    ),
    (
        "cache started, db still starting: web goes, not held by db's health check",
        {"db": started(running("starting")), "cache": started(running())},
        ORDER[2:],
        Admission(
            ("web", "worker"),  # cache has no HEALTHCHECK: healthy once started
            {"migrate": "waits for db to be healthy", "api": "waits for db to be healthy"},
            poll=("db",),
        ),
    ),
    (
        "db healthy: migrate goes; api waits for migrate to complete",
        {"db": started(running("healthy")), "migrate": started(running(), found=True)},
        ["api"],
        Admission((), {"api": "waits for migrate to complete"}, poll=("migrate",)),
    ),
    (
        "migrate exited 0: api goes",
        {"db": started(running("healthy")), "migrate": started(exited(0), found=True)},
        ["api"],
        Admission(("api",)),
    ),
    (
        "migrate found failing (said already): api starts anyway, and is watched",
        {"db": started(running("healthy")), "migrate": started(exited(3), found=False)},
        ["api"],
        Admission(("api",)),
    ),
    (
        "migrate passed its check, then exited 3: api fails as compose's dependency failed",
        {"db": started(running("healthy")), "migrate": started(exited(3), found=True)},
        ["api"],
        Admission(failed={"api": "dependency migrate exited with code 3"}),
    ),
    (
        "db found healthy, then unhealthy: its dependents fail",
        {"db": started(running("unhealthy"), found=True)},
        ["migrate"],
        Admission(failed={"migrate": "dependency db is unhealthy"}),
    ),
    (
        "db unhealthy while its own check goes on: wait for that check's verdict",
        {"db": started(running("unhealthy"))},
        ["migrate"],
        Admission((), {"migrate": "waits for db to be healthy"}, poll=("db",)),
    ),
    (
        "started but not read yet: wait, and read it",
        {"db": started()},
        ["migrate"],
        Admission((), {"migrate": "waits for db to be healthy"}, poll=("db",)),
    ),
]


@pytest.mark.parametrize(
    ("facts", "pending", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_admission(facts: dict[str, Fact], pending: list[str], expected: Admission) -> None:
    assert admit(NEEDS, facts, pending, now_s=20.0, timeout_s=300.0) == expected


def test_a_condition_not_met_in_time_fails_the_dependent() -> None:
    facts = {"db": started(running("starting"))}
    assert admit(NEEDS, facts, ["migrate"], now_s=309.0, timeout_s=300.0).waiting
    late = admit(NEEDS, facts, ["migrate"], now_s=311.0, timeout_s=300.0)
    assert late.failed == {"migrate": "dependency db did not become healthy within 300 s"}


def _api_with_an_optional_tool() -> Project:
    """api needs db (required) and tool (`required: false`)."""
    return Project.model_validate(
        {
            "name": "p",
            "services": {
                "db": {"image": "x"},
                "tool": {"image": "x"},
                "api": {
                    "image": "x",
                    "depends_on": {
                        "db": {"condition": H, "required": True},
                        "tool": {"condition": S, "required": False},
                    },
                },
            },
        }
    )


def test_needs_leave_out_dependencies_not_brought_up() -> None:
    project = _api_with_an_optional_tool()
    assert needs_of(project, ["db", "api"]) == {"db": {}, "api": {"db": H}}


BUILDS: list[tuple[str, dict[str, object], Admission]] = [
    (
        "free slots go to the oldest queued builds; the rest say who holds the slots",
        {"queued": ["api", "web", "worker"], "building": ["db"], "max_builds": 3},
        Admission(
            waiting={"worker": "build slot busy (db, api, web)"},
            build=("api", "web"),
        ),
    ),
    (
        "no slot free: every queued build waits",
        {"queued": ["web"], "building": ["api"], "max_builds": 1},
        Admission(waiting={"web": "build slot busy (api)"}),
    ),
    (
        "a commit or rollback still owed holds its service, build or start",
        {"queued": ["web"], "owed": ["web", "db"], "max_builds": 2},
        Admission(
            ("cache",),
            {
                "web": "waits for its commit or rollback to be run again",
                "db": "waits for its commit or rollback to be run again",
            },
        ),
    ),
    (
        "a lost engine holds everything, builds and starts",
        {"queued": ["web"], "max_builds": 2, "engine_lost": True},
        Admission(
            waiting={
                "web": "waits for the Docker engine to return",
                "db": "waits for the Docker engine to return",
                "cache": "waits for the Docker engine to return",
            }
        ),
    ),
]


@pytest.mark.parametrize(("given", "expected"), [c[1:] for c in BUILDS], ids=[c[0] for c in BUILDS])
def test_builds_and_holds_by_the_same_admission(
    given: dict[str, object], expected: Admission
) -> None:
    pending = ["db", "cache"] if given.get("owed") or given.get("engine_lost") else []
    admission = admit(NEEDS, {}, pending, now_s=0.0, timeout_s=300.0, **given)  # type: ignore[arg-type]
    assert admission == expected


def test_a_dependencys_result_releases_what_waits_on_it() -> None:
    pending = ["migrate", "api"]
    waiting = admit(NEEDS, {"db": started(running("starting"))}, pending, 20.0, 300.0)
    assert waiting.start == () and set(waiting.waiting) == {"migrate", "api"}
    released = admit(NEEDS, {"db": started(running("healthy"))}, pending, 20.1, 300.0)
    assert released.start == ("migrate",)
    assert released.waiting == {"api": "waits for migrate to start"}


@pytest.mark.parametrize(
    ("fact", "why"),
    [
        (started(running("unhealthy"), found=True), "optional dependency db is unhealthy"),
        (started(exited(3), found=True), "optional dependency db exited with code 3"),
        (started(running("starting")), "optional dependency db did not become healthy"),
    ],
    ids=["unhealthy", "exited", "timed-out"],
)
def test_an_optional_dependency_that_fails_warns_and_lets_the_dependent_start(
    fact: Fact, why: str
) -> None:
    """`required: false`: compose warns and starts the dependent where a required one fails."""
    needs = {"db": {}, "api": {"db": H if "exited" not in why else C}}
    required = admit(needs, {"db": fact}, ["api"], now_s=400.0, timeout_s=300.0)
    assert required.failed and not required.start
    optional = admit(
        needs, {"db": fact}, ["api"], now_s=400.0, timeout_s=300.0, optional={"api": ["db"]}
    )
    assert optional.start == ("api",) and not optional.failed
    assert optional.warned["api"].startswith(why)


def test_an_optional_dependency_still_coming_up_is_waited_for() -> None:
    needs = {"db": {}, "api": {"db": H}}
    fact = started(running("starting"))
    held = admit(
        needs, {"db": fact}, ["api"], now_s=20.0, timeout_s=300.0, optional={"api": ["db"]}
    )
    assert held.waiting == {"api": "waits for db to be healthy"} and not held.start


def test_optional_of_names_the_dependencies_marked_not_required() -> None:
    project = _api_with_an_optional_tool()
    assert optional_of(project, ["db", "tool", "api"])["api"] == ("tool",)
    assert optional_of(project, ["db", "api"])["api"] == ()
