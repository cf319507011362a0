"""Reading what an OTLP/HTTP receiver answered: error messages and ``partial_success``."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["partial_success", "server_message"]

_MAX_MESSAGE = 300


def server_message(response: httpx.Response) -> str:
    """The receiver's error message: a ``google.rpc.Status`` (protobuf or JSON) or plain text."""
    content = response.content[:8192]
    if not content:
        return response.reason_phrase or "no message"
    content_type = response.headers.get("content-type", "")
    if "protobuf" in content_type:
        message = _status_message(content)
        if message:
            return message[:_MAX_MESSAGE]
    if "json" in content_type:
        try:
            data = json.loads(content)
        except ValueError:
            pass
        else:
            if isinstance(data, dict):
                for key in ("message", "detail", "error"):
                    if isinstance(data.get(key), str):
                        return str(data[key])[:_MAX_MESSAGE]
            return json.dumps(data)[:_MAX_MESSAGE]
    return content.decode("utf-8", "replace").strip()[:_MAX_MESSAGE]


def partial_success(response: httpx.Response) -> tuple[int, str]:
    """``(rejected spans, error message)`` of a successful export response, ``(0, "")`` if none."""
    content = response.content
    if not content:
        return 0, ""
    content_type = response.headers.get("content-type", "")
    try:
        if "json" in content_type:
            data: Any = json.loads(content)
            partial = data.get("partialSuccess") or data.get("partial_success") or {}
            rejected = int(partial.get("rejectedSpans") or partial.get("rejected_spans") or 0)
            message = str(partial.get("errorMessage") or partial.get("error_message") or "")
            return rejected, message
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        parsed = ExportTraceServiceResponse.FromString(content)
        return int(parsed.partial_success.rejected_spans), str(parsed.partial_success.error_message)
    except Exception:  # an unreadable success body is still a success
        return 0, ""


def _status_message(data: bytes) -> str | None:
    """Field 2 (``message``) of a serialized ``google.rpc.Status``, without its schema."""
    offset = 0
    try:
        while offset < len(data):
            key, offset = _varint(data, offset)
            field, wire = key >> 3, key & 7
            if wire == 0:
                _, offset = _varint(data, offset)
            elif wire == 1:
                offset += 8
            elif wire == 5:
                offset += 4
            elif wire == 2:
                length, offset = _varint(data, offset)
                if field == 2:
                    return data[offset : offset + length].decode("utf-8", "replace")
                offset += length
            else:
                return None
    except IndexError:
        return None
    return None


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7
