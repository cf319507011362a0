"""The trace viewer: a static single-page app served by the receiver under ``/ui/``.

The page is plain HTML, CSS and ES modules shipped inside this package (no build step, no
CDN). It reads only through the project-scoped JSON API with the API key the user signs in
with, so it can never show another project's data. Every response carries a strict
Content-Security-Policy: scripts and styles only from this origin, no inline script.
"""

from __future__ import annotations

from spanlink.receiver.ui.routes import CONTENT_SECURITY_POLICY, STATIC_DIR, router

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "router"]
