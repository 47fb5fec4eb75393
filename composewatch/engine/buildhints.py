"""What a build error the engine answered before building means, in one paragraph: a
`# syntax=` frontend it could not pull, or Dockerfile syntax newer than the engine's built-in
frontend (Engine 20.10 ships Dockerfile frontend 1.2: no heredocs, no `COPY --link`), named
by its line. Reads the Dockerfile, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from composewatch.compose.textfile import read_input_bytes
from composewatch.core.buildinputs import BuildRequest
from composewatch.engine.attachables import credentials_for
from composewatch.engine.session import GrpcError
from composewatch.errors import BuildError, ComposeFileError

__all__ = ["before_build_error", "registry_hint", "syntax_failure"]

_LINE = re.compile(r"\bline (\d+)\b")
_REFUSED_PULL = re.compile(r"pulling from host (\S+) failed with status code \[[^]]*\]: 401\b")


def before_build_error(request: BuildRequest, message: str) -> BuildError:
    """An error the engine answered before building anything: most often the Dockerfile's
    syntax, or a `# syntax=` frontend it could not pull."""
    where = request.dockerfile_path if request.dockerfile_inline is None else "dockerfile_inline"
    syntax = syntax_failure(request, message)
    if syntax is not None:
        return BuildError(
            request.service,
            f"loading the Dockerfile frontend {syntax}",
            [
                f"{where}, line 1: `# syntax={syntax}` makes BuildKit pull that frontend image "
                "from a registry, which failed; remove the line to build with the engine's "
                "built-in Dockerfile frontend, or make the image available to the engine.",
                message,
            ],
        )
    line = _LINE.search(message)
    step = f"{where}, line {line.group(1)}" if line else f"reading {where}"
    too_new, at = _newer_syntax(request, message)
    if too_new is not None:
        step = f"{where}, line {at}" if at else step
        return BuildError(
            request.service,
            step,
            [
                f"{step}: {too_new} needs Dockerfile frontend 1.4 or later (Docker Engine 23+); "
                "this engine's built-in frontend is older (Engine 20.10 ships 1.2) and a "
                "`# syntax=` line would have to pull a newer one from a registry. Way out: "
                + _WAY_OUT[too_new],
                message,
            ],
        )
    return BuildError(request.service, step, [message])


_WAY_OUT = {
    "`COPY --link`": "drop `--link` (the files copied are the same; only layer reuse differs).",
    "a heredoc (`<<EOF`)": "put the commands on the RUN line joined with `&&`, or in a script "
    "that the Dockerfile copies and runs.",
}


def _newer_syntax(request: BuildRequest, message: str) -> tuple[str | None, int | None]:
    """The Dockerfile syntax newer than the engine's frontend that `message` stumbled on, and
    its line when the message's own line is elsewhere (a heredoc's body fails, not its RUN)."""
    if "Unknown flag: link" in message:
        return "`COPY --link`", None
    if "unknown instruction" in message:
        text = (
            request.dockerfile_inline
            if request.dockerfile_inline is not None
            else _read_text(request.dockerfile_path)
        )
        for number, line in enumerate((text or "").splitlines(), 1):
            if _HEREDOC.search(line):
                return "a heredoc (`<<EOF`)", number
    return None, None


_HEREDOC = re.compile(r"^\s*(RUN|COPY|ADD)\b.*<<-?[\"']?\w+", re.IGNORECASE)


def _read_text(path: Path) -> str | None:
    try:
        return read_input_bytes(path).decode("utf-8", "replace")
    except ComposeFileError:  # unreadable, special or huge: the build itself says so
        return None


def syntax_failure(request: BuildRequest, message: str) -> str | None:
    """The `# syntax=` frontend, when the error is about getting it."""
    syntax = _syntax_directive(request)
    if syntax is None or not any(
        s in message for s in ("gateway", "resolve", "pull", "dial", "lookup", "no such host")
    ):
        return None
    return syntax


def _syntax_directive(request: BuildRequest) -> str | None:
    text = (
        request.dockerfile_inline
        if request.dockerfile_inline is not None
        else _read_text(request.dockerfile_path)
    )
    if text is None:
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            return None
        match = re.match(r"#\s*syntax\s*=\s*(\S+)", stripped, re.IGNORECASE)
        if match:
            return match.group(1)
    return None


def registry_hint(message: str) -> str | None:
    """What to do when a registry refused a pull inside the build (401): the session gave the
    engine the docker config's credentials for that host, or found none."""
    match = _REFUSED_PULL.search(message)
    if match is None:
        return None
    host = match.group(1)
    try:
        _, secret = credentials_for(host)
    except GrpcError:
        secret = ""
    found = "were refused" if secret else "are not in the docker config"
    return (
        f"credentials for the registry {host} {found} ($DOCKER_CONFIG/config.json, else "
        f"~/.docker/config.json, and its credential helpers); `docker login {host}` stores "
        "them, and the next build uses them."
    )
