"""The errors of ingest: each names the HTTP status a request gets for it."""

from __future__ import annotations

__all__ = ["BodyTooLarge", "MalformedBody", "OTLPError", "UnsupportedMediaType"]


class OTLPError(ValueError):
    """A request body that cannot be accepted; ``status`` is the HTTP status to answer."""

    status = 400


class MalformedBody(OTLPError):
    """The body is not a decodable OTLP trace export (400)."""

    status = 400


class BodyTooLarge(OTLPError):
    """The body (as sent or decompressed) exceeds the configured limit (413)."""

    status = 413


class UnsupportedMediaType(OTLPError):
    """Content type or content encoding not supported (415)."""

    status = 415
