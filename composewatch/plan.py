"""Old import path of `composewatch.core.plan` (the pure `up` plan)."""

from composewatch.core.plan import *  # noqa: F403
from composewatch.core.plan import __all__ as __all__
