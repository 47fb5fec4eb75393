"""The committed corpus outputs against the reference `docker-compose` binary itself: a few
hundred runs of the binary (about half a minute), so not a unit test. The unit tests compare
the loader with the committed outputs; these make sure those outputs are still what Docker
Compose prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpuscases import INVALID, VALID, case_options, cases, hashes, reads_env_files, regenerate

from composewatch.compose import load_project
from composewatch.confighash import service_hash


def _reference_binary() -> Path:
    binary: Path | None = regenerate.compose_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("docker-compose reference binary missing (install the dev extras)")
        pytest.skip("docker-compose reference binary not installed")
    return binary


def test_every_config_hash_equals_the_binarys() -> None:
    """All services of the cases without env files, paths included, against the binary run
    in place (their hashes depend on where the corpus is checked out)."""
    binary = _reference_binary()
    differing = []
    for case in VALID:
        if reads_env_files(case):
            continue
        _, out, _ = regenerate.reference_output(
            binary, case, "json", regenerate.hash_arguments(case)
        )
        want = hashes(out)
        project = load_project(case_options(case)).project
        got = {name: service_hash(s) for name, s in project.services.items()}
        differing += [f"{case.name}/{name}" for name in want if got.get(name) != want[name]]
    assert not differing, differing


def test_committed_reference_outputs_are_what_the_binary_prints() -> None:
    """When the reference binary is installed (dev extras), the committed exact outputs and
    exit codes are still what it prints: the corpus cannot drift from Docker Compose."""
    binary = _reference_binary()
    drifted = []
    for case in cases():
        if case in INVALID:
            code, _, _ = regenerate.reference_output(binary, case, "json")
            want = int((case / "expected-error.txt").read_text().split()[2])
            if code != want:
                drifted.append(f"{case.name}: exit {code}")
            continue
        for fmt in regenerate.FORMATS:
            _, stdout, _ = regenerate.reference_output(binary, case, fmt)
            if stdout != (case / f"expected.stdout.{fmt}").read_text():
                drifted.append(f"{case.name}: {fmt}")
        if regenerate.portable_hashes(binary, case) != (case / "expected.hashes.txt").read_text():
            drifted.append(f"{case.name}: hashes")
    assert not drifted, drifted
