"""The BuildKit session a build joins (`engine.session`): registry credentials, the build
context and its Dockerfile sent through FileSync (`remote=client-session`), and whatever else
the build needs (secrets, ssh agents). Opened for one build and closed with it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import docker

from composewatch.core.buildinputs import BuildRequest
from composewatch.engine.attachables import auth_service
from composewatch.engine.buildcontext import ContextSelection
from composewatch.engine.filesync import (
    SyncStats,
    context_entries,
    file_entries,
    filesync_service,
)
from composewatch.engine.session import (
    Service,
    Session,
    SessionError,
    engine_dialer,
    health_service,
)
from composewatch.errors import BuildError

__all__ = ["JoinedSession", "open_build_session"]


@dataclass(frozen=True)
class JoinedSession:
    """The session a build joins, and the context it sends in place of a tar."""

    id: str
    dockerfile: str  # the Dockerfile's name in the session's `dockerfile` folder
    stats: SyncStats


def open_build_session(
    api: docker.APIClient,
    request: BuildRequest,
    selection: ContextSelection,
    services: Sequence[Service],
    stack: contextlib.ExitStack,
    on_log: Callable[[str], None],
) -> JoinedSession | None:
    """A session open for the build's duration, offering credentials, the context and the
    Dockerfile (`remote=client-session`), and `services`; None (the context goes as a tar)
    when the engine refuses it and the build needs nothing but those."""
    dockerfile = selection.dockerfile.rsplit("/", 1)[-1]
    stats = SyncStats()
    folders = {
        "context": context_entries(selection, request.context),
        "dockerfile": file_entries({dockerfile: _dockerfile_bytes(request, selection)}),
    }
    dial, host = engine_dialer(api)
    session = Session(
        dial, [auth_service(), health_service(), filesync_service(folders, stats), *services],
        api_version=api.api_version, host=host, shared_key=_shared_key(request),
    )  # fmt: skip
    try:
        stack.enter_context(session)
    except SessionError as exc:
        if request.needs_session:
            raise BuildError(request.service, "opening the BuildKit session", [str(exc)]) from None
        on_log(f"(no BuildKit session: the context goes as a tar, with no credentials: {exc})")
        return None
    return JoinedSession(session.id, dockerfile, stats)


def _shared_key(request: BuildRequest) -> str:
    """One key per context folder, as the docker CLI derives it: the engine diffs each
    transfer against the last one made under the same key."""
    return hashlib.sha256(f"composewatch:{request.context.resolve()}".encode()).hexdigest()


def _dockerfile_bytes(request: BuildRequest, selection: ContextSelection) -> bytes:
    for member in selection.members:
        if member.name == selection.dockerfile:
            if member.data is not None:
                return member.data
            assert member.path is not None
            try:
                return member.path.read_bytes()
            except OSError as exc:
                raise BuildError(request.service, "reading the Dockerfile", [str(exc)]) from None
    raise BuildError(request.service, "reading the Dockerfile", ["not in the build context"])
