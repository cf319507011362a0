"""Redaction before storage, end to end: secrets of every kind sent through the stock
OpenTelemetry OTLP exporter, through an ``@endpoint`` run whose function echoes its input,
and in a test case's inputs and expected output. Afterwards no piece of any secret is
anywhere in the database (every row of every table, read as text)."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

import httpx
import psycopg
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, Status, StatusCode

from spanlink.receiver.redaction import BUILTIN_DETECTORS, luhn_valid

_ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, size: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))


def _card() -> tuple[str, str]:
    body = "4" + _random(string.digits, 14)
    number = body + next(d for d in string.digits if luhn_valid(body + d))
    return number, " ".join(number[i : i + 4] for i in range(0, 16, 4))


def _secrets() -> dict[str, tuple[str, str]]:
    """kind -> (text as sent, its secret part when the text holds context: "" for all)."""
    card, printed = _card()
    token = _random(_ALNUM, 32)
    aws_secret = _random(_ALNUM + "/+", 40)
    jwt = f"eyJ{_random(_ALNUM, 20)}.eyJ{_random(_ALNUM, 30)}.{_random(_ALNUM, 30)}"
    bearer = _random(_ALNUM, 30)
    return {
        "email": (f"zq{token[:10].lower()}@redact-test.example", f"zq{token[:10].lower()}"),
        "credit_card": (printed, card),
        "api_key": (f"sk-proj-{token}", token),
        "aws_key": (f"AKIA{_random(string.ascii_uppercase + string.digits, 16)}", ""),
        "aws_secret": (f"aws_secret_access_key={aws_secret}", aws_secret),
        "jwt": (jwt, jwt),
        "bearer_token": (f"Authorization: Bearer {bearer}", bearer),
        "ticket": (f"TKT-{_random(string.digits, 6)}Q{_random(_ALNUM, 12)}", ""),
        "password": (_random(_ALNUM, 24), ""),
    }


def _pieces(secret: str, size: int = 8) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def _database_text(database_url: str) -> str:
    """Every row of every table of the database, as text (the owner role: no RLS)."""
    with psycopg.connect(database_url) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        chunks = []
        for schema, table in tables:
            rows = connection.execute(
                psycopg.sql.SQL("SELECT t::text FROM {}.{} t").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
                )
            ).fetchall()
            chunks.extend(row[0] for row in rows)
    return "\n".join(chunks)


def _assert_nothing_stored(database_url: str, sent: dict[str, tuple[str, str]]) -> None:
    stored = _database_text(database_url)
    assert "[REDACTED:" in stored
    for kind, (text, secret) in sent.items():
        assert text not in stored, kind
        for piece in _pieces(secret or text):
            assert piece not in stored, (kind, piece)
        if kind == "credit_card":
            for piece in _pieces(text, 9):  # the printed form: groups with spaces
                assert piece not in stored, (kind, piece)


def _rules(client: httpx.Client) -> None:
    response = client.put(
        "/api/v1/redaction",
        json={
            "builtin": list(BUILTIN_DETECTORS),
            "rules": [
                {"name": "ticket", "pattern": r"TKT-\d{6}Q\w+"},
                {"name": "password", "keys": ["*password*"]},
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/redaction").json()["builtin"] == list(BUILTIN_DETECTORS)


def _all_text(sent: dict[str, tuple[str, str]]) -> str:
    return " | ".join(text for kind, (text, _) in sent.items() if kind != "password")


def test_secrets_sent_by_the_stock_otlp_exporter_are_not_stored(
    receiver: Any, client: httpx.Client, api_key: str, database_url: str
) -> None:
    _rules(client)
    sent = _secrets()
    everything = _all_text(sent)
    password = sent["password"][0]
    provider = TracerProvider(
        resource=Resource.create({"service.name": "stock", "deploy.owner": sent["email"][0]})
    )
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(
                endpoint=f"{receiver.url}/v1/traces",
                headers={"Authorization": f"Bearer {api_key}"},
            )
        )
    )
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    with tracer.start_as_current_span(f"call for {sent['email'][0]}") as parent:
        parent_context = parent.get_span_context()
    messages = [{"role": "user", "parts": [{"type": "text", "content": everything}]}]
    with tracer.start_as_current_span(
        f"chat {sent['api_key'][0]}",
        links=[Link(parent_context, {"why": sent["jwt"][0]})],
        attributes={
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": everything,
            "gen_ai.input.messages": json.dumps(messages),
            "input.value": json.dumps({"question": everything}),
            "http.request.header.authorization": [sent["bearer_token"][0]],
            "db.password": password,
            "tags": ["plain", everything],
            "card.number": int(sent["credit_card"][1]),
        },
    ) as span:
        span.add_event(f"retry {sent['aws_key'][0]}", {"detail": everything})
        span.set_status(Status(StatusCode.ERROR, f"failed: {everything}"))
    provider.shutdown()

    listed = client.get("/api/v1/traces", params={"service": "stock"}).json()["items"]
    assert sorted(item["name"] for item in listed) == [
        "call for [REDACTED:email]",
        "chat [REDACTED:api_key]",
    ]
    chat_trace = next(item for item in listed if item["name"].startswith("chat"))
    detail = client.get(f"/api/v1/traces/{chat_trace['trace_id']}", params={"full": "true"}).json()
    chat = next(s for s in detail["spans"] if s["name"].startswith("chat"))
    assert chat["name"] == "chat [REDACTED:api_key]"
    assert chat["attributes"]["db.password"] == "[REDACTED:password]"
    assert "[REDACTED:ticket]" in chat["attributes"]["llm.input_messages.0.message.content"]
    _assert_nothing_stored(database_url, sent)


def test_secrets_of_an_endpoint_run_and_its_cases_are_not_stored(
    receiver: Any,
    client: httpx.Client,
    api_key: str,
    database_url: str,
    endpoint_app: Any,
    run_waiter: Any,
) -> None:
    _rules(client)
    sent = _secrets()
    everything = _all_text(sent)
    endpoint_app(receiver.url, api_key)
    response = client.post(
        "/api/v1/test-runs",
        json={
            "function": "answer",
            "name": f"run for {sent['email'][0]}",
            "cases": [
                {
                    "id": "case-1",
                    "inputs": {"question": everything, "spans": 2},
                    "expected_output": f"answer to {everything}",
                }
            ],
            "metadata": {"owner_password": sent["password"][0]},
        },
    )
    assert response.status_code == 201, response.text
    run = run_waiter(client, response.json()["id"])
    (result,) = run["results"]
    # The function echoed what the receiver stored and invoked it with: redacted input.
    assert "[REDACTED:email]" in json.dumps(result["output"])
    assert result["status"] == "passed", result
    _assert_nothing_stored(database_url, sent)


def test_invalid_rules_are_refused_with_the_reason(client: httpx.Client) -> None:
    response = client.put(
        "/api/v1/redaction", json={"builtin": ["nope"], "rules": [{"name": "x", "pattern": "("}]}
    )
    assert response.status_code == 422
    assert "unknown builtin detector 'nope'" in response.text
    assert "not a valid regular expression" in response.text
    assert client.get("/api/v1/redaction").json()["builtin"] == []


def test_secrets_of_a_client_reported_run_are_not_stored(
    client: httpx.Client, database_url: str
) -> None:
    _rules(client)
    sent = _secrets()
    everything = _all_text(sent)
    run_id = secrets.token_hex(16)
    created = client.post(
        "/api/v1/test-runs",
        json={"source": "pytest", "id": run_id, "name": everything, "metadata": {"m": everything}},
    )
    assert created.status_code == 201, created.text
    result = {
        "id": secrets.token_hex(16),
        "case_id": "tests/test_a.py::test_one",
        "status": "failed",
        "inputs": {"question": everything, "password": sent["password"][0]},
        "output": {"answer": everything},
        "error": f"AssertionError: {everything}",
        "scores": [{"name": "judge", "label": sent["email"][0], "explanation": everything}],
        "metadata": {"note": everything},
    }
    answer = client.post(f"/api/v1/test-runs/{run_id}/results", json={"results": [result]})
    assert answer.status_code == 200, answer.text
    assert client.post(f"/api/v1/test-runs/{run_id}/finish").status_code == 200
    (stored,) = client.get(f"/api/v1/test-runs/{run_id}").json()["results"]
    assert "[REDACTED:email]" in json.dumps(stored["output"])
    _assert_nothing_stored(database_url, sent)
