"""Fakes for the shell's edges: record calls, script results. No Docker, no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from composewatch import events as ev
from composewatch.core.effects import CancelBuild, Effect
from composewatch.core.inputs import EffectFailed, Input
from composewatch.engine.context import DEFAULT_HOST, Endpoint


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ListSink:
    """A UI that keeps every event."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]


class FakeRunner:
    """An EffectRunner whose answer to each effect is scripted: a function of the effect that
    returns the next input, returns None, or raises. Effects are recorded in order; an effect
    type listed in `held` waits until `release()`."""

    def __init__(self, script: Callable[[Effect], Input | None]) -> None:
        self.script = script
        self.ran: list[Effect] = []
        self.cancelled: list[CancelBuild] = []
        self.sink = ListSink()
        self.held: set[type] = set()
        self.gate = asyncio.Event()

    async def run(self, effect: Effect) -> Input | None:
        self.ran.append(effect)
        if type(effect) in self.held:
            await self.gate.wait()
        return self.script(effect)

    def cancel_build(self, effect: CancelBuild) -> None:
        self.cancelled.append(effect)

    def report(self, event: ev.Event) -> None:
        self.sink(event)

    def failure(self, effect: Effect, exc: Exception) -> EffectFailed:
        return EffectFailed(
            effect, f"{type(exc).__name__}: {exc}", isinstance(exc, ConnectionError)
        )

    def release(self) -> None:
        self.gate.set()


class FakeEngine:
    """Stands in for `containers.Engine`: containers are names and states in a dict; every
    call is recorded as (method, args); `fail[method]` makes that call raise (once, or
    `always`)."""

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, object]] = {}  # id -> {name, running, exit, logs}
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.fail: dict[str, Exception] = {}
        self.always: set[str] = set()
        # Raise this for calls the predicate picks: (method, args) -> exception or None.
        self.fail_when: Callable[[str, tuple[object, ...]], Exception | None] = (
            lambda method, args: None
        )
        self._next = 0
        self.endpoint = Endpoint(DEFAULT_HOST, "default", "default")  # a local engine
        # What a command run in a container answers: (cid, command) -> (exit code, output).
        self.exec_answers: Callable[[str, list[str]], tuple[int, str]] = lambda cid, cmd: (0, "")

    def _call(self, method: str, *args: object) -> None:
        self.calls.append((method, args))
        picked = self.fail_when(method, args)
        if picked is not None:
            raise picked
        if method in self.fail:
            exc = self.fail[method] if method in self.always else self.fail.pop(method)
            raise exc

    def peers(self, project_name: str, services: set[str]) -> dict[str, list[Any]]:
        """No service's containers are named by the fixtures' specs."""
        if services:
            self._call("peers", project_name, frozenset(services))
        return {}

    def add(self, name: str, *, running: bool = True) -> str:
        self._next += 1
        cid = f"c{self._next}"
        self.containers[cid] = {"name": name, "running": running, "exit": None, "logs": ()}
        return cid

    def by_name(self, name: str) -> str | None:
        return next((c for c, v in self.containers.items() if v["name"] == name), None)

    def names(self) -> dict[str, bool]:
        return {str(v["name"]): bool(v["running"]) for v in self.containers.values()}

    # the Engine methods the executor uses ──────────────────────────────────────────────

    def create(self, spec: object, *, temp_name: str | None = None) -> str:
        name = temp_name or str(getattr(spec, "name", ""))
        self._call("create", name)
        if self.by_name(name) is not None:
            raise RuntimeError(f"container name {name} already in use")
        return self.add(name, running=False)

    def start(self, cid: str) -> None:
        self._call("start", cid)
        self.containers[self._id(cid)]["running"] = True

    def stop(self, cid: str, timeout_s: float) -> None:
        self._call("stop", cid)
        if self._id(cid) in self.containers:
            self.containers[self._id(cid)]["running"] = False

    def remove(self, cid: str) -> None:
        self._call("remove", cid)
        self.containers.pop(self._id(cid), None)

    def rename(self, cid: str, name: str) -> None:
        self._call("rename", cid, name)
        self.containers[self._id(cid)]["name"] = name

    def container_name(self, cid: str) -> str | None:
        self._call("container_name", cid)
        found = self.containers.get(self._id(cid))
        return str(found["name"]) if found else None

    def status(self, cid: str) -> object:
        from composewatch.health import ContainerStatus

        self._call("status", cid)
        found = self.containers.get(self._id(cid))
        if found is None:
            return ContainerStatus(False, None, None, False)
        code = found["exit"]
        return ContainerStatus(
            bool(found["running"]), code if isinstance(code, int) else 0, None, False
        )

    def logs_tail(self, cid: str, lines: int) -> tuple[str, ...]:
        self._call("logs_tail", cid)
        found = self.containers.get(self._id(cid))
        return tuple(found["logs"])[-lines:] if found else ()  # type: ignore[arg-type]

    def published_url(self, cid: str, port: int | None, path: str) -> str | None:
        self._call("published_url", cid)
        return None

    def ignores_sigterm(self, cid: str) -> bool:
        return True

    def exec_output(self, cid: str, command: list[str]) -> tuple[int, str]:
        self._call("exec_output", cid, tuple(command))
        return self.exec_answers(cid, command)

    def _id(self, ref: str) -> str:
        return ref if ref in self.containers else (self.by_name(ref) or ref)
