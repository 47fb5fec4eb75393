"""What a build sends: the tar's members against the expected set, and the rebuild digest."""

from __future__ import annotations

import io
import os
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from composewatch.core.buildinputs import BuildRequest
from composewatch.engine.buildcontext import select_context, stream_tar
from composewatch.errors import BuildContextError


def _request(context: Path, dockerfile: str = "Dockerfile", **changes: object) -> BuildRequest:
    base = BuildRequest(
        service="web", context=context, dockerfile=dockerfile, dockerfile_inline=None, args=(),
        target=None, labels=(), no_cache=False, pull=False, network=None, extra_hosts=(),
        shm_size=None, cache_from=(), platform=None, ulimits=(), isolation=None,
        config_file="compose.yaml",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def _members(request: BuildRequest) -> dict[str, tarfile.TarInfo]:
    data = b"".join(stream_tar(select_context(request)))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def _files(request: BuildRequest) -> set[str]:
    return {name for name, m in _members(request).items() if not m.isdir()}


def test_ignore_rules_bom_dirs_and_exceptions(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {
        "Dockerfile": "FROM scratch\n", "app.py": "", "debug.log": "", "keep.log": "",
        "node_modules/a/index.js": "", "src/node_modules/b.js": "", "src/main.py": "",
        "docs/a.md": "", "docs/README.md": "", ".env": "SECRET=1", "certs/key.pem": "",
    })  # fmt: skip
    (ctx / ".dockerignore").write_bytes(
        "\ufeff*.log\n!keep.log\n**/node_modules\ndocs\n!docs/README.md\n.env\n**/*.pem\n".encode()
    )
    assert _files(_request(ctx)) == {
        ".dockerignore", "Dockerfile", "app.py", "keep.log", "src/main.py", "docs/README.md",
    }  # fmt: skip


def test_dockerfile_and_ignore_file_always_sent(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {"Dockerfile": "FROM scratch\n", "a": "", ".dockerignore": "*\n"})
    assert _files(_request(ctx)) == {"Dockerfile", ".dockerignore"}


def test_per_dockerfile_ignore_takes_precedence(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {
        "build/app.Dockerfile": "FROM scratch\n", "build/app.Dockerfile.dockerignore": "*.txt\n",
        ".dockerignore": "*.py\n", "a.py": "", "b.txt": "",
    })  # fmt: skip
    files = _files(_request(ctx, "build/app.Dockerfile"))
    assert "a.py" in files and "b.txt" not in files
    assert "build/app.Dockerfile" in files


def test_dockerfile_outside_context_travels_under_its_own_name(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {"app.py": ""})
    (tmp_path / "Dockerfile.dev").write_text("FROM scratch\nCOPY . /\n")
    request = _request(ctx, "../Dockerfile.dev")
    selection = select_context(request)
    assert selection.dockerfile.startswith(".dockerfile.")
    members = _members(request)
    assert set(members) == {"app.py", selection.dockerfile, ".dockerignore"}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream_tar(selection)))) as tar:
        dockerfile = tar.extractfile(selection.dockerfile)
        assert dockerfile is not None and dockerfile.read() == b"FROM scratch\nCOPY . /\n"


def test_inline_dockerfile(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {"app.py": ""})
    request = _request(ctx, dockerfile_inline="FROM scratch\n")
    selection = select_context(request)
    assert selection.dockerfile in _files(request)


def test_symlinks_sent_as_links_and_loops_harmless(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {"Dockerfile": "FROM scratch\n", "real/file": "x"})
    os.symlink("real/file", ctx / "link")
    os.symlink(".", ctx / "real" / "loop")
    members = _members(_request(ctx))
    assert members["link"].issym() and members["link"].linkname == "real/file"
    assert members["real/loop"].issym()
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())


def test_long_and_odd_names_round_trip(tmp_path: Path) -> None:
    long = "d" * 120 + "/" + "f" * 150
    odd = 'a;touch pwned.txt "$(id)" \x1b[31m'
    ctx = _tree(tmp_path, {"Dockerfile": "FROM scratch\n", long: "x", odd: "y"})
    assert {long, odd} <= _files(_request(ctx))


def test_missing_context_and_dockerfile_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(BuildContextError, match=r"services\.web\.build\.context"):
        select_context(_request(tmp_path / "nope"))
    with pytest.raises(BuildContextError, match=r"services\.web\.build\.dockerfile"):
        select_context(_request(tmp_path, "Other"))


def test_bad_ignore_pattern_names_file_and_line(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {"Dockerfile": "", ".dockerignore": "ok\n[\n"})
    with pytest.raises(BuildContextError, match=r"\.dockerignore, line 2"):
        select_context(_request(ctx))


def test_digest_covers_every_build_input(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {"app.py": "", "debug.log": "", ".dockerignore": "*.log\n"})
    outside = tmp_path / "Dockerfile"
    outside.write_text("FROM scratch\n")
    request = _request(ctx, "../Dockerfile")
    first = select_context(request).digest
    assert select_context(request).digest == first
    (ctx / "debug.log").write_text("more")  # ignored: no rebuild
    assert select_context(request).digest == first
    changed = [
        replace(request, args=(("A", "1"),)),
        replace(request, target="dev"),
        replace(request, no_cache=True),
    ]
    assert all(select_context(r).digest != first for r in changed)
    outside.write_text("FROM scratch\nENV A=1\n")  # a Dockerfile outside the context
    second = select_context(request).digest
    assert second != first
    (ctx / ".dockerignore").write_text("*.log\n*.md\n")  # the ignore file itself
    assert select_context(request).digest != second


def test_tar_is_streamed_in_bounded_chunks(tmp_path: Path) -> None:
    ctx = _tree(tmp_path, {"Dockerfile": "FROM scratch\n"})
    (ctx / "big.bin").write_bytes(os.urandom(1 << 20))
    chunks = list(stream_tar(select_context(_request(ctx))))
    assert max(len(c) for c in chunks) <= 1 << 16
    assert sum(len(c) for c in chunks) % 512 == 0
