"""Write storms, by table with fake times: which changes are acted on, what is said once."""

from __future__ import annotations

from pathlib import Path

import pytest

from composewatch.core.storm import CALM_S, STORM_GAP_S, STORM_SPAN_S, WriteStorms

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
        ("a log written every 0.3 s", every(0.3, 30, {LOG}), 7, [7]),  # said at 2.1 s
        ("a log written every 30 ms", every(0.03, 300, {LOG}), 67, [67]),  # at 2.01 s
        ("ten saves 30 ms apart: a burst, the last one acted on", every(0.03, 10, {LOG}), 10, []),
        ("a file saved once a second", every(1.0, 30, {LOG}), 30, []),
        (
            "bursts of 30 saves 20 ms apart, 1.5 s between them",
            [*every(0.02, 30, {LOG}), *every(0.02, 30, {LOG}, 2.1), *every(0.02, 30, {LOG}, 4.2)],
            90,
            [],
        ),
        ("just slower than the gap, for a minute", every(STORM_GAP_S + 0.01, 120, {LOG}), 120, []),
        (
            "a storm, calm, then one save: acted on, the storm not said again",
            [*every(0.3, 12, {LOG}), (3.3 + CALM_S + 0.1, {LOG})],
            8,
            [7],
        ),
        (
            "a storm, calm, then a second storm: said once",
            [*every(0.3, 12, {LOG}), *every(0.3, 12, {LOG}, start=20.0)],
            14,
            [7],
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


def test_a_storm_that_stops_is_handed_over_once_for_its_last_state() -> None:
    storms = WriteStorms()
    for now, paths in every(0.1, 30, {LOG}):  # 3 s of a log growing ten times a second
        storms, _, _ = storms.after(paths, now)
    assert LOG in storms.storming
    storms, calmed = storms.calmed(2.9 + CALM_S - 0.1)
    assert calmed == frozenset()
    storms, calmed = storms.calmed(2.9 + CALM_S)
    assert calmed == {LOG} and LOG not in storms.storming
    assert storms.calmed(20.0)[1] == frozenset()  # once
    storms, admitted, started = storms.after({LOG}, 21.0)
    assert admitted == {LOG} and started == ()


def test_a_storm_does_not_starve_real_saves() -> None:
    # The log is written 10 times a second; the user saves app.py every 2 s meanwhile.
    batches = [
        (t / 10, {LOG, APP} if t % 20 == 0 else {LOG}) for t in range(200)
    ]  # 20 s, a save with every 20th batch
    out = feed(batches)
    saves = [admitted for admitted, _ in out if APP in admitted]
    assert len(saves) == 10  # every save acted on
    kept_up = int(STORM_SPAN_S * 10)  # the log's batches until it has kept up for the span
    assert all(LOG in admitted for admitted, _ in out[:kept_up])
    assert all(LOG not in admitted for admitted, _ in out[kept_up:])


def test_files_changed_together_once_are_no_storm() -> None:
    checkout = {Path(f"/p/src/{i}.py") for i in range(5000)}
    (admitted, started), *_ = feed([(0.0, checkout)])
    assert admitted == checkout and started == ()
