"""The receiver's HTTP API: one router per resource, one way to authenticate.

Routers (each module's ``router``): ``ingest`` (OTLP/HTTP), ``traces``, ``metrics``,
``prices``, ``redaction``, ``test_runs``, ``reported_runs`` (client-reported runs'
results), ``scores``, ``datasets``, ``compare``, ``endpoints``, ``health`` and ``ui`` (the
viewer's assets). A new resource is a new module with its ``router``, listed in
:data:`ROUTERS`. ``auth`` holds the bearer dependency (:data:`Project`) and
:func:`project_transaction`; ``responses`` the documented response models; ``_http``
the helpers the routers share.
"""

from __future__ import annotations

from fastapi import APIRouter

from spanlink.receiver.api import (
    compare,
    datasets,
    endpoints,
    health,
    ingest,
    metrics,
    prices,
    redaction,
    reported_runs,
    scores,
    test_runs,
    traces,
    ui,
)
from spanlink.receiver.api.auth import Project, authenticate, project_transaction, require_project

__all__ = ["ROUTERS", "Project", "authenticate", "project_transaction", "require_project"]

#: Every router of the API, in the order the app includes them.
ROUTERS: tuple[APIRouter, ...] = (
    ingest.router,
    traces.router,
    metrics.router,
    health.router,
    prices.router,
    redaction.router,
    test_runs.router,
    reported_runs.router,
    scores.router,
    datasets.router,
    compare.router,
    endpoints.router,
    ui.router,  # /ui/ (static page) and / -> /ui/
)
