"""Loading compose files into one merged tree, as compose-go does for each file in order:
parse, interpolate, validate, `include`, `extends`, merge over the earlier files, then put
short syntaxes in long form. Paths are made absolute against the project directory."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from composewatch.compose.canonical import canonical, set_defaults
from composewatch.compose.envfile import env_lookup, load_env_file
from composewatch.compose.extends import Resolved, apply_extends
from composewatch.compose.interpolation import interpolate_tree
from composewatch.compose.merge import apply_resets, enforce_unicity, merge, strip_tags
from composewatch.compose.normalize import go_string
from composewatch.compose.paths import KeyPath, PathTable, format_path
from composewatch.compose.resolve import resolve_paths
from composewatch.compose.scalars import go_atoi, go_parse_float, go_parse_int
from composewatch.compose.schema import check_unique, validate_file, validate_model
from composewatch.compose.textfile import read_input
from composewatch.compose.yamlload import parse_documents
from composewatch.errors import ComposeFileError

__all__ = ["MAX_INCLUDED_LOADS", "MAX_INCLUDES", "load_model", "read_text"]

MAX_INCLUDES = 32  # files including one another in a chain (each level is a recursion)
# Included files loaded in all, counting a file each time it is included: files that include
# both files of the next level (a diamond) double the loads per level (2^22 at depth 22).
MAX_INCLUDED_LOADS = 256

_BOOL = {"true": True, "false": False, "y": True, "yes": True, "on": True}
_BOOL |= {"n": False, "no": False, "off": False}


def _to_bool(value: str) -> bool:
    if value.lower() not in _BOOL:
        raise ValueError(f"invalid boolean: {value}")
    return _BOOL[value.lower()]


_INT, _INT64 = go_atoi, go_parse_int  # compose-go's toInt (strconv.Atoi), toInt64 (ParseInt)


def _float64(value: str) -> float:
    return go_parse_float(value, 64)


def _float32(value: str) -> float:
    return go_parse_float(value, 32)


# compose-go v2.9.1's interpolateTypeCastMapping (loader/interpolate.go), cast for cast
_CASTS: PathTable[Callable[[str], Any]] = PathTable({
    "services.*.cpu_count": _INT64, "services.*.cpu_percent": _float64,
    "services.*.cpu_period": _INT64, "services.*.cpu_quota": _INT64,
    "services.*.cpu_rt_period": _INT64, "services.*.cpu_rt_runtime": _INT64,
    "services.*.cpus": _float32, "services.*.cpu_shares": _INT64,
    "services.*.init": _to_bool, "services.*.depends_on.*.required": _to_bool,
    "services.*.depends_on.*.restart": _to_bool, "services.*.deploy.replicas": _INT,
    "services.*.deploy.update_config.parallelism": _INT,
    "services.*.deploy.update_config.max_failure_ratio": _float64,
    "services.*.deploy.rollback_config.parallelism": _INT,
    "services.*.deploy.rollback_config.max_failure_ratio": _float64,
    "services.*.deploy.restart_policy.max_attempts": _INT,
    "services.*.deploy.placement.max_replicas_per_node": _INT,
    "services.*.healthcheck.retries": _INT, "services.*.healthcheck.disable": _to_bool,
    "services.*.oom_kill_disable": _to_bool, "services.*.oom_score_adj": _INT64,
    "services.*.pids_limit": _INT64, "services.*.ports.*.target": _INT,
    "services.*.privileged": _to_bool, "services.*.read_only": _to_bool,
    "services.*.scale": _INT, "services.*.stdin_open": _to_bool, "services.*.tty": _to_bool,
    "services.*.ulimits.*": _INT, "services.*.ulimits.*.hard": _INT,
    "services.*.ulimits.*.soft": _INT, "services.*.volumes.*.read_only": _to_bool,
    "services.*.volumes.*.volume.nocopy": _to_bool, "services.*.attach": _to_bool,
    "services.*.build.privileged": _to_bool,
    "networks.*.external": _to_bool, "networks.*.internal": _to_bool,
    "networks.*.attachable": _to_bool, "networks.*.enable_ipv4": _to_bool,
    "networks.*.enable_ipv6": _to_bool, "volumes.*.external": _to_bool,
    "secrets.*.external": _to_bool, "configs.*.external": _to_bool,
})  # fmt: skip


def _cast(path: KeyPath, value: str) -> Any:
    cast = _CASTS.lookup(path)
    if cast is None:
        return value
    try:
        return cast(value)
    except ValueError as exc:
        raise ComposeFileError(
            f"failed to cast to expected type: {exc}", key=format_path(path)
        ) from None


def read_text(path: Path) -> str:
    """A compose file's text; a missing, unreadable, special or huge file is a ComposeFileError."""
    return read_input(path)


def _string_keys(value: Any, path: KeyPath = ()) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            if not isinstance(key, str):  # compose rejects `1:` or `true:` as keys
                where = format_path(path) or "top-level object"
                shown = "<nil>" if key is None else go_string(key)  # as Go prints it
                raise ComposeFileError(f"non-string key in {where}: {shown}", key=where)
            out[str(key)] = _string_keys(child, (*path, str(key)))
        return out
    if isinstance(value, list):
        return [_string_keys(v, (*path, i)) for i, v in enumerate(value)]
    return value


def _with_file(exc: ComposeFileError, file: Path) -> ComposeFileError:
    if exc.file is not None:
        return exc
    return ComposeFileError(exc.reason, file=file, key=exc.key, line=exc.line, column=exc.column)


class _Counter:
    """Included files loaded so far in one project load (shared by the nested loaders)."""

    def __init__(self) -> None:
        self.loads = 0


