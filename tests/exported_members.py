"""One check for every distribution: ``__all__`` and the documented API agree.

Like httpx's ``tests/test_exported_members.py``: every name of ``__all__`` imports, no
public object of the package is left out of ``__all__``, and every name the README imports
from the package or shows in backticks (``name`` or ``name(...)``) is in ``__all__``.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _readme_names(package: str, text: str) -> tuple[set[str], set[str]]:
    imported: set[str] = set()
    for match in re.finditer(rf"from {re.escape(package)} import (\([^)]*\)|[^\n]+)", text):
        imported.update(re.findall(r"[A-Za-z_]\w*", match.group(1).split("#")[0]))
    shown = set(re.findall(r"`([A-Za-z_]\w*)(?:`|\()", text))
    return imported, shown


def check_exported_members(module: types.ModuleType, readme: str) -> None:
    """Assert that ``module.__all__`` is the API ``readme`` (relative to the root) documents."""
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "__all__ lists a name twice"
    for name in exported:
        assert getattr(module, name, None) is not None, f"{name} is in __all__ but not importable"
    for name, value in vars(module).items():
        owner = getattr(value, "__module__", None) or ""
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if owner.startswith(module.__name__):
            assert name in exported, f"{module.__name__}.{name} is public but not in __all__"
    imported, shown = _readme_names(module.__name__, (ROOT / readme).read_text("utf-8"))
    assert (imported | shown) & set(exported), f"{readme} documents no name of __all__"
    assert imported <= set(exported), f"{readme} imports {sorted(imported - set(exported))}"
    for name in shown:
        value = getattr(module, name, None)
        if value is not None and not isinstance(value, types.ModuleType):
            assert name in exported, f"{readme} documents {name}, which is not in __all__"


def api_section_names(readme: str) -> set[str]:
    """The names a README's ``## API`` section lists (backticked, before a bullet's colon)."""
    api = (ROOT / readme).read_text("utf-8").split("## API", 1)[1]
    return {
        name
        for line in api.splitlines()
        if line.startswith("- ")
        for name in re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)`", line.split(":", 1)[0])
    }
