"""The distribution's version (kept here so reading it needs no package metadata lookup)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
