"""Streamed chunks of a generator endpoint: kept within caps, shown as the partial output.

Chunks are kept in memory (on the invocation in flight) within ``MAX_STREAM_CHUNKS`` and
``MAX_STREAM_BYTES``, and the streamed-so-far output is written to the running result, so
that any receiver shows it; the final ``result`` replaces it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from spanlink.protocol import Chunk
from spanlink.receiver.redaction import CompiledRules
from spanlink.receiver.storage import run_in_project
from spanlink.receiver.testruns._redact import redact_partial
from spanlink.receiver.testruns.registry import EndpointConnection
from spanlink.receiver.testruns.store import PartialOutput, record_partial

__all__ = ["MAX_STREAM_BYTES", "MAX_STREAM_CHUNKS", "STREAM_COUNT_EVERY", "record_chunk"]

logger = logging.getLogger("spanlink.receiver.testruns")

#: Streamed chunks kept per invocation (and shown as its partial output); more are counted.
MAX_STREAM_CHUNKS = 1000
#: Bytes of chunk data (JSON) kept per invocation; more chunks are counted only.
MAX_STREAM_BYTES = 64 * 1024
#: Past the caps, the stored chunk count is refreshed every this many chunks.
STREAM_COUNT_EVERY = 50


async def record_chunk(
    engine: Engine,
    rules: Callable[[int], CompiledRules],
    connection: EndpointConnection,
    message: Chunk,
) -> bool:
    """A generator's chunk for an invocation in flight here; False when there is none.

    ``rules(project_id)`` gives the project's redaction rules for the stored preview.
    """
    item = connection.inflight.get(message.invocation_id)
    if item is None:
        return False
    item.chunk_count += 1
    size = len(
        json.dumps({"d": message.data}, ensure_ascii=False, default=str).encode(
            "utf-8", "surrogatepass"
        )
    )
    if (
        not item.partial_truncated
        and len(item.chunks) < MAX_STREAM_CHUNKS
        and item.chunk_bytes + size <= MAX_STREAM_BYTES
    ):
        item.chunks.append(message.data)
        item.chunk_bytes += size
    elif not item.partial_truncated:
        item.partial_truncated = True
    elif item.chunk_count % STREAM_COUNT_EVERY:
        return True  # only counted; the stored count is refreshed now and then
    snapshot = PartialOutput(
        output=_joined(item.chunks),
        chunk_count=item.chunk_count,
        truncated=item.partial_truncated,
    )
    try:
        await run_in_project(
            engine,
            item.project_id,
            lambda db: record_partial(
                db, message.invocation_id, redact_partial(snapshot, rules(item.project_id))
            ),
        )
    except Exception as error:  # a preview only: the result still carries the output
        logger.warning("spanlink: could not store streamed output: %s", error)
    return True


def _joined(chunks: list[Any]) -> Any:
    """The output streamed so far: str chunks concatenated, else the list."""
    if chunks and all(isinstance(chunk, str) for chunk in chunks):
        return "".join(chunks)
    return list(chunks)
