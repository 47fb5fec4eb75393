"""`up` driven through the core by hand (tests/unit/test_up_round.py, test_up_ahead_round.py): a
service's request, and a `Run` that steps each input at an explicit clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar, overload

from composewatch import events as ev
from composewatch.core.effects import CreateAhead, Effect, Report
from composewatch.core.images import ImageChoice, ImageStep
from composewatch.core.inputs import CreatedAhead, Input, UpRequest
from composewatch.core.phases import ProjectState
from composewatch.core.state import step

E = TypeVar("E")
PULL = ImageChoice(ImageStep.PULL, None, "the service names an image")


def request(name: str, choice: ImageChoice = PULL, **fields: object) -> UpRequest:
    base = UpRequest(name, choice, (), f"hash-{name}", 1, f"{name}:latest", f"digest-{name}")
    return replace(base, **fields)  # type: ignore[arg-type]


class Run:
    """The core driven by hand: each input stepped at `now`, effects and reports kept.

    A container asked for ahead (`CreateAhead`) is answered at once, by default as one that
    could not be made (its start then creates it, as before containers were made ahead);
    with `ahead=True` as made (`<service>-<number>-ahead`). Either way the answer's effects
    are returned with the rest, and `CreateAhead` is left out unless `ahead` is True."""

    def __init__(self, max_parallel_builds: int = 2, *, ahead: bool = False) -> None:
        self.state = ProjectState(max_parallel_builds=max_parallel_builds)
        self.now = 0.0
        self.effects: list[Effect] = []
        self.ahead = ahead

    def __call__(self, event: Input, at: float | None = None) -> list[Effect]:
        self.now = self.now if at is None else at
        self.state, effects = step(self.state, event, self.now)
        self.effects += effects
        shown: list[Effect] = []
        for effect in effects:
            if isinstance(effect, CreateAhead):
                made = f"{effect.service}-{effect.number}-ahead" if self.ahead else None
                answer = CreatedAhead(effect.service, effect.generation, effect.number, made)
                shown += [effect] if self.ahead else []
                shown += self(answer)
            elif not isinstance(effect, Report):
                shown.append(effect)
        return shown

    @overload
    def said(self) -> list[ev.Event]: ...
    @overload
    def said(self, kind: type[E]) -> list[E]: ...
    def said(self, kind: type[Any] | None = None) -> list[Any]:
        events = [e.event for e in self.effects if isinstance(e, Report)]
        return [e for e in events if kind is None or isinstance(e, kind)]

    def gen(self, name: str) -> int:
        return self.state.service(name).generation
