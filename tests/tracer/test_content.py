"""Content capture: bounded JSON, safe repr, masks, the on/off switch; never into user code."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spanlink.tracer import observe, semconv
from spanlink.tracer._content import (
    CAPTURE_CONTENT_ENV,
    DEFAULT_MAX_BYTES,
    TRUNCATION_MARKER,
    apply_masks,
    capture,
    capture_arguments,
    capture_enabled,
    configure_content,
    content_config,
    object_key,
    safe_repr,
    serialize,
)


@pytest.fixture(autouse=True)
def default_content_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    configure_content()
    yield
    configure_content()


def only(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = spans.get_finished_spans()
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


# --- serialize -----------------------------------------------------------------------


def test_plain_values_are_exact_json() -> None:
    value = {"a": 1, "b": [1.5, None, True], "c": "é ✓", "d": {"nested": "x"}}
    assert json.loads(serialize(value)) == value
    assert serialize("text") == '"text"'
    assert serialize(None) == "null"


def test_common_python_types_are_readable() -> None:
    value = {
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "id": uuid.UUID(int=1),
        "color": Color.RED,
        "point": Point(1, 2),
        "tuple": (1, 2),
        "set": {3},
        "bytes": b"\x00\x01",
        "nan": float("nan"),
        "big": 10**100,
        7: "int key",
    }
    out = json.loads(serialize(value))
    assert out["when"] == "2026-01-02T03:04:05"
    assert out["id"] == str(uuid.UUID(int=1))
    assert out["color"] == "red"
    assert out["point"] == {"x": 1, "y": 2}
    assert out["tuple"] == [1, 2]
    assert out["set"] == [3]
    assert out["bytes"] == "<bytes of 2 bytes>"
    assert out["nan"] == "nan"
    assert out["big"].startswith("1000")
    assert out["7"] == "int key"


def test_unserialisable_objects_get_a_bounded_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "Thing(" + "x" * 10_000 + ")"

    out = json.loads(serialize({"thing": Thing(), "fn": len}))
    assert out["thing"].startswith("Thing(xxx")
    assert len(out["thing"]) <= 600
    assert "built-in function len" in out["fn"]


def test_repr_that_raises_is_recorded_as_a_marker() -> None:
    out = json.loads(serialize({"bad": BadRepr()}))
    assert out["bad"] == "<BadRepr object (repr failed: RuntimeError)>"
    assert safe_repr(BadRepr()) == "<BadRepr object (repr failed: RuntimeError)>"


def test_recursive_structures_are_marked() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    d: dict[str, Any] = {"k": 1}
    d["self"] = d
    out = json.loads(serialize({"list": loop, "dict": d}))
    assert out["list"] == [1, "<recursive list>"]
    assert out["dict"] == {"k": 1, "self": "<recursive dict>"}
    # A value seen twice but not recursively is written twice.
    shared = [1, 2]
    assert json.loads(serialize([shared, shared])) == [[1, 2], [1, 2]]


def test_deep_nesting_is_cut() -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = [deep]
    text = serialize(deep)
    assert len(text.encode()) <= DEFAULT_MAX_BYTES
    assert "bottom" not in text


@pytest.mark.parametrize(
    "huge",
    [
        "x" * 10_000_000,
        list(range(2_000_000)),
        {str(i): i for i in range(300_000)},
        ["é" * 1000] * 1000,
        "✓" * 100_000,
    ],
    ids=["str", "list", "dict", "list-of-unicode", "unicode-str"],
)
def test_huge_values_stay_within_the_limit(huge: Any) -> None:
    text = serialize(huge, max_bytes=1024)
    assert len(text.encode("utf-8")) <= 1024
    assert "…" in text or text.endswith(TRUNCATION_MARKER)


def test_a_huge_first_value_does_not_hide_the_next_ones() -> None:
    out = json.loads(serialize({"document": "d" * 100_000, "question": "why?", "n": 3}))
    assert out["question"] == "why?"
    assert out["n"] == 3
    assert out["document"].startswith("ddd") and out["document"].endswith("…")
    items = json.loads(serialize(["a" * 100_000, "tail"], max_bytes=512))
    assert items[1] == "tail"


def test_truncation_marker_when_cut() -> None:
    # Many short strings: each fits the budget, the JSON text around them does not.
    text = serialize(['"' * 40] * 40, max_bytes=256)
    assert len(text.encode()) <= 256
    assert text.endswith(TRUNCATION_MARKER)


def test_lone_surrogates_are_replaced() -> None:
    text = serialize("bad \ud800 text")
    text.encode("utf-8")  # must not raise
    assert json.loads(text).startswith("bad ")


def test_mapping_that_fails_while_read_is_recorded_safely() -> None:
    class Exploding(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise OSError("disk gone")

    text = serialize(Exploding(a=1))
    assert "unserialisable" in text and "OSError" in text


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=50,
    ),
    st.integers(min_value=64, max_value=4096),
)
def test_any_json_like_value_fits_and_never_raises(value: Any, limit: int) -> None:
    text = serialize(value, max_bytes=limit)
    assert isinstance(text, str)
    assert len(text.encode("utf-8")) <= limit


_ASCII = st.characters(max_codepoint=127)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(_ASCII, max_size=300)
    | st.text(max_size=3)
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(_ASCII, min_size=1, max_size=70) | st.text(min_size=1), _SCALARS, max_size=18
    ),
    st.integers(min_value=64, max_value=9000),
)
def test_arguments_written_directly_are_exactly_what_capture_writes(
    arguments: dict[str, Any], limit: int
) -> None:
    configure_content(max_bytes=limit)
    keys = tuple(object_key(name) for name in arguments)
    if None in keys:  # a name too long for the direct path: the caller captures the dict
        assert any(len(name) > 64 for name in arguments)
        return
    text = capture_arguments(keys, tuple(arguments.values()))  # type: ignore[arg-type]
    if text is not None:
        assert text == capture(arguments)


def test_arguments_written_directly_cover_the_common_call() -> None:
    keys = (object_key("x"), object_key("y"), object_key("z"), object_key("w"))
    text = capture_arguments(keys, (1, "x", 2.5, None))  # type: ignore[arg-type]
    assert (
        text
        == capture({"x": 1, "y": "x", "z": 2.5, "w": None})
        == ('{"x":1,"y":"x","z":2.5,"w":null}')
    )
    # Not plain (a list, a non-ASCII text, a huge int) or masked: the caller captures the dict.
    assert capture_arguments(keys[:1], ([1],)) is None  # type: ignore[arg-type]
    assert capture_arguments(keys[:1], ("é",)) is None  # type: ignore[arg-type]
    assert capture_arguments(keys[:1], (2**70,)) is None  # type: ignore[arg-type]
    configure_content(mask=lambda v: v)
    assert capture_arguments(keys[:1], (1,)) is None  # type: ignore[arg-type]


def test_observed_input_is_the_same_on_every_path(spans: InMemorySpanExporter) -> None:
    """Scalars (written directly), keywords, containers, methods and masks all record the
    arguments by name, in call order."""

    @observe
    def f(x: Any, y: Any = 0, *rest: Any, **extra: Any) -> None:
        pass

    class C:
        @observe
        def m(self, x: Any) -> None:
            pass

    f(1, "two")
    f(1, y=[2])
    f(1, 2, 3, k=4)
    f(None, 2.5)
    C().m("é")
    inputs = [json.loads(attrs(s)[semconv.SPANLINK_INPUT]) for s in spans.get_finished_spans()]
    assert inputs == [
        {"x": 1, "y": "two"},
        {"x": 1, "y": [2]},
        {"x": 1, "y": 2, "rest": [3], "extra": {"k": 4}},
        {"x": None, "y": 2.5},
        {"x": "é"},
    ]


# --- configuration -------------------------------------------------------------------


def test_switch_from_environment_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert capture_enabled()
    for word in ("false", "0", "no", "OFF", " False "):
        monkeypatch.setenv(CAPTURE_CONTENT_ENV, word)
        assert not capture_enabled()
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    assert capture_enabled()


def test_configure_content_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "false")
    configure_content(enabled=True)
    assert capture_enabled()
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    previous = configure_content(enabled=False, max_bytes=128)
    assert previous.enabled is True
    assert not capture_enabled()
    assert content_config().max_bytes == 128
    configure_content()
    assert capture_enabled()
    assert content_config().max_bytes == DEFAULT_MAX_BYTES


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"enabled": "no"}, TypeError),
        ({"max_bytes": "big"}, TypeError),
        ({"max_bytes": True}, TypeError),
        ({"max_bytes": 10}, ValueError),
        ({"mask": 5}, TypeError),
    ],
)
def test_configure_content_rejects_bad_values_and_keeps_the_old_config(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    configure_content(max_bytes=512)
    with pytest.raises(error):
        configure_content(**kwargs)
    assert content_config().max_bytes == 512


def test_capture_off_records_no_content(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    @observe.llm(model="m")
    def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "choices": [{"message": {"role": "assistant", "content": "secret answer"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }

    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "false")
    chat([{"role": "user", "content": "secret question"}])
    a = attrs(only(spans))
    for key in (
        semconv.SPANLINK_INPUT,
        semconv.SPANLINK_OUTPUT,
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
    ):
        assert key not in a
    assert "secret" not in json.dumps(a)
    # Usage is not content: still recorded.
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3


def test_max_bytes_applies_to_captured_values(spans: InMemorySpanExporter) -> None:
    configure_content(max_bytes=200)

    @observe
    def echo(text: str) -> str:
        return text

    echo("y" * 5000)
    a = attrs(only(spans))
    assert len(a[semconv.SPANLINK_INPUT].encode()) <= 200
    assert len(a[semconv.SPANLINK_OUTPUT].encode()) <= 200


# --- masks ---------------------------------------------------------------------------


def redact_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if k == "api_key" else v for k, v in value.items()}
    return value


def test_decorator_mask_then_global_mask(spans: InMemorySpanExporter) -> None:
    configure_content(mask=lambda v: v.replace("alice", "<user>") if isinstance(v, str) else v)

    @observe(mask=redact_keys)
    def call(api_key: str, who: str) -> str:
        return f"hello alice with {api_key}"

    result = call("sk-123", who="alice")
    assert result == "hello alice with sk-123"  # the user's result is untouched
    a = attrs(only(spans))
    assert json.loads(a[semconv.SPANLINK_INPUT]) == {"api_key": "***", "who": "alice"}
    assert json.loads(a[semconv.SPANLINK_OUTPUT]) == "hello <user> with sk-123"


def test_mask_that_raises_records_a_marker_never_the_value(spans: InMemorySpanExporter) -> None:
    def broken(value: Any) -> Any:
        raise ValueError("mask bug")

    @observe(mask=broken)
    def call(secret: str) -> str:
        return secret

    assert call("hunter2") == "hunter2"
    a = attrs(only(spans))
    assert json.loads(a[semconv.SPANLINK_INPUT]) == "<mask failed: ValueError>"
    assert json.loads(a[semconv.SPANLINK_OUTPUT]) == "<mask failed: ValueError>"
    assert "hunter2" not in json.dumps(a)


def test_apply_masks_without_masks_is_identity() -> None:
    value = object()
    assert apply_masks(value, None) is value


# --- through @observe: bad values never reach the user --------------------------------


def test_hostile_arguments_and_results_are_recorded_safely(spans: InMemorySpanExporter) -> None:
    loop: list[Any] = []
    loop.append(loop)
    result = {"bad": BadRepr(), "loop": loop}

    @observe
    def call(a: Any, b: Any, c: Any) -> Any:
        return result

    assert call(BadRepr(), loop, "z" * 1_000_000) is result
    a = attrs(only(spans))
    captured = json.loads(a[semconv.SPANLINK_INPUT])
    assert captured["a"] == "<BadRepr object (repr failed: RuntimeError)>"
    assert captured["b"] == ["<recursive list>"]
    assert len(a[semconv.SPANLINK_INPUT].encode()) <= DEFAULT_MAX_BYTES
    assert json.loads(a[semconv.SPANLINK_OUTPUT])["loop"] == ["<recursive list>"]


def test_generators_and_iterators_passed_in_are_not_consumed(spans: InMemorySpanExporter) -> None:
    @observe
    def total(numbers: Iterator[int]) -> int:
        return sum(numbers)

    assert total(iter([1, 2, 3])) == 6
    assert "list_iterator" in attrs(only(spans))[semconv.SPANLINK_INPUT]


def test_generator_output_is_bounded(spans: InMemorySpanExporter) -> None:
    configure_content(max_bytes=256)

    @observe
    def stream() -> Iterator[str]:
        for _ in range(5000):
            yield "chunk "

    assert sum(1 for _ in stream()) == 5000
    a = attrs(only(spans))
    assert a[semconv.SPANLINK_OUTPUT_CHUNKS] == 5000
    assert len(a[semconv.SPANLINK_OUTPUT].encode()) <= 256


def test_generator_of_objects_records_a_bounded_list(spans: InMemorySpanExporter) -> None:
    @observe
    def stream() -> Iterator[dict[str, int]]:
        for i in range(3):
            yield {"i": i}

    list(stream())
    assert json.loads(attrs(only(spans))[semconv.SPANLINK_OUTPUT]) == [{"i": 0}, {"i": 1}, {"i": 2}]


def _kept_by_blocks(chunks: list[Any], budget: int) -> list[Any]:
    """The rule: keep every chunk until the end of the first block of 32 where the kept
    size (text length, 32 per other chunk) reaches the budget or the count 1,024."""
    kept: list[Any] = []
    used = 0
    for chunk in chunks:
        kept.append(chunk)
        if len(kept) % 32 == 0:
            used += sum(len(c) if type(c) is str else 32 for c in kept[-32:])
            if used >= budget or len(kept) >= 1024:
                break
    return kept


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.text(max_size=40) | st.integers(), max_size=1300),
    st.integers(min_value=64, max_value=20000),
)
def test_streams_keep_chunks_by_the_block_rule(chunks: list[Any], budget: int) -> None:
    from spanlink.tracer._wrappers import _Chunks

    configure_content(max_bytes=budget)

    @observe
    def stream() -> Iterator[Any]:
        yield from ()

    obs = next(
        c.cell_contents for c in stream.__closure__ or () if hasattr(c.cell_contents, "mask")
    )
    kept = _chunks_as_the_wrapper_keeps_them(_Chunks(obs, True), chunks)
    expected = _kept_by_blocks(chunks, budget)
    if all(type(c) is str for c in expected):
        text = "".join(expected)
        want: Any = (
            expected if not expected else text + ("…" if len(chunks) > len(expected) else "")
        )
    else:
        want = list(expected)
        if len(chunks) > len(expected):
            want.append(f"… {len(chunks) - len(expected)} more chunks")
    assert kept == want


def _chunks_as_the_wrapper_keeps_them(chunks: Any, items: list[Any]) -> Any:
    sink, limit, count = chunks.sink, chunks.limit, 0
    for item in items:
        count += 1
        sink.append(item)
        if count >= limit:
            limit, sink = chunks.check(count)
    return chunks.output(count)
