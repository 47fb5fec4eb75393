"""`up` is never silent while it waits: a dependency whose healthcheck takes a while is said
within 2 s (what it waits for, the attempts) and once more when it passes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from test_session import Recorder, make_session

from composewatch import events as ev

COMPOSE = """
services:
  db:
    image: busybox:latest
    init: true
    command: [sh, -c, "sleep 4; touch /tmp/ready; exec sleep 3600"]
    healthcheck:
      test: [CMD, test, -f, /tmp/ready]
      interval: 1s
      start_period: 30s
  web:
    image: busybox:latest
    init: true
    command: [sleep, "3600"]
    depends_on:
      db: {condition: service_healthy}
x-composewatch:
  services:
    db:
      health: {probe: running}
"""


def test_a_dependency_that_is_slow_to_be_healthy_is_said_within_2_s(
    tmp_path: Path, project_name: str
) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    recorder = Recorder()
    said_at: dict[int, float] = {}

    def heard(event: ev.Event) -> None:
        said_at[len(recorder.events)] = time.monotonic()
        recorder(event)

    session = make_session(tmp_path, project_name, recorder)
    session.ui = heard
    began = time.monotonic()
    assert asyncio.run(session.up(watch=False))
    failed = recorder.of(ev.ProbeFailed, "db")
    assert failed, recorder.events
    first = recorder.events.index(failed[0])
    assert isinstance(failed[0], ev.ProbeFailed) and failed[0].first
    assert failed[0].reason == "Docker healthcheck: starting; web waits until it is healthy"
    db_started = next(i for i, e in enumerate(recorder.events) if isinstance(e, ev.ServiceStarted))
    assert said_at[first] - said_at[db_started] < 2.0  # said within 2 s of the wait's start
    assert recorder.of(ev.ProbeRecovered, "db") and recorder.of(ev.ServiceStarted, "web")
    print(f"\nwait said after {said_at[first] - began:.1f} s of up")
