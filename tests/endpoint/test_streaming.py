"""Generator chunks streamed as ``chunk`` messages over a real WebSocket, within caps."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import spanlink.protocol as p
from spanlink.endpoint import Registry
from spanlink.endpoint._streaming import ChunkStream


def _drain(peer: Any) -> list[p.Message]:
    messages = []
    while not peer.inbox.empty():
        messages.append(peer.inbox.get_nowait())
    return messages


def _registry(gate: threading.Event, agate: asyncio.Event) -> Registry:
    registry = Registry()

    @registry.endpoint
    def words(items: list[str]) -> Iterator[str]:
        yield from items

    @registry.endpoint
    def gated(items: list[str]) -> Iterator[str]:
        yield items[0]
        assert gate.wait(10), "the gate was never opened"
        yield from items[1:]

    @registry.endpoint
    async def agated(n: int) -> AsyncIterator[dict[str, int]]:
        yield {"i": 0}
        await asyncio.wait_for(agate.wait(), 10)
        for i in range(1, n):
            yield {"i": i}

    @registry.endpoint
    def many(n: int, size: int = 1) -> Iterator[str]:
        for _ in range(n):
            yield "x" * size

    return registry


async def test_chunks_are_sent_in_order_before_the_result(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry(threading.Event(), asyncio.Event())) as client:
        result = await peer.invoke("words", {"items": ["It ", "ships ", "today."]})
        # The peer reads messages in order: the chunks were in before the result.
        chunks = _drain(peer)
    assert result.status == "success" and result.output == "It ships today."
    assert result.chunk_count == 3
    assert chunks == [
        p.Chunk(invocation_id=result.invocation_id, index=0, data="It "),
        p.Chunk(invocation_id=result.invocation_id, index=1, data="ships "),
        p.Chunk(invocation_id=result.invocation_id, index=2, data="today."),
    ]
    assert client.stats.chunks_sent == 3


async def test_a_chunk_is_sent_as_soon_as_it_is_produced(peer: Any, serving: Any) -> None:
    gate, agate = threading.Event(), asyncio.Event()
    async with serving(peer, _registry(gate, agate)):
        pending = asyncio.ensure_future(peer.invoke("gated", {"items": ["a", "b", "c"]}))
        first = await peer.next_message()  # the sync generator is still waiting at the gate
        assert isinstance(first, p.Chunk) and (first.index, first.data) == (0, "a")
        assert not pending.done()
        gate.set()
        result = await pending
        assert result.output == "abc" and result.chunk_count == 3
        assert [m.data for m in _drain(peer) if isinstance(m, p.Chunk)] == ["b", "c"]

        pending = asyncio.ensure_future(peer.invoke("agated", {"n": 3}))
        first = await peer.next_message()
        assert isinstance(first, p.Chunk) and first.data == {"i": 0}
        agate.set()
        result = await pending
    assert result.output == [{"i": 0}, {"i": 1}, {"i": 2}]  # non-str chunks: the list
    assert [m.index for m in _drain(peer) if isinstance(m, p.Chunk)] == [1, 2]


async def test_chunks_past_the_caps_are_only_counted(peer: Any, serving: Any) -> None:
    registry = _registry(threading.Event(), asyncio.Event())
    async with serving(peer, registry, max_stream_chunks=5, max_stream_bytes=40):
        by_count = await peer.invoke("many", {"n": 20})
        count_chunks = _drain(peer)
        by_bytes = await peer.invoke("many", {"n": 10, "size": 10})  # 12 JSON bytes each
        byte_chunks = _drain(peer)
    assert by_count.output == "x" * 20 and by_count.chunk_count == 20
    assert [c.index for c in count_chunks if isinstance(c, p.Chunk)] == [0, 1, 2, 3, 4]
    assert by_bytes.output == "x" * 100 and by_bytes.chunk_count == 10
    assert [c.index for c in byte_chunks if isinstance(c, p.Chunk)] == [0, 1, 2]


async def test_streaming_can_be_turned_off(peer: Any, serving: Any) -> None:
    async with serving(peer, _registry(threading.Event(), asyncio.Event()), max_stream_chunks=0):
        result = await peer.invoke("words", {"items": ["a", "b"]})
    assert result.output == "ab" and result.chunk_count == 2
    assert not [m for m in _drain(peer) if isinstance(m, p.Chunk)]


async def test_a_stalled_socket_never_holds_the_generator_back() -> None:
    stalled = asyncio.Event()
    sent: list[p.Message] = []

    async def send(message: p.Message) -> bool:
        sent.append(message)
        await stalled.wait()  # a socket that accepts nothing more
        return True

    stream = ChunkStream("inv-1", send, max_chunks=10_000, max_bytes=10**9)
    for n in range(1000):
        stream.push(str(n))  # never waits, whatever the socket does
    await asyncio.sleep(0)
    assert stream.count == 1000
    # One chunk is stuck in the send, the bounded buffer behind it filled up, the rest counted.
    assert stream.streamed < 100
    await stream.aclose(timeout=0.2)
    assert [m.index for m in sent if isinstance(m, p.Chunk)] == [0]
    stream.push("after close")  # ignored
    assert stream.count == 1000
