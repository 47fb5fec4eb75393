"""One of each event the UIs show, for the tests of the console, the JSON lines and the plain
lines on a pipe (`test_cli_ui`, `test_plainout`)."""

from __future__ import annotations

from composewatch import events as ev

__all__ = ["EVERY_EVENT"]

EVERY_EVENT: list[ev.Event] = [
    ev.BuildStarted("web", ("/p/app.py",)),
    ev.BuildQueued("web", ("api", "worker")),
    ev.Held("web", "waits for db to be healthy"),
    ev.BuildLog("web", "Step 1/3"),
    ev.BuildFinished("web", 0.21),
    ev.BuildSuperseded("web"),
    ev.BuildUnchanged("web"),
    ev.BuildFailed("web", "RUN pip install", ("E: no such package",)),
    ev.SwapFailed("web", "port taken"),
    ev.SyncFailed("web", "no container"),
    ev.RolledBack("web", "HTTP 500"),
    ev.Unhealthy("web", "exited 1", ("Traceback", "boom")),
    ev.ProbeFailed("web", 40, 1.52, 'exec: "timeout": executable file not found', True),
    ev.ProbeRecovered("web", 41, 3.1),
    ev.Live("web", 0.73, (("detect", 0.04), ("building", 0.2))),
    ev.UpdateStarted("web", ("/p/app.py",), "in place: COPY . . at Dockerfile:5"),
    ev.Live("web", 0.41, (("detect", 0.04), ("copy", 0.01), ("restart", 0.3)), "in place"),
    ev.BuildStarted("web", ("/p/app.py",), "the image catches up", background=True),
    ev.ImageCaughtUp("web", 0.52),
    ev.ServiceStarted("web", "abc123", False, 1.5),
    ev.Watching(("/p",), ("web",)),
    ev.CommandFinished(None, "ext .py", "a.py", "python a.py", 1, "boom\n", 0.05),
    ev.Note("hello", "warning"),
]
