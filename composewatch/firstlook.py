"""`up`'s first look at the engine, in flight while the rest of the watcher loads.

`up` spends its first few tenths of a second importing and setting up what it runs (the core,
the executor, the file watcher, the UI) and arming the watches, and only then asks the engine
what the project has. The engine's part of that first observation does not depend on any of
it: the project's containers, its networks and volumes (created when missing, as `up`
always does before a container is made). `FirstLook` asks for them on a thread of its own as
soon as the checks that must come first have passed (the inputs, the engine's features, the
watcher's lock), and `UpObserver` takes the answer as its first observation instead of
asking again. Observation and resources only, exactly what `UpObserver` asked in the same
order: nothing here decides, and the files (the context digests) are read after the
watches are armed, as before.

Light on purpose: importing this module must not import the watcher (`app`). Which services `up`
brings is decided in `core.startup.selected_services`."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from composewatch.compose.model import LoadedProject
    from composewatch.engine.containers import ContainerInfo, Engine

__all__ = ["FirstLook", "observe_project"]


def observe_project(engine: Engine, loaded: LoadedProject) -> list[ContainerInfo]:
    """The project's containers; then its networks and volumes, made when missing."""
    found = engine.observe(loaded.project.name)
    engine.ensure_networks(loaded)
    engine.ensure_volumes(loaded)
    return found


class FirstLook:
    """`observe_project`, started now on a daemon thread (Ctrl-C never waits for it); its
    outcome, a result or the error it raised, is taken once (`take`)."""

    def __init__(self, engine: Engine, loaded: LoadedProject) -> None:
        self._outcome: Future[list[ContainerInfo]] | None = Future()
        outcome = self._outcome

        def look() -> None:
            try:
                outcome.set_result(observe_project(engine, loaded))
            except BaseException as exc:  # raised where `up` takes it, as if asked there
                outcome.set_exception(exc)

        threading.Thread(target=look, name="first-look", daemon=True).start()

    def take(self) -> Future[list[ContainerInfo]] | None:
        """The first look's outcome the first time; None after (observe again then)."""
        outcome, self._outcome = self._outcome, None
        return outcome
