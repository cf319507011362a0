"""Garbage-collector settings for a receiver process.

A trace answer, a diff or a run comparison builds tens of thousands of short-lived objects;
with CPython's default thresholds (700 allocations) they set off full collections that walk
every long-lived object of the process, which is what made those requests' p95 five to ten
times their median (`bench/bench_compare.py`). A serving process collects its youngest
generation every 50,000 allocations instead, and moves what startup built (modules, the app)
out of the collector's sight. Reference counting still frees almost everything at once; only
garbage in cycles waits for a collection.
"""

from __future__ import annotations

import gc
from typing import Final

__all__ = ["SERVING_THRESHOLDS", "tune_for_serving"]

#: Thresholds of generations 0, 1 and 2 for a serving process.
SERVING_THRESHOLDS: Final = (50_000, 20, 100)


def tune_for_serving() -> None:
    """Apply :data:`SERVING_THRESHOLDS` and freeze what exists now (call once, after the app
    is built and before serving). For the receiver's own processes only: never on import."""
    gc.collect()
    gc.set_threshold(*SERVING_THRESHOLDS)
    gc.freeze()
