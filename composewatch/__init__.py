"""composewatch: from a save to the new code served, for Docker Compose projects."""

__version__ = "0.1.0"
