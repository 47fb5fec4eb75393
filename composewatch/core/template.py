"""gaze's command templates turned into shell text that refers to the values, never holds them.

A gaze template (`python "{{file}}"`) names values with mustache placeholders. Splicing the
values into the shell text, however carefully quoted, lets a file name become code wherever
the quoting is misread: inside `$(…)`, backticks or a heredoc a new quoting context starts, and
after a `#` a newline in the name ends the comment. So `compile_template` never sees a value:
it replaces each placeholder with a reference to a shell variable (`CW_FILE`…), written for
the quoting context the placeholder stands in, and the command runs as
`sh -c SCRIPT sh VALUES…` (`RenderedCommand.argv`), the values arriving as parameters. Whatever
bytes a name holds, the shell only ever expands it: it is never parsed.

The context decides only how the reference is written, so that the value arrives as one word,
exactly:

| where the placeholder stands                     | written as          |
| ------------------------------------------------ | ------------------- |
| bare, in `$(…)`, in backticks, in `${X:-…}`      | `"${CW_FILE}"`      |
| in double quotes, in an unquoted heredoc's body  | `${CW_FILE}`        |
| in single quotes (closed and reopened around it) | `'"${CW_FILE}"'`    |

Two places cannot receive a name and are refused when the template is read: directly inside
`$((…))` (the name would be evaluated as arithmetic, which bash turns into code) and inside a
heredoc whose delimiter is quoted (`<<'EOF'`: the shell expands nothing there).

The lexer follows POSIX sh's quoting (quotes, `$(…)`, backticks, `${…}`, `$((…))`, heredocs,
comments, `case` patterns) closely enough to place each reference; where it could misread an
exotic construct (bash's `((…))`, `\"` in backticks inside double quotes), the worst outcome is
a value split into words or shown literally, never a value run as code. What a template does
with a value is its own: `eval {{file}}`, or bash arithmetic on it (`x={{file}}; $((x))`),
runs code as it would in any script.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PLACEHOLDERS",
    "PlaceholderError",
    "Template",
    "compile_template",
    "fill",
    "variable",
]

# gaze's placeholders (pkg/gazer/template.go), in the order their values are passed.
PLACEHOLDERS = ("file", "ext", "base", "base0", "base1", "base2", "dir", "abs")
# mustache: `{{name}}`, `{{{name}}}`, `{{&name}}`, spaces allowed inside the braces.
_PLACEHOLDER = re.compile(r"\{\{\{\s*(\w+)\s*\}\}\}|\{\{&?\s*(\w+)\s*\}\}")
_WORD_BREAK = frozenset(" \t\n;&|()<>")
_KEYWORD = re.compile(r"(case|esac)(?![^\s;&|()<>])")
_DQ_ESCAPED = frozenset(("$", "`", '"', "\\", "\n"))


class PlaceholderError(ValueError):
    pass


def variable(name: str) -> str:
    """The shell variable a placeholder's value is held in: `CW_FILE` for `{{file}}`."""
    return f"CW_{name.upper()}"


@dataclass(frozen=True)
class Template:
    """A template compiled to shell text: `script` refers to the values of `names` (in
    PLACEHOLDERS order) and holds none of them."""

    source: str  # the template as written
    script: str
    names: tuple[str, ...]


def compile_template(cmd: str) -> Template:
    """The shell text for `cmd`. PlaceholderError for a placeholder gaze does not know, or one
    standing where no shell can receive a name."""
    lexer = _Lexer(cmd)
    lexer.command("")
    names = tuple(n for n in PLACEHOLDERS if n in lexer.used)
    if not names:
        return Template(cmd, lexer.result(), ())
    # `$1`… are copied into named variables first, then dropped: a template that runs
    # `set --` or `shift` still finds its values, and "$@" stays empty, as with gaze.
    assign = " ".join(f"{variable(n)}=${{{i}}}" for i, n in enumerate(names, start=1))
    return Template(cmd, f"{assign}; shift {len(names)}; {lexer.result()}", names)


def fill(cmd: str, values: dict[str, str]) -> str:
    """The template with the values written in, as gaze would run it: text for people to
    read, never for a shell."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1) or m.group(2), m.group(0)), cmd)


class _Cursor:
    """The text read so far, what is written for it, and the placeholders met."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.out: list[str] = []
        self.used: set[str] = set()
        self.heredocs: list[tuple[str, bool, bool]] = []  # (delimiter, quoted, strip tabs)

    def result(self) -> str:
        return "".join(self.out)

    def _take(self, count: int = 1) -> None:
        chunk = self.text[self.i : self.i + count]
        self.out.append(chunk)
        self.i += len(chunk)

    def _placeholder(self, where: str) -> bool:
        """At `{{`: write the reference for `where` ("word", "dq", "sq", "arith", "literal")."""
        match = _PLACEHOLDER.match(self.text, self.i)
        if match is None:
            return False
        name = match.group(1) or match.group(2)
        if name not in PLACEHOLDERS:
            known = ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)
            raise PlaceholderError(f"unknown placeholder {{{{{name}}}}} (known: {known})")
        if where == "arith":
            raise PlaceholderError(
                f"{{{{{name}}}}} inside $((…)) would be evaluated as a number, and a file "
                "name is not one: use it outside the arithmetic, or in $(…) within it"
            )
        if where == "literal":
            raise PlaceholderError(
                f"{{{{{name}}}}} inside a here-document with a quoted delimiter is never "
                "expanded by the shell: leave the delimiter unquoted (<<EOF)"
            )
        self.used.add(name)
        reference = "${" + variable(name) + "}"
        self.out.append(
            {"word": f'"{reference}"', "dq": reference, "sq": f"'\"{reference}\"'"}[where]
        )
        self.i = match.end()
        return True


