"""Install a throwaway one-module plugin the way an installer lays a distribution out
(imported as ``plugin_helpers`` from every test folder)."""

from __future__ import annotations

from pathlib import Path


def install_module_plugin(
    site: Path, module: str, source: str, entry_point: str, version: str = "0.1.0"
) -> None:
    """Write ``module.py`` and its ``*.dist-info`` (declaring ``entry_point = module`` in group
    ``spanlink``) into ``site``; put ``site`` on ``sys.path``/``PYTHONPATH`` to install it."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    name = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[spanlink]\n{entry_point} = {module}\n")
