"""Dockerfile text, as far as composewatch needs to read it.

`apply_named_images` gives `build.additional_contexts` that name images
(`base: docker-image://python:3.11-slim`) their meaning on any engine: the engine's build API
has no parameter for named contexts (buildx passes them through a BuildKit session), so the
names are replaced by their images where Dockerfile syntax allows a named context to appear:
`FROM name`, `COPY --from=name` / `ADD --from=name`, `RUN --mount=...,from=name`. A name that
is also a build stage of the file is left alone, as BuildKit gives stages precedence.

Pure: text in, text out.
"""

from __future__ import annotations

import re

__all__ = ["apply_named_images", "stage_names"]

_FROM = re.compile(r"^(\s*FROM\s+(?:--\S+\s+)*)(\S+)", re.IGNORECASE | re.MULTILINE)
_STAGE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)", re.IGNORECASE | re.MULTILINE)


def stage_names(text: str) -> set[str]:
    return {m.group(1).lower() for m in _STAGE.finditer(text)}


def apply_named_images(text: str, images: dict[str, str]) -> str:
    """`text` with each named context in `images` (name -> image reference) replaced."""
    stages = stage_names(text)
    wanted = {name: image for name, image in images.items() if name.lower() not in stages}
    if not wanted:
        return text

    def from_line(match: re.Match[str]) -> str:
        return match.group(1) + wanted.get(match.group(2), match.group(2))

    text = _FROM.sub(from_line, text)
    for name, image in wanted.items():
        quoted = re.escape(name)
        replace = f"\\g<1>{image}"
        text = re.sub(rf"(--from=){quoted}(?=\s|$)", replace, text)
        text = re.sub(rf"(--mount=\S*?\bfrom=){quoted}(?=[,\s]|$)", replace, text)
    return text
