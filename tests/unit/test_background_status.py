"""The status file a watcher keeps for `status`: written from many threads, never fatal."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from fakes import ListSink

from composewatch import events as ev
from composewatch.background import StatusRecorder, WatcherFiles


def test_events_from_many_threads_keep_the_status_file_whole(tmp_path: Path) -> None:
    # Found by the benchmark: two threads renaming one shared temporary file crashed `up`.
    files = WatcherFiles.of("p", tmp_path)
    files.status.parent.mkdir(parents=True)
    files.status.write_text(json.dumps({"pid": 1, "last": None, "last_live": None}))
    sink = ListSink()
    recorder = StatusRecorder(sink, files)
    errors: list[BaseException] = []

    def report(n: int) -> None:
        try:
            for i in range(50):
                recorder(ev.Note(f"thread {n} event {i}"))
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(sink.events) == 400
    assert json.loads(files.status.read_text())["last"]["type"] == "Note"
    assert list(files.status.parent.glob("*.tmp")) == []


def test_an_unwritable_status_file_never_stops_the_watcher(tmp_path: Path) -> None:
    files = WatcherFiles.of("p", tmp_path / "missing")
    sink = ListSink()
    StatusRecorder(sink, files)(ev.Note("still shown"))
    assert sink.events == [ev.Note("still shown")]
