"""Old import path of `composewatch.core.state` (the watch loop's pure state machine)."""

from composewatch.core.state import *  # noqa: F403
from composewatch.core.state import __all__ as __all__
