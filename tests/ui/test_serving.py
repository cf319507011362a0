"""The viewer is served by the receiver: redirect, security headers, packaged assets."""

from __future__ import annotations

import re
from importlib.resources import files

import httpx

from spanlink.receiver.ui import CONTENT_SECURITY_POLICY

STATIC = files("spanlink.receiver.ui") / "static"


def _assets() -> list[str]:
    names: list[str] = []
    stack = [(STATIC, "")]
    while stack:
        folder, prefix = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                stack.append((entry, f"{prefix}{entry.name}/"))
            else:
                names.append(f"{prefix}{entry.name}")
    return sorted(names)


def test_root_redirects_to_the_viewer(receiver) -> None:
    with httpx.Client(base_url=receiver.url) as http:
        answer = http.get("/")
        assert answer.status_code == 307
        assert answer.headers["location"] == "/ui/"
        assert http.get("/ui").headers["location"] == "/ui/"
        page = http.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js"></script>' in page.text


def test_every_asset_is_served_with_the_csp_and_its_type(receiver) -> None:
    types = {
        ".html": "text/html",
        ".js": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg",
    }
    assets = _assets()
    assert {"index.html", "app.css", "js/main.js", "js/waterfall.js"} <= set(assets)
    with httpx.Client(base_url=receiver.url) as http:
        for name in assets:
            answer = http.get(f"/ui/{name}")
            assert answer.status_code == 200, name
            assert answer.headers["content-type"].startswith(types[name[name.rindex(".") :]])
            assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert answer.headers["x-content-type-options"] == "nosniff"


def test_csp_forbids_inline_script_and_other_origins() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        sources = directives[name].split()
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
        assert all(s in {"'self'", "data:"} for s in sources), (name, sources)
    assert directives["frame-ancestors"] == "'none'"


def test_unknown_and_escaping_paths_are_404(receiver) -> None:
    with httpx.Client(base_url=receiver.url) as http:
        assert http.get("/ui/nope.js").status_code == 404
        assert http.get("/ui/../app.py").status_code == 404
        assert http.get("/ui/%2e%2e/routes.py").status_code == 404
        assert http.get("/ui/js/%2e%2e/%2e%2e/routes.py").status_code == 404


def test_assets_have_no_inline_script_no_html_sinks_and_no_other_origin() -> None:
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []  # no inline script
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    for name in _assets():
        if not name.endswith((".js", ".html", ".css")):
            continue
        text = (STATIC / name).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{name} uses {sink}"
        # No CDN or other origin: the only absolute URL is the SVG namespace name.
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{name} refers to {urls}"


def test_every_module_is_preloaded() -> None:
    """index.html asks for every module at once (no import waterfall on a cold load)."""
    html = (STATIC / "index.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="(js/[a-z_]+\.js)">', html))
    modules = {name for name in _assets() if name.startswith("js/")}
    assert preloaded | {"js/main.js"} == modules
