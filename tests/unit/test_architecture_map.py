"""docs/architecture.md cannot rot silently: every path it names in backticks exists, every
function of its decision table is defined in the module the row names, and each of the ten
likely changes names exactly one file to open first."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAP = REPO / "docs" / "architecture.md"

#: A backticked path into the repository: `composewatch/…`, `tests/…`, `docs/…`.
_PATH = re.compile(r"`((?:composewatch|tests|docs)/[^`\s]*)`")
_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)`")


def named_paths(text: str) -> list[str]:
    return sorted(set(_PATH.findall(text)))


def missing_paths(text: str, root: Path) -> list[str]:
    return [p for p in named_paths(text) if not (root / p).exists()]


def section(text: str, heading: str) -> str:
    """The text under `## heading`, up to the next `## `."""
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def decision_rows(text: str) -> list[tuple[str, str, list[str]]]:
    """(decision, module path, names) for each row of the decision table."""
    rows = []
    for line in section(text, "Where each decision lives").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[1].startswith("`"):
            continue  # the header, its rule, prose
        (path,) = _PATH.findall(cells[1])
        rows.append((cells[0], path, _NAME.findall(cells[2])))
    return rows


def defined(source: str) -> dict[str, set[str]]:
    """Top-level names ("" key) and, per class, the names its body defines."""

    def names(body: list[ast.stmt]) -> set[str]:
        found: set[str] = set()
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.add(node.name)
            elif isinstance(node, ast.Assign):
                found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found.add(node.target.id)
        return found

    tree = ast.parse(source)
    scopes = {"": names(tree.body)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            scopes[node.name] = names(node.body)
    return scopes


def undefined(source: str, names: list[str]) -> list[str]:
    """The names (`f` or `Class.method`) that `source` does not define."""
    scopes = defined(source)
    out = []
    for name in names:
        owner, _, member = name.rpartition(".")
        if member not in scopes.get(owner, set()):
            out.append(name)
    return out


# --- the checks on the checks ------------------------------------------------------------


def test_a_missing_path_is_seen(tmp_path: Path) -> None:
    (tmp_path / "composewatch").mkdir()
    (tmp_path / "composewatch" / "app.py").write_text("")
    text = "see `composewatch/app.py` and `composewatch/gone.py`, not composewatch/bare.py"
    assert missing_paths(text, tmp_path) == ["composewatch/gone.py"]


def test_a_name_not_defined_where_the_table_says_is_seen() -> None:
    source = (
        "def admit():\n    pass\nclass Begin:\n    def way(self):\n        pass\nKEYS: int = 1\n"
    )
    assert undefined(source, ["admit", "Begin.way", "KEYS"]) == []
    assert undefined(source, ["way", "Begin.admit", "plan_up", "Other.way"]) == [
        "way",
        "Begin.admit",
        "plan_up",
        "Other.way",
    ]


def test_the_table_reader_reads_rows() -> None:
    text = (
        "## Where each decision lives\n\n| decision | module | function |\n| --- | --- | --- |\n"
        "| a | `composewatch/core/startup.py` | `admit`, `Fact` |\n\n## Next\n| x | `y` | `z` |\n"
    )
    assert decision_rows(text) == [("a", "composewatch/core/startup.py", ["admit", "Fact"])]


# --- the map itself -------------------------------------------------------------------------


def test_every_path_the_map_names_exists() -> None:
    text = MAP.read_text()
    assert len(named_paths(text)) > 50  # the reader still finds the paths
    assert missing_paths(text, REPO) == []


def test_every_decision_is_where_the_map_says() -> None:
    rows = decision_rows(MAP.read_text())
    assert len(rows) >= 30
    wrong = {
        decision: undefined((REPO / path).read_text(), names)
        for decision, path, names in rows
        if not names or undefined((REPO / path).read_text(), names)
    }
    assert wrong == {}


def test_each_likely_change_names_one_file_to_open_first() -> None:
    changes = section(MAP.read_text(), "The ten most likely changes").split("\n### ")[1:]
    assert len(changes) == 10
    for change in changes:
        firsts = re.findall(r"^Open first: `(composewatch/[^`]+)`", change, re.MULTILINE)
        assert len(firsts) == 1, change.splitlines()[0]
        assert (REPO / firsts[0]).is_file()
