"""The exceptions of spanlink-endpoint: one base class, one subclass per thing to fix."""

from __future__ import annotations

__all__ = ["AuthenticationError", "ConfigurationError", "EndpointError", "RegistrationError"]


class EndpointError(Exception):
    """Base class of every error raised by spanlink-endpoint."""


class ConfigurationError(EndpointError, ValueError):
    """The client was given settings it cannot work with; the message says which."""


class AuthenticationError(EndpointError):
    """The receiver refused the API key (HTTP 401/403). The client does not retry:
    fix ``api_key=`` / ``SPANLINK_API_KEY`` and start it again."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistrationError(EndpointError):
    """The receiver answered ``register`` with an error (or not at all in time)."""
