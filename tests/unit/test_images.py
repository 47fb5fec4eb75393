"""Which image a service runs at `up` (pure), as a table."""

from __future__ import annotations

import pytest

from composewatch.core.images import ImageFacts, ImageStep, choose_image


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ImageFacts(False, None, None, False, False), "pull (the service names an image)"),
        (ImageFacts(True, None, None, False, False), "build (no image yet)"),
        (ImageFacts(True, "i1", "i1", True, False), "reuse i1 (built from this context already)"),
        (
            ImageFacts(True, "i1", None, False, True),
            "adopt i1 (made elsewhere and running with this configuration)",
        ),
        # Built by composewatch from another context: rebuilt, never adopted as it is.
        (
            ImageFacts(True, "i1", None, True, True),
            "build (the context changed since it was built)",
        ),
        (
            ImageFacts(True, "i1", "i0", False, False),
            "build (the context changed since it was built)",
        ),
    ],
)
def test_choose_image(facts: ImageFacts, expected: str) -> None:
    choice = choose_image(facts)
    shown = f"{choice.step}" + (f" {choice.image}" if choice.image else "") + f" ({choice.cause})"
    assert shown == expected
    assert (choice.image is not None) == (choice.step in (ImageStep.REUSE, ImageStep.ADOPT))
