"""Whether a save can update a running container in place, decided from its Dockerfile alone.

A save is copied into the running container (no build, no new container on the critical path)
only when every changed path reaches the image through COPY/ADD of the final stage (the build
`target`, else the last stage) and nothing after the first instruction that carries it can read
it: no RUN or ONBUILD after it, no earlier stage the final one depends on reads it, no bind
mount reads it, no other instruction may write its destination. Everything else rebuilds, and
the reason names the path and the Dockerfile line that decided it, as `explain` shows it:
"in place: COPY src/ ./src/ at Dockerfile:16", "rebuild: RUN at Dockerfile:18 runs after COPY
. . at Dockerfile:17, which copies app.py".

`analyse` reads the Dockerfile once per load (`copysteps`); `plan` maps one save. What a COPY
does follows BuildKit: a directory source copies its contents; a file goes to `dest/name` when
the destination is a directory (a trailing `/`, several sources, `.`, a WORKDIR), else to
`dest`; globs are Go's `filepath.Match` per path component, and a matched directory copies its
contents. Where the Dockerfile does not say (is `/usr/local/bin` a directory?), it rebuilds.

Pure: no file system, no engine. The caller tells whether a changed path is a directory and
whether a bind mount or volume covers a destination.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from composewatch.core.copysteps import Source, Step, read_steps
from composewatch.core.globs import has_magic, match_component

__all__ = ["Copy", "InPlace", "Rebuild", "Routes", "analyse", "plan"]

_Known = Callable[[str], bool | None]  # is this context path a directory? None: unknown

# ADD extracts a local tar archive (plain or compressed) it names directly, whatever its name:
# BuildKit looks at the content (a tar named data.bin was unpacked on Engine 20.10), so every
# file ADD names directly rebuilds; files inside a directory it copies are not extracted.
_ARCHIVE = re.compile(r"\.(tar|tgz|tbz2?|txz|tzst|gz|bz2|xz|zst|lz4)$", re.IGNORECASE)


@dataclass(frozen=True)
class Copy:
    """Make container path `dest` mirror host file `source` (absolute host path): its content
    and mode, owner `owner` (None = root 0:0, else the --chown spec as written, e.g. "appuser",
    "1000:1000", "app:app"), mode `mode` (None = the host file's mode; else from --chmod, e.g.
    0o644). A host file that no longer exists is deleted in the container."""

    source: Path
    dest: str  # absolute POSIX path in the container
    owner: str | None = None
    mode: int | None = None
    line: int = 0  # the Dockerfile line of the COPY/ADD that carries it


@dataclass(frozen=True)
class InPlace:
    copies: tuple[Copy, ...]
    why: str  # e.g. "in place: COPY src/ ./src/ at Dockerfile:16"


@dataclass(frozen=True)
class Rebuild:
    why: str  # e.g. "rebuild: RUN at Dockerfile:18 runs after COPY . . at Dockerfile:17"


@dataclass(frozen=True)
class Routes:
    """What `analyse` learnt from one Dockerfile (computed once per load; cheap to keep)."""

    final: tuple[Step, ...] = ()  # the final stage's steps, in order
    readers: tuple[Step, ...] = ()  # context reads of the stages the final stage depends on
    volumes: tuple[tuple[str, int], ...] = ()  # (path, line) of VOLUME in the final stage chain
    broken: str = ""  # set when the Dockerfile cannot be followed at all: every save rebuilds
    dockerfile_name: str = "Dockerfile"  # as shown in reasons, e.g. "docker/api.Dockerfile"
    # `COPY --from` / `RUN --mount=from=` names that are not stages of the build: images, or
    # named contexts (`build.additional_contexts`); a changed file under a named context
    # directory reaches the image through them, which the caller knows and this does not.
    external: tuple[str, ...] = ()


def analyse(
    dockerfile_text: str,
    *,
    target: str | None,
    build_args: Mapping[str, str | None],
    dockerfile_name: str = "Dockerfile",
) -> Routes:
    """`build_args` as the build gets them; a None value is not passed (the ARG default holds)."""
    stages = read_steps(dockerfile_text, target=target, build_args=build_args, name=dockerfile_name)
    return Routes(
        stages.final,
        stages.readers,
        stages.volumes,
        stages.broken,
        dockerfile_name,
        stages.external,
    )


def plan(
    routes: Routes,
    context: Path,
    changed: Iterable[Path],
    *,
    covered: Callable[[str], bool] = lambda dest: False,
    is_dir: Callable[[Path], bool] | None = None,
) -> InPlace | Rebuild:
    """In place (the copies to make) or rebuild, for one save of `changed` (absolute paths).

    `is_dir` says whether a path in the context is a directory now (the caller's `stat`; a
    deleted path is not). Without it, a changed path is taken for a file, and a COPY source
    for a directory unless its name has an extension (`conf.d` is then taken for a file)."""

    def known(rel: str) -> bool | None:
        return None if is_dir is None else is_dir(context / rel)

    copies: dict[str, Copy] = {}
    carriers: dict[int, Step] = {}
    untouched: list[str] = []
    for path in sorted(set(changed), key=str):
        routed = _route(routes, context, path, covered, known)
        if isinstance(routed, Rebuild):
            return routed
        if not routed:
            untouched.append(path.as_posix())
        for copy, step in routed:
            copies[copy.dest] = copy
            carriers[step.line] = step
    name = routes.dockerfile_name
    if carriers:
        why = ", ".join(f"{step.text} at {name}:{line}" for line, step in sorted(carriers.items()))
    elif untouched:
        more = f" (and {len(untouched) - 1} more)" if len(untouched) > 1 else ""
        why = f"nothing in {name} copies {_shown(Path(untouched[0]), context)}{more}"
    else:
        why = "nothing changed"
    return InPlace(tuple(copies[dest] for dest in sorted(copies)), f"in place: {why}")


def _shown(path: Path, context: Path) -> str:
    try:
        return path.relative_to(context).as_posix()
    except ValueError:
        return path.as_posix()


def _route(
    routes: Routes,
    context: Path,
    path: Path,
    covered: Callable[[str], bool],
    known: _Known,
) -> Rebuild | list[tuple[Copy, Step]]:
    """How `path` reaches the image: the copies that update it, or why it needs a rebuild."""
    name, rel = routes.dockerfile_name, _shown(path, context)
    refused = _refused(routes, context, path, rel)
    if refused:
        return Rebuild(f"rebuild: {refused}")
    for step in routes.readers:
        if _touches(step.sources, rel):
            verb = "may read" if step.sources is None else "reads"
            return Rebuild(f"rebuild: {step.text} at {name}:{step.line}{_in(step)} {verb} {rel}")
    carried = _carried(routes, rel, bool(known(rel)))
    if isinstance(carried, str):
        return Rebuild(f"rebuild: {carried}")
    if carried:
        first_index, first = carried[0][0], carried[0][1]
        for step in routes.final[first_index + 1 :]:
            if step.kind == "run":
                return Rebuild(
                    f"rebuild: {step.text} at {name}:{step.line} runs after {first.text} at"
                    f" {name}:{first.line}, which copies {rel}"
                )
    for step in routes.final:
        if step.kind == "read" and _touches(step.sources, rel):
            return Rebuild(f"rebuild: {step.text} at {name}:{step.line} reads {rel}")
    last: dict[str, Step] = {}  # the last instruction that puts the file at a path decides
    for _, step, targets in carried:
        for dest, direct in targets:
            if step.add and direct:
                verb = "extracts" if _ARCHIVE.search(rel) else "may extract"
                return Rebuild(f"rebuild: {step.text} at {name}:{step.line} {verb} {rel}")
            last[dest] = step
    result = []
    for dest, step in last.items():
        blocked = _blocked(routes, dest, rel, covered, known)
        if blocked:
            return Rebuild(f"rebuild: {blocked}")
        result.append((Copy(path, dest, step.owner, step.mode, step.line), step))
    return result


def _refused(routes: Routes, context: Path, path: Path, rel: str) -> str:
    """Why `path` rebuilds whatever the instructions say ("" if it does not)."""
    name = routes.dockerfile_name
    dockerfile = Path(posixpath.normpath((context / name).as_posix()))
    if path == dockerfile:
        return f"{name} changed"
    ignores = (context / ".dockerignore", dockerfile.with_name(dockerfile.name + ".dockerignore"))
    for ignore in ignores:
        if path == ignore:
            return f"{_shown(ignore, context)} changed"
    if routes.broken:
        return routes.broken.removeprefix("rebuild: ")
    if rel == path.as_posix() or ".." in rel.split("/"):
        return f"{rel} is outside the build context"
    if rel == ".":
        return "the whole build context changed"
    return ""


def _carried(
    routes: Routes, rel: str, path_is_dir: bool
) -> str | list[tuple[int, Step, list[tuple[str, bool]]]]:
    """The final stage's copies that carry `rel`: (index, step, its targets); or why unknown."""
    name = routes.dockerfile_name
    carried = []
    for index, step in enumerate(routes.final):
        if step.problem and _touches(step.sources, rel):
            return (
                f"cannot follow {step.text} at {name}:{step.line} ({step.problem}),"
                f" which may copy {rel}"
            )
        if step.kind == "copy":
            targets = _targets(step, rel, path_is_dir)
            if isinstance(targets, str):
                return f"cannot follow {step.text} at {name}:{step.line} ({targets})"
            if targets:
                carried.append((index, step, targets))
    return carried


