"""The receiver's version (kept in step with ``backend/pyproject.toml``)."""

__version__ = "0.1.0"
