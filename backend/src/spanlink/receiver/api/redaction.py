"""``GET/PUT /api/v1/redaction``: the project's redaction rules (see ``redaction``).

Rules apply to what is stored from the moment ``PUT`` answers (on this receiver; other
receivers pick them up within ``redaction_cache_seconds``); what was stored before is not
rewritten.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from spanlink.receiver.api.auth import Project, in_project
from spanlink.receiver.redaction import (
    BUILTIN_DETECTORS,
    RedactionConfig,
    RedactionConfigError,
    RulesCache,
    load_config,
    parse_config,
    save_config,
)
from spanlink.receiver.storage._json import iso

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["redaction"])


def _document(config: RedactionConfig, updated: Any) -> dict[str, Any]:
    return {
        **config.to_dict(),
        "updated_at": iso(updated),
        "detectors": list(BUILTIN_DETECTORS),
    }


@router.get("/redaction")
async def get_redaction(request: Request, project: Project) -> dict[str, Any]:
    """This project's rules (``builtin``, ``rules``), when they were set, and the builtin
    detectors there are."""
    return _document(*await in_project(request, project, lambda db: load_config(db, project)))


@router.put(
    "/redaction",
    responses={422: {"description": "rules that cannot be used (the message lists each)"}},
)
async def put_redaction(
    request: Request,
    project: Project,
    body: Any = Body(  # noqa: B008
        ...,
        examples=[
            {
                "builtin": ["email", "api_key", "jwt"],
                "rules": [
                    {"name": "ssn", "pattern": r"\b\d{3}-\d{2}-\d{4}\b"},
                    {"name": "password", "keys": ["*password*"]},
                ],
            }
        ],
    ),
) -> dict[str, Any]:
    """Replace this project's redaction rules; ``{"builtin": [], "rules": []}`` turns
    redaction off."""
    try:
        config = parse_config(body)
    except RedactionConfigError as error:
        raise HTTPException(422, str(error)) from None
    updated = await in_project(request, project, lambda db: save_config(db, project, config))
    cache: RulesCache = request.app.state.redaction
    # Compiling the rules can take a while: off the event loop, once they are committed.
    await run_in_threadpool(cache.put, project, config)
    return _document(config, updated)
