"""Deprecated: moved to ``spanlink.receiver.storage``; this path works for one more release."""

from spanlink.receiver._deprecated import moved

__getattr__ = moved(__name__, "spanlink.receiver.storage", ("create_api_key", "create_project"))
