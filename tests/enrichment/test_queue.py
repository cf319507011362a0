"""The debounce queue: bounded, de-duplicated per (project, trace), released when quiet."""

from __future__ import annotations

import asyncio

import pytest

from spanlink.receiver.enrichment import DebounceQueue


async def test_a_trace_is_released_once_after_it_went_quiet() -> None:
    queue = DebounceQueue(maxsize=10, debounce=0.05)
    loop = asyncio.get_running_loop()
    assert queue.offer((1, "a"))
    first = loop.time()
    for _ in range(3):  # more batches of the same trace: still one entry
        await asyncio.sleep(0.02)
        assert queue.offer((1, "a"))
    assert len(queue) == 1
    last = loop.time()
    assert await asyncio.wait_for(queue.get(), 5) == (1, "a")
    assert loop.time() - last >= 0.05 - 0.005  # quiet period restarted by each offer
    assert loop.time() - first >= 0.1
    assert len(queue) == 0 and queue.running == 1


async def test_same_trace_in_two_projects_are_two_entries() -> None:
    queue = DebounceQueue(maxsize=10, debounce=0)
    assert queue.offer((1, "a")) and queue.offer((2, "a"))
    got = {await queue.get(), await queue.get()}
    assert got == {(1, "a"), (2, "a")}


async def test_bounded_and_re_offering_a_waiting_trace_is_not_refused() -> None:
    queue = DebounceQueue(maxsize=2, debounce=10)
    assert queue.offer((1, "a")) and queue.offer((1, "b"))
    assert not queue.offer((1, "c"))  # full
    assert queue.offer((1, "a"))  # already waiting: its quiet period restarts
    assert len(queue) == 2


async def test_a_running_trace_is_not_handed_out_twice() -> None:
    queue = DebounceQueue(maxsize=10, debounce=0)
    queue.offer((1, "a"))
    assert await queue.get() == (1, "a")
    queue.offer((1, "a"))  # later spans arrive while it is being enriched
    queue.offer((1, "b"))
    assert await asyncio.wait_for(queue.get(), 5) == (1, "b")
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    queue.done((1, "a"))
    assert await asyncio.wait_for(waiter, 5) == (1, "a")  # enriched again, afterwards


async def test_waiting_workers_wake_for_a_new_trace() -> None:
    queue = DebounceQueue(maxsize=10, debounce=0.01)
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.02)
    queue.offer((3, "z"))
    assert await asyncio.wait_for(waiter, 5) == (3, "z")


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DebounceQueue(maxsize=0, debounce=0)


async def test_a_trace_that_never_goes_quiet_is_released_after_max_wait() -> None:
    queue = DebounceQueue(maxsize=10, debounce=0.05, max_wait=0.2)
    loop = asyncio.get_running_loop()
    first = loop.time()
    queue.offer((1, "busy"))
    waiter = asyncio.ensure_future(queue.get())
    while not waiter.done():  # a span every 20 ms: never quiet for 50 ms
        assert loop.time() - first < 5
        queue.offer((1, "busy"))
        await asyncio.sleep(0.02)
    assert waiter.result() == (1, "busy")
    assert loop.time() - first >= 0.2 - 0.005


async def test_many_re_offers_keep_one_entry_and_a_small_heap() -> None:
    queue = DebounceQueue(maxsize=3, debounce=10)
    for _ in range(1000):
        assert queue.offer((1, "a"))
    assert len(queue) == 1 and len(queue._heap) <= 2 + 64