class _Heredocs(_Cursor):
    """Here-documents: the operator, and the bodies read at the end of its line."""

    def heredoc_operator(self) -> None:
        """`<<WORD` or `<<-WORD`: the body is read at the end of the line."""
        if self.text.startswith("<<<", self.i):  # bash's here-string: a plain word follows
            self._take(3)
            return
        self._take(2)
        strip = self.text.startswith("-", self.i)
        if strip:
            self._take()
        while self.text.startswith((" ", "\t"), self.i):
            self._take()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in _WORD_BREAK:
            self._take()
        word = self.text[start : self.i]
        quoted = any(q in word for q in "'\"\\")
        delimiter = re.sub(r"\\(.)|['\"]", r"\1", word)
        if delimiter:
            self.heredocs.append((delimiter, quoted, strip))

    def heredoc_bodies(self) -> None:
        """After a newline: the bodies of the heredocs opened on the line, each up to its
        delimiter line. An unquoted body expands `$…` and backticks but not quotes."""
        pending, self.heredocs = self.heredocs, []
        for delimiter, quoted, strip in pending:
            start = self.i
            end = len(self.text)
            while self.i < len(self.text):
                newline = self.text.find("\n", self.i)
                line_end = len(self.text) if newline < 0 else newline
                line = self.text[self.i : line_end]
                if (line.lstrip("\t") if strip else line) == delimiter:
                    end = self.i
                    self.i = min(line_end + 1, len(self.text))
                    break
                self.i = line_end + 1
            body = _Lexer(self.text[start:end])
            if quoted:
                body.literal()
            else:
                body.double("")
            self.used |= body.used
            self.out.append(body.result())
            self.out.append(self.text[end : self.i])
            if self.i > len(self.text):
                self.i = len(self.text)

    def literal(self) -> None:
        while self.i < len(self.text):
            if not (self.text[self.i] == "{" and self._placeholder("literal")):
                self._take()


class _Lexer(_Heredocs):
    """One pass over a template, copying it and writing each placeholder as a reference.

    Each method reads one quoting context from `self.i` up to and including its end, and
    calls the method of any context opened inside it: the shell's own nesting."""

    def command(self, stop: str, *, where: str = "word", commands: bool = True) -> None:
        """Unquoted text up to `stop`: "" (the end), ")" ($(…)), "`", "}" (${…}) or "))".
        `commands`: comments and heredocs can start here (not in ${…} or $((…)))."""
        depth = 0  # parentheses opened in this context: `$( (a) )` ends at the last one
        cases = 0  # `case` words not yet closed by `esac`: their patterns end with `)`
        word_start = True
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "{" and self._placeholder(where):
                word_start = False
                continue
            if word_start and commands and (keyword := _KEYWORD.match(self.text, self.i)):
                cases = max(0, cases + (1 if keyword.group(1) == "case" else -1))
            if c == ")" and depth == 0 and cases:
                self._take()  # a case pattern's `)`
            elif stop and c == stop[0] and depth == 0 and self.text.startswith(stop, self.i):
                self._take(len(stop))
                return
            elif c == "\\" and _PLACEHOLDER.match(self.text, self.i + 1):
                self.i += 1  # `\{{file}}`: gaze's value would lose the backslash; so does ours
            elif c == "\\":
                self._take(2)
            elif c == "'":
                self.single()
            elif c == '"':
                self._take()
                self.double('"')
            elif c == "`":
                self._take()
                self.command("`")
            elif c == "$":
                self.dollar(quoted=False)
            elif c == "#" and word_start and commands:
                self.comment()
            elif commands and self.text.startswith("<<", self.i):
                self.heredoc_operator()
            elif c == "\n":
                self._take()
                self.heredoc_bodies()
            else:
                depth += (c == "(") - (c == ")")
                self._take()
            word_start = c in _WORD_BREAK

    def single(self) -> None:
        """'…': nothing is special but the closing quote."""
        self._take()
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "{" and self._placeholder("sq"):
                continue
            self._take()
            if c == "'":
                return

    def double(self, stop: str) -> None:
        """Double-quoted text up to `stop` ('"'; "}" in "${…}"; "" for a heredoc's body)."""
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "{" and self._placeholder("dq"):
                continue
            if stop and c == stop:
                self._take()
                return
            if c == "\\":
                if self.text[self.i + 1 : self.i + 2] in _DQ_ESCAPED:
                    self._take(2)
                elif _PLACEHOLDER.match(self.text, self.i + 1):
                    self.out.append("\\\\")  # `"\{{file}}"`: a backslash, then the value
                    self.i += 1
                else:
                    self._take()
            elif c == "$":
                self.dollar(quoted=True)
            elif c == "`":
                self._take()
                self.command("`")
            elif c == '"' and stop == "}":  # "${X:-"…"}": quotes nest inside the braces
                self._take()
                self.double('"')
            else:
                self._take()

    def dollar(self, *, quoted: bool) -> None:
        if self.text.startswith("$((", self.i):
            self._take(3)
            self.command("))", where="arith", commands=False)
        elif self.text.startswith("$(", self.i):
            self._take(2)
            self.command(")")
        elif self.text.startswith("${", self.i):
            self._take(2)
            if quoted:
                self.double("}")
            else:
                self.command("}", commands=False)
        else:
            self._take()

    def comment(self) -> None:
        while self.i < len(self.text) and self.text[self.i] != "\n":
            if not (self.text[self.i] == "{" and self._placeholder("word")):
                self._take()