def _in(step: Step) -> str:
    return f" in stage {step.stage}" if step.stage else " in an earlier stage"


def _blocked(
    routes: Routes, dest: str, rel: str, covered: Callable[[str], bool], known: _Known
) -> str:
    """Why copying `rel` to `dest` would not give what a build gives ("" if it would)."""
    name = routes.dockerfile_name
    if covered(dest):
        return f"a bind mount or volume over {dest}"
    for volume, line in routes.volumes:
        if _under(dest, volume):
            return f"VOLUME at {name}:{line} is over {dest}"
    for step in routes.final:
        if step.kind == "write" and (
            not step.dest or _under(dest, step.dest) or (known(rel) and _under(step.dest, dest))
        ):
            return f"{step.text} at {name}:{step.line} also writes {dest}"
        if step.kind == "copy" and _may_write(step, dest, rel, known):
            return f"{step.text} at {name}:{step.line} may also write {dest}"
    return ""


def _targets(step: Step, rel: str, rel_is_dir: bool) -> list[tuple[str, bool]] | str:
    """Where `step` puts context path `rel` as (dest, rel is a source itself); or why unknown."""
    out: list[tuple[str, bool]] = []
    parts = rel.split("/")
    for source in step.sources or ():
        if source.pattern == ".":
            out.append((posixpath.join(step.dest, rel), False))
            continue
        pattern = source.pattern.split("/")
        if not all(match_component(p, r) for p, r in zip(pattern, parts, strict=False)):
            continue
        if len(parts) < len(pattern):
            return f"{rel} holds what it copies"
        tail = parts[len(pattern) :]
        if tail:  # inside a copied directory: its contents go into dest
            out.append((posixpath.join(step.dest, *tail), False))
        elif rel_is_dir or source.as_dir:
            return f"{rel} is copied as a whole"
        elif step.into_dir:
            out.append((posixpath.join(step.dest, parts[-1]), True))
        elif has_magic(source.pattern):
            return f"a glob into {step.dest}, a file or a directory"
        elif _same_kind(parts[-1], posixpath.basename(step.dest)):
            out.append((step.dest, True))
        else:
            return f"{step.dest} may be a directory"
    return out