class _Loader:
    """One load of a project (or of an included project)."""

    def __init__(
        self,
        working_dir: Path,
        env: Mapping[str, str],
        chain: tuple[str, ...],
        counter: _Counter | None = None,
    ):
        self.working_dir = working_dir
        self.env = env
        self.chain = chain
        self.counter = counter or _Counter()
        # `extends: {file: ...}` reads a file once per loader, however many services name it
        self._extended: dict[Path, dict[str, Any]] = {}
        self._resolved: Resolved = {}  # services of other files, their `extends` applied

    def load(self, files: Sequence[Path]) -> dict[str, Any]:
        model: dict[str, Any] = {}
        for file in files:
            for doc in parse_documents(read_text(file), file):
                try:
                    model = self._process(doc, file, model)
                except ComposeFileError as exc:
                    raise _with_file(exc, file) from None
        set_defaults(model)
        model.pop("version", None)
        validate_model(model, str(files[-1] if len(files) == 1 else files[0]))
        return resolve_paths(model, str(self.working_dir), self.env)

    def _prepare(self, doc: Any, file: Path) -> tuple[dict[str, Any], list[KeyPath]]:
        if not isinstance(doc, dict):
            raise ComposeFileError("top-level object must be a mapping", file=file)
        tree, resets = strip_tags(_string_keys(doc))
        tree = interpolate_tree(tree, self.env, file=str(file), cast=_cast)
        if "services" in tree and not isinstance(tree["services"], dict):
            raise ComposeFileError("services must be a mapping", file=file, key="services")
        return tree, resets

    def _process(self, doc: Any, file: Path, model: dict[str, Any]) -> dict[str, Any]:
        tree, resets = self._prepare(doc, file)
        if "include" in tree:
            self._include(tree, file)
        apply_resets(model, resets)
        apply_extends(tree, file, self._load_for_extends, resets, self._resolved)
        merged: dict[str, Any] = enforce_unicity(merge(model, tree))
        # after the merge, as compose does: a type clash reads "cannot override <key>"
        validate_file(tree, str(file))
        check_unique(merged, str(file))
        result: dict[str, Any] = enforce_unicity(canonical(merged))
        return result

    def _load_for_extends(self, file: Path) -> dict[str, Any]:
        if file not in self._extended:
            self._extended[file] = self._read_for_extends(file)
        return copy.deepcopy(self._extended[file])  # the caller merges into what it gets

    def _read_for_extends(self, file: Path) -> dict[str, Any]:
        model: dict[str, Any] = {}
        for doc in parse_documents(read_text(file), file):
            tree, resets = self._prepare(doc, file)
            apply_resets(model, resets)
            model = canonical(merge(model, tree))
        return resolve_paths(model, str(file.parent), self.env)

    def _include(self, tree: dict[str, Any], file: Path) -> None:
        entries = tree.pop("include") or []
        if not isinstance(entries, list):
            raise ComposeFileError("include must be a list", file=file, key="include")
        validate_file({"include": entries}, str(file))  # its shape, before it is used
        for entry in canonical({"include": entries})["include"]:
            paths = entry.get("path")
            paths = [paths] if isinstance(paths, str) else list(paths or [])
            if not paths:
                raise ComposeFileError("include requires a path", file=file, key="include")
            files = [Path(os.path.normpath(self.working_dir / p)) for p in paths]
            project_dir = entry.get("project_directory")
            directory = (
                Path(os.path.normpath(self.working_dir / project_dir))
                if project_dir
                else files[0].parent
            )
            if len(self.chain) >= MAX_INCLUDES:
                raise ComposeFileError(
                    f"includes nested more than {MAX_INCLUDES} deep", file=file, key="include"
                )
            if str(files[0]) in (*self.chain, str(file)):
                trail = "\n include ".join((*self.chain, str(file), str(files[0]))[1:])
                first = (*self.chain, str(file))[0]
                raise ComposeFileError(f"include cycle detected:\n{first}\n include {trail}")
            env_files = entry.get("env_file")
            env_files = [env_files] if isinstance(env_files, str) else list(env_files or [])
            if not env_files and (directory / ".env").is_file():
                env_files = [str(directory / ".env")]
            from_files: dict[str, str] = {}
            for env_file in env_files:
                if env_file != "/dev/null":
                    path = Path(os.path.normpath(self.working_dir / env_file))
                    load_env_file(path, env_lookup(self.env), from_files)
            self.counter.loads += 1
            if self.counter.loads > MAX_INCLUDED_LOADS:
                raise ComposeFileError(
                    f"includes load more than {MAX_INCLUDED_LOADS} files in all (a file "
                    "included more than once counts each time: do files include the same "
                    "files over and over?)",
                    file=file,
                    key="include",
                )
            loader = _Loader(
                directory, {**self.env, **from_files}, (*self.chain, str(file)), self.counter
            )
            imported = loader.load(files)
            _import_resources(imported, tree)


def _import_resources(source: dict[str, Any], target: dict[str, Any]) -> None:
    for kind in ("services", "volumes", "networks", "secrets", "configs", "models"):
        incoming = source.get(kind)
        if not incoming:
            continue
        local = target.setdefault(kind, {}) or {}
        for name, value in incoming.items():
            if name in local and local[name] != value:
                raise ComposeFileError(
                    f"{kind}.{name} conflicts with imported resource", key=f"{kind}.{name}"
                )
            local[name] = value
        target[kind] = local


def load_model(files: Sequence[Path], working_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """The merged, canonical, path-resolved tree of `files`."""
    return _Loader(working_dir, env, ()).load(files)
