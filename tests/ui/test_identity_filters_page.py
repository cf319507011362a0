"""The filter bar's session, user and conversation filters, kept in the URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from receiver_helpers import make_request, make_span, post_proto, span_id, trace_id
from ui_helpers import sign_in, wait_rendered


def _row_ids(page) -> list[str]:
    return page.eval_on_selector_all(
        "tr[data-trace-id]", "rows => rows.map(r => r.dataset.traceId)"
    )


def test_session_user_and_conversation_filters(page, receiver, api_key, client) -> None:
    ids = {}
    for name, attributes in {
        "alice": {"session.id": "s-1", "user.id": "alice", "gen_ai.conversation.id": "c-1"},
        "bob": {"session.id": "s-2", "user.id": "bob"},
        "none": {},
    }.items():
        tid = trace_id()
        request = make_request([make_span(tid, span_id(), name=name, attributes=attributes)])
        assert post_proto(client, request).status_code == 200
        ids[name] = tid.hex()
    sign_in(page, receiver.url, api_key)
    assert set(_row_ids(page)) == set(ids.values())
    for field, value, expected in (
        ("session_id", "s-2", ids["bob"]),
        ("user_id", "alice", ids["alice"]),
        ("conversation_id", "c-1", ids["alice"]),
    ):
        page.goto(f"{receiver.url}/ui/#/traces")
        wait_rendered(page, "traces")
        page.fill(f"#f-{field}", value)
        page.click("form.filters button[type=submit]")
        page.wait_for_function("() => document.querySelectorAll('tr[data-trace-id]').length === 1")
        assert _row_ids(page) == [expected]
        assert parse_qs(urlsplit(urlsplit(page.url).fragment).query) == {field: [value]}
        assert page.input_value(f"#f-{field}") == value
    page.problems.assert_clean()
