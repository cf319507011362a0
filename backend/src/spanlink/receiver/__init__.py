"""spanlink's receiver: OTLP/HTTP trace ingestion into Postgres, a query API, tenancy.

Entry points: :func:`spanlink.receiver.app.create_app`,
:class:`spanlink.receiver.settings.Settings`, :func:`spanlink.receiver.server.start_in_thread`
and the ``spanlink-receiver`` command.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
