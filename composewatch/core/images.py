"""Which image a service runs at `up`, decided from what was observed (pure).

The observation (the context digest, the image the tag names, the build cache, the running
containers) is made by the shell; this decides, with the cause, as the plan does."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ImageChoice", "ImageFacts", "ImageStep", "choose_image"]


class ImageStep(StrEnum):
    PULL = "pull"  # no build section: the image as named (pulled when missing)
    REUSE = "reuse"  # built by composewatch from this very context
    ADOPT = "adopt"  # made elsewhere (docker compose up) and running with this configuration
    BUILD = "build"


@dataclass(frozen=True)
class ImageFacts:
    has_build: bool
    tagged: str | None  # the image id the service's tag names now
    cached_for_digest: str | None  # what composewatch built from the current context digest
    built_by_us: bool  # `tagged` was built by composewatch (from whatever context)
    running_as_configured: bool  # a running container uses `tagged` with this config hash


@dataclass(frozen=True)
class ImageChoice:
    step: ImageStep
    image: str | None  # known without building (REUSE, ADOPT)
    cause: str


def choose_image(facts: ImageFacts) -> ImageChoice:
    if not facts.has_build:
        return ImageChoice(ImageStep.PULL, None, "the service names an image")
    if facts.tagged is not None and facts.cached_for_digest == facts.tagged:
        return ImageChoice(ImageStep.REUSE, facts.tagged, "built from this context already")
    if facts.tagged is not None and not facts.built_by_us and facts.running_as_configured:
        return ImageChoice(
            ImageStep.ADOPT, facts.tagged, "made elsewhere and running with this configuration"
        )
    cause = "no image yet" if facts.tagged is None else "the context changed since it was built"
    return ImageChoice(ImageStep.BUILD, None, cause)
