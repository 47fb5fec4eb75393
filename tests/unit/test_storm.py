"""Write storms, by table with fake times: which changes are acted on, what is said once."""

from __future__ import annotations

from pathlib import Path

import pytest

from composewatch.core.storm import CALM_S, STORM_BATCHES, STORM_WINDOW_S, WriteStorms

LOG, APP = Path("/p/cw.log"), Path("/p/app.py")


def feed(batches: list[tuple[float, set[Path]]]) -> list[tuple[set[Path], tuple[Path, ...]]]:
    storms = WriteStorms()
    out = []
    for now, paths in batches:
        storms, admitted, started = storms.after(paths, now)
        out.append((set(admitted), started))
    return out


def every(
    seconds: float, count: int, paths: set[Path], start: float = 0.0
) -> list[tuple[float, set[Path]]]:
    return [(start + i * seconds, set(paths)) for i in range(count)]


@pytest.mark.parametrize(
    ("name", "batches", "acted", "said"),
    [
        # (what, batches as (time, paths), how many batches had LOG acted on, when it is said)
        ("a log written 3 times a second", every(1 / 3, 30, {LOG}), STORM_BATCHES - 1, [5]),
        ("a log written 30 times a second", every(1 / 30, 300, {LOG}), STORM_BATCHES - 1, [5]),
        ("a file saved once a second", every(1.0, 30, {LOG}), 30, []),
        ("five quick saves, then a pause", every(0.1, 5, {LOG}), 5, []),
        (
            "a storm, calm, then one save: acted on, the storm not said again",
            [*every(0.2, 10, {LOG}), (2.0 + CALM_S + STORM_WINDOW_S, {LOG})],
            STORM_BATCHES,
            [5],
        ),
        (
            "a storm, calm, then a second storm: said once",
            [*every(0.2, 10, {LOG}), *every(0.2, 10, {LOG}, start=20.0)],
            2 * (STORM_BATCHES - 1),
            [5],
        ),
    ],
)
def test_storms_by_table(
    name: str, batches: list[tuple[float, set[Path]]], acted: int, said: list[int]
) -> None:
    out = feed(batches)
    assert sum(LOG in admitted for admitted, _ in out) == acted, name
    assert [i for i, (_, started) in enumerate(out) if started] == said, name
    assert all(started in ((), (LOG,)) for _, started in out)


def test_a_storm_does_not_starve_real_saves() -> None:
    # The log is written 10 times a second; the user saves app.py every 2 s meanwhile.
    batches = [
        (t / 10, {LOG, APP} if t % 20 == 0 else {LOG}) for t in range(200)
    ]  # 20 s, a save with every 20th batch
    out = feed(batches)
    saves = [admitted for admitted, _ in out if APP in admitted]
    assert len(saves) == 10  # every save acted on
    assert all(LOG not in admitted for admitted, _ in out[STORM_BATCHES:])


def test_files_changed_together_once_are_no_storm() -> None:
    checkout = {Path(f"/p/src/{i}.py") for i in range(5000)}
    (admitted, started), *_ = feed([(0.0, checkout)])
    assert admitted == checkout and started == ()
