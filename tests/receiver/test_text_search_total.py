"""A text search for a word in many spans walks the traces newest first; its total is then
extrapolated and marked ``total_is_estimate``. Pages must be exactly those of a full search.

``COMMON_TEXT_SPANS`` is lowered so that a small corpus takes the walking path; with it
raised, the same request takes the collecting path, whose answers are exact: the reference.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from receiver_helpers import NOW, make_request, make_span, post_proto, span_id, trace_id

from spanlink.receiver.storage import _trace_queries

MS = 1_000_000


@pytest.fixture
def corpus(client: httpx.Client) -> list[str]:
    """40 traces, newest last: the word in every span of 24 (one in three of the others has
    it only on a child), in two environments."""
    ids = []
    for number in range(40):
        tid, root = trace_id(), span_id()
        has_word = number % 5 != 0
        root_text = "customer asks for a refund" if has_word and number % 3 else "hello"
        child_text = "refund issued" if has_word else "nothing here"
        env = "dev" if number % 2 else "prod"
        spans = [
            make_span(
                tid,
                root,
                name="chat",
                start=NOW + number * MS,
                attributes={"spanlink.input": root_text},
            ),
            make_span(
                tid,
                span_id(),
                parent=root,
                name="step",
                start=NOW + number * MS + 1,
                attributes={"spanlink.output": child_text},
            ),
        ]
        resource = {"service.name": "bot", "deployment.environment.name": env}
        assert post_proto(client, make_request(spans, resource=resource)).status_code == 200
        ids.append(tid.hex())
    return ids


def _get(client: httpx.Client, monkeypatch: pytest.MonkeyPatch, walk: bool, **params: Any) -> Any:
    monkeypatch.setattr(_trace_queries, "COMMON_TEXT_SPANS", -1 if walk else 10**12)
    response = client.get("/api/v1/traces", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "filters",
    [{"q": "refund"}, {"q": "refund", "environment": "dev"}, {"q": "refund", "root_only": "true"}],
)
def test_walked_pages_are_the_exact_pages(
    client: httpx.Client, corpus: list[str], monkeypatch: pytest.MonkeyPatch, filters: dict
) -> None:
    exact = _get(client, monkeypatch, walk=False, limit=1000, **filters)
    assert exact["total_is_estimate"] is False
    expected = [item["trace_id"] for item in exact["items"]]
    assert 0 < len(expected) < 40
    walked: list[str] = []
    offset = 0
    while True:
        page = _get(client, monkeypatch, walk=True, limit=5, offset=offset, **filters)
        walked += [item["trace_id"] for item in page["items"]]
        if page["next_offset"] is None:
            break
        assert page["total"] > offset + 5  # an estimate never claims fewer than it showed
        offset = page["next_offset"]
    assert walked == expected
    # The whole answer on one page: the walk reached the end, so the total is exact.
    whole = _get(client, monkeypatch, walk=True, limit=1000, **filters)
    assert (whole["total"], whole["total_is_estimate"]) == (exact["total"], False)
    assert whole["items"] == exact["items"]


def test_the_total_is_an_estimate_only_when_the_walk_stopped_early(
    client: httpx.Client, corpus: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _get(client, monkeypatch, walk=True, q="refund", limit=3)
    assert first["total_is_estimate"] is True
    assert len(first["items"]) == 3 and first["next_offset"] == 3
    # The newest candidates: 39 (word), 38 (word), 37 (word): three walked, three matched,
    # extrapolated over the 40 candidates.
    assert [item["trace_id"] for item in first["items"]] == corpus[39:36:-1]
    assert first["total"] == 40
    exact = _get(client, monkeypatch, walk=False, q="refund", limit=3)
    assert (exact["total"], exact["total_is_estimate"]) == (32, False)
    # Past the last match: nothing, and an exact total.
    beyond = _get(client, monkeypatch, walk=True, q="refund", limit=5, offset=100)
    assert beyond["items"] == [] and beyond["total"] == 32
    assert beyond["total_is_estimate"] is False


@pytest.mark.parametrize("q", ["the", "!!!", "refund -refund", "zzzunknownword"])
def test_empty_or_unmatched_searches_answer_nothing_on_both_paths(
    client: httpx.Client, corpus: list[str], monkeypatch: pytest.MonkeyPatch, q: str
) -> None:
    for walk in (False, True):
        body = _get(client, monkeypatch, walk=walk, q=q, limit=5)
        assert (body["items"], body["total"], body["total_is_estimate"]) == ([], 0, False)


def test_a_rare_word_is_counted_exactly_with_the_real_threshold(
    client: httpx.Client, corpus: list[str]
) -> None:
    body = client.get("/api/v1/traces", params={"q": "issued", "limit": 2}).json()
    assert body["total_is_estimate"] is False and body["total"] == 32
