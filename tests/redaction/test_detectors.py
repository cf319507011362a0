"""Builtin detectors: what each redacts, and near misses it leaves alone."""

from __future__ import annotations

import pytest

from spanlink.receiver.redaction import (
    BUILTIN_DETECTORS,
    compile_rules,
    luhn_valid,
    parse_config,
    redact_text,
)


def _only(name: str, text: str) -> str:
    return redact_text(text, compile_rules(parse_config({"builtin": [name]})))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail alice@example.com now", "mail [REDACTED:email] now"),
        ("<first.last+tag@mail.example.co.uk>", "<[REDACTED:email]>"),
        ('{"to":"Bob_9@sub-domain.io"}', '{"to":"[REDACTED:email]"}'),
    ],
)
def test_email_true_positives(text: str, expected: str) -> None:
    assert _only("email", text) == expected


@pytest.mark.parametrize(
    "text", ["user@localhost", "a @ b.com", "@handle on x.com", "foo@bar", "x@y.c0m"]
)
def test_email_near_misses(text: str) -> None:
    assert _only("email", text) == text


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # Amex 4-6-5
        "6011000990139424",
        "4222222222222",  # 13 digits
    ],
)
def test_credit_card_true_positives(card: str) -> None:
    assert _only("credit_card", f"paid with {card}.") == "paid with [REDACTED:credit_card]."


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # 16 digits failing Luhn
        "4111 1111 1111 1112",
        "1733150000000000003",  # a nanosecond timestamp (Luhn-valid, no card prefix)
        "41111111111111111111",  # 20 digits
        "phone 555-123-4567",
        "id ab4111111111111111cd",  # inside a hex-ish token
        "4111  1111  1111  1111",  # double spaces are not how cards are written
    ],
)
def test_credit_card_near_misses(text: str) -> None:
    assert _only("credit_card", text) == text


def test_a_luhn_valid_timestamp_is_no_card() -> None:
    assert luhn_valid("1733150000000000003")
    assert _only("credit_card", "1733150000000000003") == "1733150000000000003"


def test_credit_card_next_to_other_numbers_and_two_cards_in_a_run() -> None:
    assert _only("credit_card", "order 12 4111 1111 1111 1111") == "order 12 [REDACTED:credit_card]"
    assert (
        _only("credit_card", "4111 1111 1111 1111 5500 0000 0000 0004")
        == "[REDACTED:credit_card] [REDACTED:credit_card]"
    )


@pytest.mark.parametrize(
    "key",
    [
        "sk-" + "a1B2" * 12,
        "sk-proj-" + "Zx9_" * 10 + "-q",
        "sk-ant-api03-" + "k" * 40,
        "AIza" + "S" * 35,
        "ghp_" + "a" * 36,
        "github_pat_11ABCDEFG0" + "x" * 40,
        "xoxb-1234567890-abcdefghij",
        "xoxp-98765-4321-abcdef",
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_" + "A" * 24,
        "hf_" + "b" * 34,
        "slk_" + "c" * 43,
    ],
)
def test_api_key_true_positives(key: str) -> None:
    assert _only("api_key", f"key={key}\n") == "key=[REDACTED:api_key]\n"


@pytest.mark.parametrize(
    "text",
    [
        "scikit-learn and sk-learn",
        "task-" + "a" * 30,  # "sk-" inside a word
        "AIza too short",
        "ghp_short",
        "xoxq-1234567890-abcdefghij",
        "pk_live_" + "A" * 24,  # publishable, not secret
        "hf_hub_download",
    ],
)
def test_api_key_near_misses(text: str) -> None:
    assert _only("api_key", text) == text


def test_api_key_header_by_key() -> None:
    rules = compile_rules(parse_config({"builtin": ["api_key"]}))
    from spanlink.receiver.redaction import redact_value

    assert redact_value({"http.request.header.x-api-key": ["anything"]}, rules) == {
        "http.request.header.x-api-key": "[REDACTED:api_key]"
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id AKIAIOSFODNN7EXAMPLE here", "id [REDACTED:aws_key] here"),
        ("ASIAY34FZKBOKMUTVV7A", "[REDACTED:aws_key]"),
        (
            "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "[REDACTED:aws_key]",
        ),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED:aws_key]",
        ),
        (
            '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
            '"SecretAccessKey": "[REDACTED:aws_key]"',
        ),
    ],
)
def test_aws_key_true_positives(text: str, expected: str) -> None:
    assert _only("aws_key", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "AKIAIOSFODNN7EXAMPL",  # 15 after the prefix
        "XAKIAIOSFODNN7EXAMPLE",
        "sha wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # 40 chars without aws context
    ],
)
def test_aws_key_near_misses(text: str) -> None:
    assert _only("aws_key", text) == text


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


def test_jwt() -> None:
    assert _only("jwt", f"token {JWT}!") == "token [REDACTED:jwt]!"
    assert _only("jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.") == "[REDACTED:jwt]"


@pytest.mark.parametrize("text", ["eyJ.short.x", "abc.def.ghi", "xeyJhbGciOiJI.eyJzdWIi.sig"])
def test_jwt_near_misses(text: str) -> None:
    assert _only("jwt", text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bearer abcDEF123456", "Bearer [REDACTED:bearer_token]"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic [REDACTED:bearer_token]"),
        ("Authorization = Token 0123456789abc", "Authorization = Token [REDACTED:bearer_token]"),
        # JSON text is parsed: an "Authorization" key's whole value goes.
        ('{"Authorization": "Token 0123456789"}', '{"Authorization":"[REDACTED:bearer_token]"}'),
        ("curl -H 'bearer tok3n-value-x'", "curl -H 'bearer [REDACTED:bearer_token]'"),
    ],
)
def test_bearer_token_true_positives(text: str, expected: str) -> None:
    assert _only("bearer_token", text) == expected


@pytest.mark.parametrize(
    "text", ["Bearer bonds are fine", "the bearer of this letter", "Bearer short"]
)
def test_bearer_token_near_misses(text: str) -> None:
    assert _only("bearer_token", text) == text


def test_bearer_token_authorization_header_by_key() -> None:
    from spanlink.receiver.redaction import redact_value

    rules = compile_rules(parse_config({"builtin": ["bearer_token"]}))
    value = {"http.request.header.authorization": ["Digest username=x"], "other": "Bearer no"}
    assert redact_value(value, rules) == {
        "http.request.header.authorization": "[REDACTED:bearer_token]",
        "other": "Bearer no",
    }


def test_every_builtin_is_tested_here() -> None:
    assert set(BUILTIN_DETECTORS) == {
        "email",
        "credit_card",
        "api_key",
        "aws_key",
        "jwt",
        "bearer_token",
    }
