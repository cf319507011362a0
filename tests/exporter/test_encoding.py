"""Both encodings decode with opentelemetry-proto to exactly what the stock encoder builds."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from spanlink.exporter._batch import Batcher
from spanlink.exporter._json import JsonEncoder
from spanlink.exporter._protobuf import ProtobufEncoder

_CAP = 64 * 1024 * 1024


def _encode(encoder: Any, spans: list[ReadableSpan]) -> bytes:
    batcher = Batcher(encoder, _CAP)
    result = batcher.encode(spans)
    assert result.failed == result.truncated == result.too_large == 0
    assert len(result.chunks) == 1
    return batcher.body(result.chunks[0])


def test_protobuf_equals_stock_encoder(spans: list[ReadableSpan], decode: Any) -> None:
    decoded = decode(_encode(ProtobufEncoder(), spans), "application/x-protobuf")
    expected = encode_spans(spans)
    assert decoded == expected
    # Every part the round trip must keep is really there.
    assert len(decoded.resource_spans) == 2
    assert sum(len(ss.spans) for rs in decoded.resource_spans for ss in rs.scope_spans) == 15
    chat = decoded.resource_spans[0].scope_spans[1].spans[0]
    assert decoded.resource_spans[0].scope_spans[1].scope.name == "spanlink.tracer"
    assert decoded.resource_spans[0].scope_spans[1].schema_url == "https://schema/1"
    assert chat.parent_span_id == bytes.fromhex("00f067aa0ba902b7")
    assert chat.flags == 0x300  # remote parent
    assert {kv.key for kv in chat.attributes} >= {"tags", "blob", "big", "empty"}


def test_json_is_otlp_json_and_decodes_to_stock(spans: list[ReadableSpan], decode: Any) -> None:
    body = _encode(JsonEncoder(), spans)
    data = json.loads(body)
    span = data["resourceSpans"][0]["scopeSpans"][1]["spans"][0]
    assert span["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert span["parentSpanId"] == "00f067aa0ba902b7"
    assert span["kind"] == 3  # CLIENT as an integer
    assert isinstance(span["startTimeUnixNano"], str) and span["startTimeUnixNano"].isdigit()
    values = {kv["key"]: kv["value"] for kv in span["attributes"]}
    assert values["gen_ai.usage.input_tokens"] == {"intValue": "100"}
    assert values["big"] == {"intValue": str(2**62)}
    assert values["stream"] == {"boolValue": True}
    assert values["blob"] == {"bytesValue": "AAFyYXc="}
    assert values["ids"] == {"arrayValue": {"values": [{"intValue": str(n)} for n in (1, 2, 3)]}}
    assert span["links"][0]["traceId"] == f"{0x1234:032x}"
    assert span["events"][0]["timeUnixNano"].isdigit()
    assert decode(body, "application/json") == encode_spans(spans)


def test_json_non_finite_doubles(decode: Any) -> None:
    span = ReadableSpan(
        "nan",
        context=SpanContext(1, 2, is_remote=False),
        resource=Resource({}),
        attributes={"a": math.nan, "b": math.inf, "c": -math.inf},
        start_time=1,
        end_time=2,
    )
    body = _encode(JsonEncoder(), [span])
    values = {
        kv["key"]: kv["value"]
        for kv in json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    }
    assert values == {
        "a": {"doubleValue": "NaN"},
        "b": {"doubleValue": "Infinity"},
        "c": {"doubleValue": "-Infinity"},
    }
    decoded = decode(body, "application/json").resource_spans[0].scope_spans[0].spans[0]
    assert math.isnan(decoded.attributes[0].value.double_value)
    assert decoded.attributes[1].value.double_value == math.inf


def test_lone_surrogates_do_not_fail_the_batch(decode: Any) -> None:
    span = ReadableSpan(
        "bad \ud800 text",
        context=SpanContext(1, 2, is_remote=False),
        resource=Resource({}),
        attributes={"text": "x\udfffy" * 40},
        start_time=1,
        end_time=2,
    )
    for encoder, ctype in (
        (ProtobufEncoder(), "application/x-protobuf"),
        (JsonEncoder(), "application/json"),
    ):
        decoded = decode(_encode(encoder, [span]), ctype).resource_spans[0].scope_spans[0].spans[0]
        assert decoded.name == "bad \ufffd text"
        assert decoded.attributes[0].value.string_value.startswith("x\ufffdy")


_scalars = st.one_of(
    st.text(max_size=80),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
)
_values = st.one_of(
    _scalars,
    st.lists(st.text(max_size=5), max_size=4),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4),
    st.lists(st.floats(allow_nan=False), max_size=4),
    st.binary(max_size=20),
)


@settings(max_examples=150, deadline=None)
@given(attributes=st.dictionaries(st.text(min_size=1, max_size=20), _values, max_size=12))
def test_any_attributes_match_the_stock_encoder(attributes: dict[str, Any]) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    span = ReadableSpan(
        "s",
        context=SpanContext(7, 9, is_remote=False),
        resource=Resource({"service.name": "h"}),
        attributes=attributes,
        start_time=10,
        end_time=20,
    )
    for encoder in (ProtobufEncoder(), ProtobufEncoder()):  # second: warm caches reused below
        body = _encode(encoder, [span])
        body = _encode(encoder, [span])
        assert ExportTraceServiceRequest.FromString(body) == encode_spans([span])
    json_body = _encode(JsonEncoder(), [span])
    from google.protobuf import json_format

    data = json.loads(json_body)
    for s in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        s["traceId"] = __import__("base64").b64encode(bytes.fromhex(s["traceId"])).decode()
        s["spanId"] = __import__("base64").b64encode(bytes.fromhex(s["spanId"])).decode()
    assert json_format.ParseDict(data, ExportTraceServiceRequest()) == encode_spans([span])
