"""Routes of the trace viewer: ``/`` redirects to ``/ui/``, which serves the static assets."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

from spanlink.receiver.ui import SECURITY_HEADERS, STATIC_DIR

__all__ = ["router"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """The receiver's home page is the trace viewer."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
def ui_no_slash() -> RedirectResponse:
    """``/ui`` -> ``/ui/`` so the page's relative asset paths resolve."""
    return RedirectResponse("/ui/", status_code=307)


def _asset(relative: str) -> Path:
    """The file under ``STATIC_DIR`` for a request path; 404 for anything outside it."""
    path = (STATIC_DIR / (relative or "index.html")).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise HTTPException(404, f"no such file in the viewer: /ui/{relative}")
    return path


@router.get("/ui/{relative:path}")
def asset(relative: str) -> Response:
    """One asset of the viewer (``/ui/`` is ``index.html``), with the security headers."""
    path = _asset(relative)
    media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return FileResponse(
        path, media_type=media_type or "application/octet-stream", headers=SECURITY_HEADERS
    )
