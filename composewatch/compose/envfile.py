"""`.env` / `env_file` parsing with compose's rules.

python-dotenv does the tokenising (quotes, escapes, `export`, comments); compose's own
interpolation is then applied to unquoted and double-quoted values, looking variables up in
`lookup` first and in the variables defined so far second. `format: raw` files take every
`KEY=VALUE` line literally.

Values are secrets: an error names the file, the line and the variable, never the value.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from dotenv.parser import parse_stream

from composewatch.compose.interpolation import InterpolationError, expansion_budget, substitute
from composewatch.compose.redaction import note_value
from composewatch.compose.textfile import read_input
from composewatch.errors import ComposeFileError

__all__ = ["MAX_DOTENV_LINES", "env_lookup", "load_env_file", "parse_env"]


_NAME = re.compile(r"\s*(?:export\s+)?([^\s=#]{1,100})\s*=")


def _invalid_line(original: str) -> str:
    """What is wrong with a line python-dotenv could not parse, without its value."""
    match = _NAME.match(original)
    if match is None:
        return "not a NAME=value line (the line is not shown: it may hold a secret)"
    return (
        f"cannot parse the value of {match.group(1)} (an unclosed quote, or text after the "
        "closing quote?); the value is not shown"
    )


def _quote(original: str) -> str:
    """The quote character opening the value of a binding's source line, or ""."""
    _, _, rest = original.partition("=")
    rest = rest.lstrip()
    return rest[0] if rest[:1] in ("'", '"') else ""


def parse_env(
    text: str,
    lookup: Callable[[str], str | None],
    into: dict[str, str] | None = None,
    *,
    raw: bool = False,
    file: str | None = None,
) -> dict[str, str]:
    """Variables of a dotenv text added to `into` (returned); later definitions win."""
    out: dict[str, str] = {} if into is None else into
    if raw:
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                out[key.strip()] = value
        return out

    def resolve(name: str) -> str | None:
        found = lookup(name)
        return found if found is not None else out.get(name)

    with expansion_budget():
        simple = _simple_lines(text)
        if simple is None:
            lines = text.count("\n") + 1
            if lines > MAX_DOTENV_LINES:
                raise ComposeFileError(
                    f"has {lines:,} lines, some of them with escapes, `export`, spaces or "
                    f"comments after values: composewatch reads at most {MAX_DOTENV_LINES:,} "
                    "lines like that (plain NAME=value lines, quoted or not, have no limit "
                    "but the file size)",
                    file=file,
                )
            _parse_bindings(text, lookup, resolve, out, file)
        else:
            _bind_simple(simple, resolve, out, file)
    return out


# A line python-dotenv reads as written: a plain name, "=", and a value with no space,
# comment or backslash, or a quoted value without backslashes and closed on its line
# (python-dotenv's tokenizer took 2.8 s for 100,000 such lines, 9 s for a 4 MiB file).
_SIMPLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(?:([^\s'\"#\\]*)|\"([^\"\\\r]*)\"|'([^'\\\r]*)')")
# Lines of a file that needs python-dotenv's tokenizer (escapes, `export`, multi-line quotes,
# comments after values): about 35,000 a second, so at most a second's worth.
MAX_DOTENV_LINES = 30_000


def _simple_lines(text: str) -> list[tuple[int, str, str, bool]] | None:
    """(line, name, value, literal) of each binding when every line is simple, blank or a
    comment; None as soon as one is not (python-dotenv reads the whole file then)."""
    bindings: list[tuple[int, str, str, bool]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        match = _SIMPLE.fullmatch(line)
        if match is not None:
            plain, double, single = match[2], match[3], match[4]
            value = plain if plain is not None else double if double is not None else single
            bindings.append((number, match[1], value, single is not None))
        elif line.strip(" \t") and not line.lstrip(" \t").startswith("#"):
            return None
    return bindings


def _bind_simple(
    bindings: list[tuple[int, str, str, bool]],
    resolve: Callable[[str], str | None],
    out: dict[str, str],
    file: str | None,
) -> None:
    for number, name, value, literal in bindings:
        if literal:  # single quotes: no interpolation
            out[name] = value
            continue
        try:
            out[name] = substitute(value, resolve)
        except InterpolationError as exc:
            raise ComposeFileError(
                f"in the value of {name}: {exc.summary}", file=file, line=number
            ) from None


def _parse_bindings(
    text: str,
    lookup: Callable[[str], str | None],
    resolve: Callable[[str], str | None],
    out: dict[str, str],
    file: str | None,
) -> None:
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ComposeFileError(
                _invalid_line(binding.original.string), file=file, line=binding.original.line
            )
        if binding.key is None:
            continue
        if binding.value is None:  # `NAME` alone inherits from the environment
            inherited = lookup(binding.key)
            if inherited is not None:
                out[binding.key] = inherited
            continue
        quote = _quote(binding.original.string)
        if quote == "'":
            out[binding.key] = binding.value
            continue
        # in double quotes `\$` is a literal dollar, like `$$`
        value = binding.value.replace("\\$", "$$") if quote else binding.value
        try:
            out[binding.key] = substitute(value, resolve)
        except InterpolationError as exc:
            raise ComposeFileError(
                f"in the value of {binding.key}: {exc.summary}",
                file=file,
                line=binding.original.line,
            ) from None


def load_env_file(
    path: Path,
    lookup: Callable[[str], str | None],
    into: dict[str, str] | None = None,
    *,
    raw: bool = False,
) -> dict[str, str]:
    """`parse_env` on a file; a missing, special, huge or non-UTF-8 file is a ComposeFileError."""
    if not path.exists():
        raise ComposeFileError(f"env file {path} not found", file=path)
    text = read_input(path, encoding="utf-8-sig")

    def noted(name: str) -> str | None:
        value = lookup(name)
        if value is not None:
            note_value(name, value)
        return value

    values = parse_env(text, noted, into, raw=raw, file=str(path))
    for name, value in values.items():
        note_value(name, value)
    return values


def env_lookup(*layers: Mapping[str, str]) -> Callable[[str], str | None]:
    """A lookup trying each mapping in turn."""

    def lookup(name: str) -> str | None:
        for layer in layers:
            if name in layer:
                return layer[name]
        return None

    return lookup
