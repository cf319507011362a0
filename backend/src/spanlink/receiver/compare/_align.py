"""Ordered alignment of two sequences of keys: exact LCS within a budget, greedy beyond.

Used for each group of sibling spans. The common prefix and suffix are matched first
(cheap, and all there is to do for identical groups). The middle is aligned by a longest
common subsequence when ``len(a) * len(b)`` is at most ``GROUP_CELL_LIMIT`` and the diff's
``AlignBudget`` still has that many cells; otherwise by a greedy next-match walk, linear
up to a log factor, which is exact for pure insertions and deletions but may miss the best
alignment of heavily reordered groups (the diff then says its alignment is approximate).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["GROUP_CELL_LIMIT", "TOTAL_CELL_LIMIT", "AlignBudget", "Op", "Ops", "align"]

#: Largest ``len(a) * len(b)`` one sibling group is aligned exactly for (about 500 x 500).
GROUP_CELL_LIMIT = 250_000
#: Dynamic-programming cells one diff may spend on exact alignment over all its groups.
TOTAL_CELL_LIMIT = 2_000_000

#: ``(i, j)`` matched, ``(i, None)`` only in ``a``, ``(None, j)`` only in ``b``.
Op = tuple[int | None, int | None]
#: The alignment as two parallel lists of ``Op``'s halves (no tuple per op is allocated).
Ops = tuple[list[int | None], list[int | None]]


class AlignBudget:
    """The exact-alignment cells left for one diff, and whether any group went greedy."""

    __slots__ = ("approximate", "cells")

    def __init__(self, cells: int = TOTAL_CELL_LIMIT) -> None:
        self.cells = cells
        self.approximate = False


def align(a: Sequence[int], b: Sequence[int], budget: AlignBudget) -> Ops:
    """Align ``a`` with ``b`` (interned keys), keeping order; each index appears once.

    The answer is ``(ia, ib)``: the k-th op is ``(ia[k], ib[k])``. Within a run of unmatched
    items, those of ``a`` come before those of ``b``.
    """
    n, m = len(a), len(b)
    head = 0
    while head < n and head < m and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < n - head and tail < m - head and a[n - 1 - tail] == b[m - 1 - tail]:
        tail += 1
    ia: list[int | None] = list(range(head))
    ib: list[int | None] = list(range(head))
    end_a, end_b = n - tail, m - tail
    cells = (end_a - head) * (end_b - head)
    if cells == 0:
        _with_gaps(ia, ib, [], [], head, end_a, head, end_b)
    elif cells <= GROUP_CELL_LIMIT and cells <= budget.cells:
        budget.cells -= cells
        _with_gaps(ia, ib, *_lcs(a, b, head, end_a, head, end_b), head, end_a, head, end_b)
    else:
        budget.approximate = True
        _with_gaps(ia, ib, *_greedy(a, b, head, end_a, head, end_b), head, end_a, head, end_b)
    ia.extend(range(end_a, n))
    ib.extend(range(end_b, m))
    return ia, ib


def _lcs(
    a: Sequence[int], b: Sequence[int], a0: int, a1: int, b0: int, b1: int
) -> tuple[list[int], list[int]]:
    """Matched indexes of a longest common subsequence, as two ascending lists."""
    width = b1 - b0
    bs = b[b0:b1]
    rows: list[list[int]] = [[0] * (width + 1)]
    prev = rows[0]
    for i in range(a0, a1):
        key = a[i]
        cur = [0] * (width + 1)
        left = 0
        for j in range(width):
            if bs[j] == key:
                left = prev[j] + 1
            else:
                up = prev[j + 1]
                if up > left:
                    left = up
            cur[j + 1] = left
        rows.append(cur)
        prev = cur
    # Walk back from the end; matched pairs in reverse, gaps regrouped afterwards.
    ma: list[int] = []
    mb: list[int] = []
    i, j = a1 - a0, width
    while i > 0 and j > 0:
        if a[a0 + i - 1] == bs[j - 1]:
            ma.append(a0 + i - 1)
            mb.append(b0 + j - 1)
            i -= 1
            j -= 1
        elif rows[i - 1][j] >= rows[i][j - 1]:
            i -= 1
        else:
            j -= 1
    ma.reverse()
    mb.reverse()
    return ma, mb


def _greedy(
    a: Sequence[int], b: Sequence[int], a0: int, a1: int, b0: int, b1: int
) -> tuple[list[int], list[int]]:
    """Matched indexes of a greedy next-match walk, as two ascending lists."""
    where_a: dict[int, list[int]] = {}
    for i in range(a0, a1):
        where_a.setdefault(a[i], []).append(i)
    where_b: dict[int, list[int]] = {}
    for j in range(b0, b1):
        where_b.setdefault(b[j], []).append(j)

    def next_at(where: dict[int, list[int]], key: int, start: int) -> int | None:
        places = where.get(key)
        if not places:
            return None
        k = bisect_left(places, start)
        return places[k] if k < len(places) else None

    ma: list[int] = []
    mb: list[int] = []
    i, j = a0, b0
    while i < a1 and j < b1:
        if a[i] == b[j]:
            ma.append(i)
            mb.append(j)
            i += 1
            j += 1
            continue
        in_b = next_at(where_b, a[i], j)
        in_a = next_at(where_a, b[j], i)
        if in_b is None and in_a is None:
            i += 1
            j += 1
        elif in_a is None or (in_b is not None and in_b - j <= in_a - i):
            assert in_b is not None
            ma.append(i)
            mb.append(in_b)
            i += 1
            j = in_b + 1
        else:
            ma.append(in_a)
            mb.append(j)
            i = in_a + 1
            j += 1
    return ma, mb


def _with_gaps(
    ia: list[int | None],
    ib: list[int | None],
    ma: list[int],
    mb: list[int],
    a0: int,
    a1: int,
    b0: int,
    b1: int,
) -> None:
    """Append to ``ia``/``ib`` the matches ``ma``/``mb`` with the unmatched indexes between."""
    i, j = a0, b0
    for mi, mj in zip([*ma, a1], [*mb, b1], strict=True):
        ia.extend(range(i, mi))
        ib.extend([None] * (mi - i))
        ia.extend([None] * (mj - j))
        ib.extend(range(j, mj))
        if mi < a1 and mj < b1:
            ia.append(mi)
            ib.append(mj)
        i, j = mi + 1, mj + 1
