"""``spanlink.tracer.protocol`` still imports for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

import spanlink.protocol


def test_old_module_warns_and_reexports_the_protocol() -> None:
    sys.modules.pop("spanlink.tracer.protocol", None)
    with pytest.warns(DeprecationWarning, match="import spanlink.protocol instead"):
        old = importlib.import_module("spanlink.tracer.protocol")
    assert old.__all__ == spanlink.protocol.__all__
    assert old.Invoke is spanlink.protocol.Invoke and old.decode is spanlink.protocol.decode
