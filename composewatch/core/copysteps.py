"""The steps of a Dockerfile's build that touch build-context files, stage by stage.

`read_steps` walks the stages BuildKit builds for a target (the final stage and, transitively,
the stages it names in `FROM`, `COPY --from` and `RUN --mount=from=`; stages after the target
are not built) and keeps, in order, what `composewatch.core.inplace` needs to decide whether a
save can be copied into a running container: the final stage's copies from the context (sources,
destination resolved against WORKDIR and the ARG/ENV scope, `--chown`, `--chmod`), its other
writers (`COPY --from`, heredocs, URLs), its RUN/ONBUILD instructions and bind mounts; and
every context read of the stages it depends on. Anything it cannot follow is kept with the
reason (`problem`) instead of guessed.

Pure: text in, steps out.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from composewatch.core.dockerparse import Instruction, Unresolved, expand, parse_instructions
from composewatch.core.dockerparse import split_words as _split_words

__all__ = ["Source", "Stages", "Step", "read_steps"]

_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@)", re.IGNORECASE)
_COPY_FLAGS = {"from", "chown", "chmod", "link", "checksum", "keep-git-dir", "unpack"}


@dataclass(frozen=True)
class Source:
    pattern: str  # cleaned, context-relative ("." = the whole context); may be a glob
    as_dir: bool = False  # written with a trailing "/"


@dataclass(frozen=True)
class Step:
    """One instruction, as far as it concerns context files.

    kind: "copy" (COPY/ADD from the context), "write" (writes `dest` from elsewhere: COPY
    --from, a heredoc, a URL), "run" (RUN or ONBUILD: may read anything already copied) or
    "read" (reads the context without copying it: a bind mount, a copy in another stage).
    """

    kind: str
    line: int
    text: str
    stage: str = ""  # named in reasons when not the final stage
    sources: tuple[Source, ...] | None = ()  # None: any context file (unresolved)
    dest: str = ""  # absolute container path; "" when unknown
    into_dir: bool = False  # dest is certainly a directory
    owner: str | None = None
    mode: int | None = None
    problem: str = ""  # why the copy cannot be followed
    add: bool = False  # ADD: a directly named local archive is extracted


@dataclass(frozen=True)
class Stages:
    final: tuple[Step, ...] = ()
    readers: tuple[Step, ...] = ()  # context reads of the stages the final stage depends on
    volumes: tuple[tuple[str, int], ...] = ()  # VOLUME paths of the final stage chain
    broken: str = ""
    external: tuple[str, ...] = ()  # `--from` names that are not stages (images, named contexts)


@dataclass
class _Scope:
    args: dict[str, str | None] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)  # None: set to an unknown value
    workdir: str | None = "/"
    dirs: set[str] = field(default_factory=lambda: {"/"})
    volumes: list[tuple[str, int]] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        merged = {**self.args, **self.env}  # ENV wins over ARG of the same name
        return {name: value for name, value in merged.items() if value is not None}

    def child(self) -> _Scope:  # FROM <stage>: ENV, WORKDIR (and VOLUME) carry over, ARG not
        return _Scope({}, dict(self.env), self.workdir, set(self.dirs), list(self.volumes))


@dataclass
class _Stage:
    name: str
    line: int
    base: int | None  # index of the stage named in FROM
    body: list[Instruction]
    steps: list[Step] = field(default_factory=list)
    needs: set[int] = field(default_factory=set)
    external: set[str] = field(default_factory=set)  # `--from` names that are not stages
    scope: _Scope = field(default_factory=_Scope)


def read_steps(
    text: str, *, target: str | None, build_args: Mapping[str, str | None], name: str
) -> Stages:
    given = {key: value for key, value in build_args.items() if value is not None}
    instructions = parse_instructions(text)
    global_args: dict[str, str | None] = {}
    stages: list[_Stage] = []
    for ins in instructions:
        if ins.unterminated:
            return Stages(broken=f"rebuild: a heredoc at {name}:{ins.line} has no end")
        if ins.keyword == "FROM":
            stage = _stage(ins, stages, global_args)
            if stage is None:
                return Stages(broken=f"rebuild: cannot follow FROM at {name}:{ins.line}")
            stages.append(stage)
        elif not stages:
            if ins.keyword == "ARG":
                known = {key: value for key, value in global_args.items() if value is not None}
                _declare(ins, global_args, given, known, {})
        else:
            stages[-1].body.append(ins)
    if not stages:
        return Stages(broken=f"rebuild: {name} has no FROM")
    final = len(stages) - 1
    if target:
        final = next((i for i, s in enumerate(stages) if s.name == target.lower()), -1)
        if final < 0:
            return Stages(broken=f"rebuild: {name} has no stage named {target!r}")
    names = {stage.name: index for index, stage in enumerate(stages) if stage.name}
    for index in range(final + 1):
        stage = stages[index]
        base = stages[stage.base].scope.child() if stage.base is not None else _Scope()
        stage.scope = base
        for ins in stage.body:
            _dispatch(ins, stage, index, names, global_args, given)
    needed, todo = {final}, [final]
    while todo:
        stage = stages[todo.pop()]
        for other in stage.needs | ({stage.base} if stage.base is not None else set()):
            if other not in needed and other <= final:
                needed.add(other)
                todo.append(other)
    readers = [
        step
        for index in sorted(needed - {final})
        for step in stages[index].steps
        if step.kind in ("copy", "read") or step.text.startswith("ONBUILD")
    ]
    readers = [_as_reader(step) for step in readers]
    last = stages[final]
    external = sorted({ref for index in needed for ref in stages[index].external})
    return Stages(tuple(last.steps), tuple(readers), tuple(last.scope.volumes), "", tuple(external))


def _as_reader(step: Step) -> Step:
    sources = None if step.text.startswith("ONBUILD") else step.sources
    return Step("read", step.line, step.text, step.stage, sources)


def _stage(
    ins: Instruction, stages: list[_Stage], global_args: dict[str, str | None]
) -> _Stage | None:
    words = list(ins.args)
    if not words:
        return None
    name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
    try:
        image = expand(words[0], {k: v for k, v in global_args.items() if v is not None})
    except Unresolved:
        return None
    base = next((i for i, s in enumerate(stages) if s.name and s.name == image.lower()), None)
    return _Stage(name or str(len(stages)), ins.line, base, [])


def _declare(
    ins: Instruction,
    args: dict[str, str | None],
    given: Mapping[str, str],
    scope: Mapping[str, str],
    global_args: Mapping[str, str | None],
) -> None:
    for word in _split_words(ins.rest, ins.escape):
        key, eq, default = word.partition("=")
        if key in given:
            args[key] = given[key]
        elif eq:
            try:
                args[key] = expand(default, scope, ins.escape)
            except Unresolved:
                args[key] = None
        else:
            args[key] = global_args.get(key)


def _dispatch(
    ins: Instruction,
    stage: _Stage,
    index: int,
    names: Mapping[str, int],
    global_args: Mapping[str, str | None],
    given: Mapping[str, str],
) -> None:
    scope = stage.scope
    shown = "" if stage.name == str(index) else stage.name
    if ins.keyword == "ARG":
        _declare(ins, scope.args, given, scope.values(), global_args)
    elif ins.keyword == "ENV":
        _set_env(ins, scope)
    elif ins.keyword == "WORKDIR" and ins.args:
        try:
            path = expand(" ".join(ins.args), scope.values(), ins.escape)
        except Unresolved:
            scope.workdir = None
            return
        if scope.workdir is not None or path.startswith("/"):
            scope.workdir = posixpath.normpath(posixpath.join(scope.workdir or "/", path))
            _mark_dirs(scope, scope.workdir, itself=True)
    elif ins.keyword == "VOLUME":
        for word in ins.args:
            try:
                path = expand(word, scope.values(), ins.escape)
            except Unresolved:
                path = "/"
            scope.volumes.append((posixpath.normpath(posixpath.join("/", path)), ins.line))
    elif ins.keyword in ("COPY", "ADD"):
        stage.steps.extend(_copy(ins, stage, shown, names))
    elif ins.keyword == "RUN":
        for mount in ins.all_flags("mount"):
            stage.steps.extend(_mount(ins, mount, stage, shown, names))
        stage.steps.append(Step("run", ins.line, "RUN", shown))
    elif ins.keyword == "ONBUILD":
        stage.steps.append(Step("run", ins.line, "ONBUILD", shown))


def _set_env(ins: Instruction, scope: _Scope) -> None:
    before = scope.values()  # one ENV line substitutes from the scope before it
    words = _split_words(ins.rest, ins.escape)
    if words and "=" not in words[0]:  # legacy `ENV NAME value with spaces`
        pairs = [(words[0], ins.rest[len(words[0]) :].strip())]
    else:
        pairs = [(key, value) for key, _, value in (word.partition("=") for word in words)]
    for key, value in pairs:
        try:
            scope.env[key] = expand(value, before, ins.escape)
        except Unresolved:
            scope.env[key] = None


def _mount(
    ins: Instruction, mount: str, stage: _Stage, shown: str, names: Mapping[str, int]
) -> list[Step]:
    options = dict(part.partition("=")[::2] for part in mount.split(","))
    if options.get("type", "bind") != "bind":
        return []
    if "from" in options:
        _need(options["from"], stage, names)
        return []
    source = options.get("source", options.get("src", "."))
    text = "RUN --mount=type=bind" + (f",source={source}" if source != "." else "")
    try:
        cleaned = _clean(expand(source, stage.scope.values(), ins.escape))
    except Unresolved:
        cleaned = None
    sources = None if cleaned is None else (Source(cleaned, True),)
    return [Step("read", ins.line, text, shown, sources)]


def _need(ref: str, stage: _Stage, names: Mapping[str, int]) -> None:
    try:
        ref = expand(ref, stage.scope.values())
    except Unresolved:
        stage.needs.update(names.values())  # any stage, to be safe
        return
    if ref.isdigit():
        stage.needs.add(int(ref))
    elif ref.lower() in names:
        stage.needs.add(names[ref.lower()])
    else:
        stage.external.add(ref)


def _clean(source: str) -> str | None:
    """`source` relative to the context root as BuildKit resolves it; None if it leaves it."""
    cleaned = posixpath.normpath("/" + source.lstrip("/"))
    if ".." in source.split("/"):
        return None
    return "." if cleaned == "/" else cleaned.lstrip("/")


def _copy(ins: Instruction, stage: _Stage, shown: str, names: Mapping[str, int]) -> list[Step]:
    text, scope, steps = ins.text, stage.scope.values(), []
    heredocs = {f"<<{name}" for name in ins.heredocs} | {f"<<-{name}" for name in ins.heredocs}
    words = [word for word in ins.args if word.strip("\"'") not in heredocs and "<<" not in word]
    from_stage = ins.flag("from")
    problem = _flag_problem(ins)
    try:
        dest = expand(ins.args[-1], scope, ins.escape) if ins.args else ""
        owner = expand(ins.flag("chown") or "", scope, ins.escape) or None
        mode = _mode(expand(ins.flag("chmod") or "", scope, ins.escape))
        raw = [expand(word, scope, ins.escape) for word in words[:-1]]
    except Unresolved as unknown:
        return [Step("read", ins.line, text, shown, None, problem=f"unresolved ${unknown.name}")]
    if mode == -1:
        problem, mode = problem or "a --chmod that is not octal", None
    into_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    if not dest.startswith("/"):
        if stage.scope.workdir is None:
            problem, dest = problem or "an unresolved WORKDIR", ""
        else:
            dest = posixpath.join(stage.scope.workdir, dest)
    dest = posixpath.normpath(dest) if dest else ""
    into_dir = into_dir or len(ins.args) > 2 or dest in stage.scope.dirs
    if dest:
        _mark_dirs(stage.scope, dest, itself=into_dir)
    if from_stage is not None:
        _need(from_stage, stage, names)
        return [Step("write", ins.line, text, shown, (), dest)]
    local = [word for word in raw if not _URL.match(word)]
    if len(local) < len(raw) or len(words) < len(ins.args):  # a URL or a heredoc writes too
        steps.append(Step("write", ins.line, text, shown, (), dest))
    if local:
        cleaned = [_clean(word) for word in local]
        sources: tuple[Source, ...] | None = tuple(
            Source(c, w.endswith("/")) for c, w in zip(cleaned, local, strict=True) if c
        )
        if None in cleaned:
            problem, sources = problem or "a source outside the context", None
        add = ins.keyword == "ADD"
        steps.append(
            Step("copy", ins.line, text, shown, sources, dest, into_dir, owner, mode, problem, add)
        )
    return steps


def _mark_dirs(scope: _Scope, path: str, *, itself: bool) -> None:
    """Remember that `path`'s parents (and `path` itself if `itself`) are directories now."""
    if itself:
        scope.dirs.add(path)
    while path != "/":
        path = posixpath.dirname(path)
        scope.dirs.add(path)


def _flag_problem(ins: Instruction) -> str:
    for key, _ in ins.flags:
        if key not in _COPY_FLAGS:
            return f"--{key}"
    return ""


def _mode(chmod: str) -> int | None:
    if not chmod:
        return None
    return int(chmod, 8) if re.fullmatch(r"[0-7]{1,4}", chmod) else -1
