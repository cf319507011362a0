"""Deprecated: moved to ``spanlink.receiver.storage``; this path works for one more release."""

from spanlink.receiver._deprecated import moved

__getattr__ = moved(
    __name__,
    "spanlink.receiver.storage",
    (
        "DatabaseUnavailable",
        "create_app_engine",
        "create_owner_engine",
        "database_errors",
        "project_scope",
        "sqlalchemy_url",
    ),
)
