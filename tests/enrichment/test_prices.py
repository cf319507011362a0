"""Per-project price tables: the API, validation, and that they price only their project."""

from __future__ import annotations

import httpx
import pytest
from enrichment_helpers import enrichment_of, helpers, llm_span, poll, send

from spanlink.receiver.enrichment import PriceTableError, validate_price_table

CUSTOM = {
    "acme-model-*": {"input": 1e-06, "output": 2e-06, "cache_read": 1e-07},
    "gpt-4o-mini": {"input_cost_per_token": 5e-06, "output_cost_per_token": 1e-05},
}


@pytest.fixture
def other(receiver, database_url: str):
    """A client of a second project."""
    from spanlink.receiver.storage import create_api_key

    key = create_api_key(database_url, f"other-{helpers.os.urandom(4).hex()}")
    with httpx.Client(
        base_url=receiver.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        yield http


def _span_cost(http: httpx.Client, tid: bytes, span) -> dict:
    trace = poll(lambda: enrichment_of(http, tid), lambda t: t["enrichment"] is not None)
    return trace["enrichment"]["data"]["spans"][span.span_id.hex()]["cost"]


def test_put_and_get_prices(client: httpx.Client, other: httpx.Client) -> None:
    assert client.get("/api/v1/prices").json() == {"prices": {}, "updated_at": None}
    stored = client.put("/api/v1/prices", json={"prices": CUSTOM})
    assert stored.status_code == 200, stored.text
    assert stored.json()["prices"] == CUSTOM and stored.json()["updated_at"]
    assert client.get("/api/v1/prices").json() == stored.json()
    # Another project sees none of it.
    assert other.get("/api/v1/prices").json() == {"prices": {}, "updated_at": None}
    # Replaced as a whole; {} clears.
    assert client.put("/api/v1/prices", json={"prices": {}}).json()["prices"] == {}


def test_project_prices_apply_to_that_project_only(
    client: httpx.Client, other: httpx.Client
) -> None:
    assert client.put("/api/v1/prices", json={"prices": CUSTOM}).status_code == 200

    # acme-model-7: cached 400 of the 1000 input tokens (included in input_tokens).
    mine, theirs = helpers.trace_id(), helpers.trace_id()
    attrs = {"gen_ai.usage.cache_read.input_tokens": 400}
    span_mine = llm_span(mine, model="acme-model-7", input_tokens=1000, output_tokens=500, **attrs)
    span_theirs = llm_span(theirs, model="acme-model-7", input_tokens=1000, output_tokens=500)
    send(client, [span_mine])
    send(other, [span_theirs])

    cost = _span_cost(client, mine, span_mine)
    assert cost["status"] == "ok" and cost["price_source"] == "project"
    assert cost["price_key"] == "acme-model-*"
    # By hand: 600 uncached input x 1e-6 + 400 cached x 1e-7 + 500 output x 2e-6.
    assert cost["total_cost"] == pytest.approx(600e-6 + 400e-7 + 500 * 2e-6)
    assert _span_cost(other, theirs, span_theirs)["status"] == "unknown_model"

    # A known model: this project's override wins; the other project keeps LiteLLM's price.
    mine, theirs = helpers.trace_id(), helpers.trace_id()
    span_mine, span_theirs = llm_span(mine), llm_span(theirs)
    send(client, [span_mine])
    send(other, [span_theirs])
    cost = _span_cost(client, mine, span_mine)
    assert cost["price_source"] == "project"
    assert cost["total_cost"] == pytest.approx(1000 * 5e-6 + 500 * 1e-5)
    theirs_cost = _span_cost(other, theirs, span_theirs)
    assert theirs_cost["price_source"] == "litellm"
    assert theirs_cost["total_cost"] != pytest.approx(cost["total_cost"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prices": {"m": {"input": -1, "output": 0}}}, "finite number >= 0"),
        ({"prices": {"m": {"input": 1e-6}}}, "needs output"),
        ({"prices": {"m": {"input": 1e-6, "output": 1e-6, "bogus": 1}}}, "unknown price 'bogus'"),
        ({"prices": {"m": {"input": "cheap", "output": 0}}}, "must be a number"),
        ({"prices": {"m": {"input": True, "output": 0}}}, "must be a number"),
        ({"prices": {"m": 0.5}}, "must be an object"),
        ({"prices": {"": {"input": 0, "output": 0}}}, "1 to 200 characters"),
        ({"prices": {"a\x00b": {"input": 0, "output": 0}}}, "NUL"),
        ({"prices": ["m"]}, "must be an object of model pattern"),
        ({"rates": {}}, '{"prices"'),
    ],
)
def test_malformed_price_tables_are_rejected_and_nothing_changes(
    client: httpx.Client, body: dict, message: str
) -> None:
    assert client.put("/api/v1/prices", json={"prices": CUSTOM}).status_code == 200
    response = client.put("/api/v1/prices", json=body)
    assert response.status_code == 422
    assert message in str(response.json()["message"])
    assert client.get("/api/v1/prices").json()["prices"] == CUSTOM


def test_non_json_and_nan_bodies_are_rejected(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    bad = client.put("/api/v1/prices", content=b"{not json", headers=headers)
    assert bad.status_code == 422
    nan = client.put(
        "/api/v1/prices",
        content=b'{"prices": {"m": {"input": NaN, "output": 0}}}',
        headers=headers,
    )
    assert nan.status_code == 422
    surrogate = client.put(
        "/api/v1/prices",
        content=b'{"prices": {"\\ud800": {"input": 0, "output": 0}}}',
        headers=headers,
    )
    assert surrogate.status_code == 422 and "not valid Unicode" in surrogate.text
    assert client.get("/api/v1/prices").json()["prices"] == {}


def test_prices_need_an_api_key(receiver) -> None:
    assert httpx.get(f"{receiver.url}/api/v1/prices").status_code == 401
    assert httpx.put(f"{receiver.url}/api/v1/prices", json={"prices": {}}).status_code == 401


def test_validate_price_table_directly() -> None:
    assert validate_price_table({"x": {"input": 1, "output": 0}}) == {
        "x": {"input": 1.0, "output": 0.0}
    }
    with pytest.raises(PriceTableError, match="at most"):
        validate_price_table({f"m{i}": {"input": 0, "output": 0} for i in range(1001)})
