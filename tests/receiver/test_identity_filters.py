"""``GET /api/v1/traces`` filtered by ``session_id``, ``user_id`` and ``conversation_id``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id


def _trace(client: httpx.Client, **attributes: Any) -> str:
    tid = trace_id()
    root = span_id()
    spans = [
        make_span(tid, root, name="root"),
        # The identity sits on a child span, as an instrumentation's LLM span carries it.
        make_span(tid, span_id(), parent=root, name="chat", attributes=attributes),
    ]
    response = post_proto(client, make_request(spans))
    assert response.status_code == 200, response.text
    return tid.hex()


def _ids(client: httpx.Client, **params: Any) -> set[str]:
    response = client.get("/api/v1/traces", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return {item["trace_id"] for item in response.json()["items"]}


def test_identity_filters_match_the_traces_carrying_them(client: httpx.Client) -> None:
    alice_1 = _trace(client, **{"session.id": "s-1", "user.id": "alice"})
    alice_2 = _trace(
        client, **{"session.id": "s-2", "user.id": "alice", "gen_ai.conversation.id": "c-9"}
    )
    bob = _trace(client, **{"session.id": "s-1-other", "user.id": "bob"})
    # Other instrumentations' names for the same things.
    openllmetry = _trace(client, **{"traceloop.association.properties.session_id": "s-3"})
    numeric_user = _trace(client, **{"user.id": 42})
    nobody = _trace(client)
    assert _ids(client, session_id="s-1") == {alice_1}
    assert _ids(client, user_id="alice") == {alice_1, alice_2}
    assert _ids(client, user_id="alice", session_id="s-2") == {alice_2}
    assert _ids(client, conversation_id="c-9") == {alice_2}
    assert _ids(client, session_id="s-3") == {openllmetry}
    assert _ids(client, user_id="42") == {numeric_user}
    assert _ids(client, user_id="carol") == set()
    everything = _ids(client)
    assert {alice_1, alice_2, bob, openllmetry, numeric_user, nobody} <= everything
    page = client.get("/api/v1/traces", params={"user_id": "alice", "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1


@pytest.mark.parametrize("name", ["session_id", "user_id", "conversation_id"])
def test_an_empty_or_nul_filter_is_refused_not_ignored(client: httpx.Client, name: str) -> None:
    _trace(client, **{"session.id": "s-1"})
    empty = client.get("/api/v1/traces", params={name: ""})
    assert empty.status_code == 422 and name in empty.json()["message"]
    nul = client.get("/api/v1/traces", params={name: "a\x00b"})
    assert nul.status_code == 400 and "NUL" in nul.json()["message"]


def test_filters_are_scoped_to_the_project(
    client: httpx.Client, receiver: Any, database_url: str
) -> None:
    from spanlink.receiver.storage import create_api_key, create_project

    mine = _trace(client, **{"session.id": "shared-session"})
    create_project(database_url, "identity-other")
    other_key = create_api_key(database_url, "identity-other")
    headers = {"Authorization": f"Bearer {other_key}"}
    with httpx.Client(base_url=receiver.url, headers=headers, timeout=10) as other:
        theirs = _trace(other, **{"session.id": "shared-session"})
        assert _ids(other, session_id="shared-session") == {theirs}
    assert _ids(client, session_id="shared-session") == {mine}
