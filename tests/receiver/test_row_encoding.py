"""The JSON columns of a span row: the fast encoder (orjson) and the reference one agree."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from spanlink.receiver.ingest._rows import _dumps, _dumps_slowly

_SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _VALUES, max_size=6) | st.lists(_VALUES, max_size=4))
def test_the_fast_encoding_is_the_reference_encoding(value: Any) -> None:
    assert json.loads(_dumps(value)) == json.loads(_dumps_slowly(value))


def test_nan_infinity_and_nul_are_stored_as_before() -> None:
    value = {"a": float("nan"), "b": float("-inf"), "c": "x\x00y", "d": None, 1: "key"}
    assert json.loads(_dumps(value)) == {
        "a": "nan",
        "b": "-inf",
        "c": "x\ufffdy",
        "d": None,
        "1": "key",
    }
