"""Installing a throwaway plugin package for a test, the way an installer lays it out: the
module plus a ``*.dist-info`` with its metadata and ``entry_points.txt`` (built from its
``pyproject.toml``) onto a ``sys.path`` entry, so ``importlib.metadata`` finds it like any
installed distribution."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["install_sample"]


def install_sample(site: Path, folder: Path) -> str:
    """Lay the sample package in ``folder`` out in ``site`` as an installer would; return its
    module name."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    (module_dir,) = (folder / "src").iterdir()
    shutil.copytree(module_dir, site / module_dir.name)
    name, version = project["name"], project["version"]
    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    lines = ["[spanlink]"] + [
        f"{ep_name} = {target}" for ep_name, target in project["entry-points"]["spanlink"].items()
    ]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return module_dir.name
