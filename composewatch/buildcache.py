"""Which build context each image was built from, so an unchanged context is never rebuilt.

Kept in a small JSON file per project under the user's cache directory rather than as an
image label: a label adds a build step and makes our images differ from compose's.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BuildCache", "default_cache_dir"]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "composewatch"


@dataclass
class BuildCache:
    """service -> (context digest, image id) for one project; saved on every change."""

    path: Path
    entries: dict[str, tuple[str, str]]

    @classmethod
    def load(cls, project: str, directory: Path | None = None) -> BuildCache:
        path = (directory or default_cache_dir()) / f"{project}.json"
        try:
            raw = json.loads(path.read_text())
            entries = {k: (str(v[0]), str(v[1])) for k, v in raw.items()}
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            entries = {}  # a missing or damaged cache only costs a rebuild
        return cls(path, entries)

    def image_for(self, service: str, digest: str) -> str | None:
        entry = self.entries.get(service)
        return entry[1] if entry is not None and entry[0] == digest else None

    def built(self, service: str, image: str | None) -> bool:
        """Whether composewatch built `image` for `service` (whatever its context was)."""
        entry = self.entries.get(service)
        return entry is not None and entry[1] == image

    def digest_of(self, service: str, image: str) -> str | None:
        """The context digest composewatch built `image` from for `service`, if it did."""
        entry = self.entries.get(service)
        return entry[0] if entry is not None and entry[1] == image else None

    def record(self, service: str, digest: str, image: str) -> None:
        if self.entries.get(service) == (digest, image):
            return
        self.entries[service] = (digest, image)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.entries))
            tmp.replace(self.path)
        except OSError:
            pass  # read-only home: the cache is an optimisation, never a failure
