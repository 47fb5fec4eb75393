"""Keeping variable values out of error messages.

Every value read from an env file (`.env`, `--env-file`, `env_file`, an include's `env_file`)
and every environment variable substituted into a compose file is noted while a project loads.
An error leaving `load_project` is then rewritten: each such value is replaced by `${NAME}`,
naming the variable instead. An error at a key that a variable was substituted into (say
`ports: ["${TOKEN}:80"]` failing as `invalid hostPort: <part of TOKEN>`), or anywhere in the
same service (or volume, network...), also loses every word of that variable's value, since
parsers quote fragments of what they reject.

Values shorter than MIN_LENGTH characters are not hidden (hiding `1` or `yes` would garble
every message), nor are compose's own `COMPOSE_*` settings (project name, files, profiles).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from composewatch.errors import ComposeFileError, ComposewatchError
from composewatch.hiding import MIN_CHARS, Values, remember

__all__ = ["MIN_LENGTH", "Redaction", "note_substitution", "note_value", "noting", "redacting"]

MIN_LENGTH = MIN_CHARS
_WORDS = re.compile(r"[^\W_]+")  # runs of letters and digits
_MIN_PIECE = 3


def _replace(text: str, values: Values) -> str:
    """`text` with each of `values` as `${NAME}` (literal matching: a regular expression
    made of the values took minutes to compile for a few values of megabytes)."""
    return values.replace(text)


def _replace_words(text: str, names: dict[str, str]) -> str:
    """`text` with each whole run of letters and digits that is a key of `names` as
    `${NAME}` (not a part of a longer run)."""
    if not names:
        return text
    return _WORDS.sub(
        lambda m: "${" + names[m.group()] + "}" if m.group() in names else m.group(), text
    )


@functools.lru_cache(maxsize=256)
def _pieces(value: str) -> tuple[str, ...]:
    """The words of a value a parser may quote alone (computed once per value)."""
    return tuple(dict.fromkeys(p for p in _WORDS.findall(value) if len(p) >= _MIN_PIECE))


def _hidden(name: str, value: str) -> bool:
    return len(value) >= MIN_LENGTH and not name.startswith("COMPOSE_")


class Redaction:
    """The values to keep out of messages, by the variable they belong to."""

    def __init__(self) -> None:
        self._names = Values()  # each quoted form of a value -> its variable
        self._keys: dict[str, set[str]] = {}  # key path -> variables substituted there
        self._values: dict[str, str] = {}  # variable -> value
        self._substituted = Values()  # each quoted form of a substituted value -> its name

    def __eq__(self, other: object) -> bool:
        # by content: two loads of one unchanged project compare equal
        if not isinstance(other, Redaction):
            return NotImplemented
        return (self._values, self._keys) == (other._values, other._keys)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def add(self, name: str, value: str) -> None:
        # each substitution notes its variable again: quote a (large) value's forms once
        if not _hidden(name, value) or self._values.get(name) == value:
            return
        self._values[name] = value
        self._names.add(name, value)
        remember(name, value)  # hidden in later errors too, whichever layer raises them

    def add_substitution(self, key: str, name: str, value: str) -> None:
        """`name` (with `value`) was substituted into the value at `key`."""
        self.add(name, value)
        if _hidden(name, value):
            self._keys.setdefault(key, set()).add(name)
            self._substituted.add(name, value)

    def _near(self, key: str | None, *, strict: bool = False) -> dict[str, str]:
        """Words of the values substituted in the entry `key` lies in (`strict`: at, above or
        below `key` itself), by variable."""
        if not key:
            return {}
        pieces: dict[str, str] = {}
        for path, names in self._keys.items():
            if not (_nested(path, key) if strict else _related(path, key)):
                continue
            for name in names:
                for piece in _pieces(self._values[name]):
                    pieces.setdefault(piece, name)
        return pieces

    def apply(self, text: str, key: str | None = None) -> str:
        """`text` with each noted value (and, near `key`, each word of one) as `${NAME}`."""
        text = _replace(text, self._names)
        return _replace_words(text, self._near(key))

    def _file(self, file: str | None, key: str | None) -> str | None:
        """A file name built from a substituted variable (`extends: {file: ${DIR}/x.yml}`)
        loses that variable; values merely read from env files are left alone in file names,
        which they would garble (`APP=shop` and `/home/me/shop/compose.yaml`)."""
        if file is None:
            return None
        file = _replace(file, self._substituted)
        return _replace_words(file, self._near(key, strict=True))

    def scrub(self, exc: ComposewatchError) -> ComposewatchError:
        """`exc`, or a copy of it, whose message shows no noted value."""
        if isinstance(exc, ComposeFileError):
            return ComposeFileError(
                self.apply(exc.reason, exc.key),
                key=self.apply(exc.key, exc.key) if exc.key else None,
                file=self._file(exc.file, exc.key),
                line=exc.line,
                column=exc.column,
            )
        exc.args = tuple(self.apply(a) if isinstance(a, str) else a for a in exc.args)
        return exc


def _scope(key: str) -> str:
    """The top-level entry a key path lies in: `services.web` for `services.web.ports[0]`."""
    return ".".join(re.split(r"[.\[]", key, maxsplit=2)[:2])


def _nested(path: str, key: str) -> bool:
    """Whether one key path is the other or lies below it (`a.b` and `a.b[0].c`)."""
    short, long = sorted((path, key), key=len)
    return long == short or long.startswith((short + ".", short + "["))


def _related(path: str, key: str) -> bool:
    """Whether two key paths lie in the same top-level entry (service, volume, setting...):
    a parser may report a value at a key other than the one it was substituted at, and a
    key may itself hold a substituted name (`services.web.depends_on.<name>`)."""
    return _scope(path) == _scope(key)


_ACTIVE: ContextVar[Redaction | None] = ContextVar("composewatch_redaction", default=None)


@contextmanager
def redacting() -> Iterator[Redaction]:
    """Note values read or substituted inside the block into the Redaction yielded."""
    redaction = Redaction()
    token = _ACTIVE.set(redaction)
    try:
        yield redaction
    finally:
        _ACTIVE.reset(token)


def note_value(name: str, value: str) -> None:
    """Record a value read from an env file (no effect outside `redacting()`)."""
    active = _ACTIVE.get()
    if active is not None:
        active.add(name, value)


def note_substitution(key: str, name: str, value: str) -> None:
    """Record a variable substituted into the value at `key` (no effect outside `redacting()`)."""
    active = _ACTIVE.get()
    if active is not None:
        active.add_substitution(key, name, value)


def noting(lookup: Callable[[str], str | None], key: str) -> Callable[[str], str | None]:
    """`lookup`, recording each variable it finds as substituted at `key`."""

    def wrapped(name: str) -> str | None:
        value = lookup(name)
        if value is not None:
            note_substitution(key, name, value)
        return value

    return wrapped
