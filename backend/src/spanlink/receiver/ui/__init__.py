"""The trace viewer: a static single-page app served by the receiver under ``/ui/``.

The page is plain HTML, CSS and ES modules shipped inside this package (no build step, no
CDN). It reads only through the project-scoped JSON API with the API key the user signs in
with, so it can never show another project's data. Every response carries a strict
Content-Security-Policy: scripts and styles only from this origin, no inline script. The
routes serving it are ``spanlink.receiver.api.ui``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "STATIC_DIR"]

#: The assets of the page (inside the installed package, so the wheel carries them).
STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Only this origin may provide scripts, styles, images and API answers; no inline script,
#: no plugins, no framing, no form posts elsewhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)

#: Headers sent with every asset of the viewer.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Assets change with the installed version; revalidating is cheap on loopback or a LAN.
    "Cache-Control": "no-cache",
}