def _may_write(step: Step, dest: str, rel: str, known: _Known) -> bool:
    """Whether `step` may write `dest` from a context path other than `rel`."""
    if not step.dest or step.sources is None:
        return True
    if dest == step.dest:
        return any(has_magic(s.pattern) or s.pattern != rel for s in step.sources)
    if not _under(dest, step.dest):
        return False
    rest = posixpath.relpath(dest, step.dest)
    for source in step.sources:
        if source.pattern == ".":
            if rest != rel:
                return True
            continue
        head, last = posixpath.split(source.pattern)
        # A file lands in dest/ by its name (a dest without "/" may be a directory too).
        if "/" not in rest and match_component(last, rest):
            candidate = posixpath.join(head, rest)
            if has_magic(head) or candidate != rel:
                return True
        is_dir = None if has_magic(source.pattern) else known(source.pattern)
        may_be_dir = source.as_dir or is_dir or (is_dir is None and not posixpath.splitext(last)[1])
        if may_be_dir and (
            has_magic(source.pattern) or posixpath.join(source.pattern, rest) != rel
        ):
            return True
    return False


def _touches(sources: tuple[Source, ...] | None, rel: str) -> bool:
    """Whether reading `sources` reads `rel`, something inside it, or a directory holding it."""
    if sources is None:
        return True
    parts = rel.split("/")
    return any(
        source.pattern == "."
        or all(
            match_component(p, r) for p, r in zip(source.pattern.split("/"), parts, strict=False)
        )
        for source in sources
    )


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _same_kind(source_name: str, dest_name: str) -> bool:
    """A file copied to a path without a trailing "/" lands at that path, unless the path is
    an existing directory; a destination named like the file (or with its extension) is taken
    to be the file's new name."""
    extension = posixpath.splitext(source_name)[1]
    return source_name == dest_name or (bool(extension) and dest_name.endswith(extension))
