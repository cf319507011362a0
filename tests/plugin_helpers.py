"""Installing a throwaway plugin for a test the way an installer lays a distribution out:
the module plus a ``*.dist-info`` with its metadata and ``entry_points.txt`` (group
``spanlink``) on a ``sys.path`` entry, so ``importlib.metadata`` finds it like any installed
distribution. Imported as ``plugin_helpers`` from every test folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["install_module_plugin", "install_sample"]


def _dist_info(site: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[spanlink]"] + [f"{key} = {target}" for key, target in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def install_module_plugin(
    site: Path, module: str, source: str, entry_point: str, version: str = "0.1.0"
) -> None:
    """Write ``module.py`` and its ``*.dist-info`` (declaring ``entry_point = module`` in group
    ``spanlink``) into ``site``; put ``site`` on ``sys.path``/``PYTHONPATH`` to install it."""
    (site / f"{module}.py").write_text(source)
    _dist_info(site, module.replace("_", "-"), version, {entry_point: module})


def install_sample(site: Path, folder: Path) -> str:
    """Lay the sample package in ``folder`` out in ``site`` as an installer would; return its
    module name."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    (module_dir,) = (folder / "src").iterdir()
    shutil.copytree(module_dir, site / module_dir.name)
    _dist_info(site, project["name"], project["version"], project["entry-points"]["spanlink"])
    return module_dir.name
