"""Properties: generated secrets embedded in random text never survive, in any part."""

from __future__ import annotations

import json
import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from spanlink.receiver.redaction import (
    BUILTIN_DETECTORS,
    compile_rules,
    luhn_valid,
    parse_config,
    redact_value,
)

RULES = compile_rules(parse_config({"builtin": list(BUILTIN_DETECTORS)}))
_MARKER = re.compile(r"\[REDACTED:[a-z0-9_-]+\]")
_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "_-"


def _chars(alphabet: str, size: int, max_size: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=max_size or size)


@st.composite
def _card(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["4", "51", "55", "2221", "34", "37", "6011", "65", "35"]))
    length = draw(st.sampled_from([16]) if prefix not in ("34", "37") else st.just(15))
    body = prefix + draw(_chars(string.digits, length - len(prefix) - 1))
    check = next(d for d in string.digits if luhn_valid(body + d))
    number = body + check
    separator = draw(st.sampled_from(["", " ", "-"]))
    if not separator:
        return number
    if length == 15:
        return separator.join([number[:4], number[4:10], number[10:]])
    return separator.join(number[i : i + 4] for i in range(0, 16, 4))


# (context kept before the secret, the secret) for each kind.
_SECRETS = st.one_of(
    st.tuples(
        st.just(""),
        st.builds(
            lambda local, domain, tld: f"{local}@{domain}.{tld}",
            _chars(_ALNUM + "._%+-", 1, 20),
            _chars(string.ascii_lowercase + string.digits, 1, 15),
            _chars(string.ascii_lowercase, 2, 6),
        ),
    ),
    st.tuples(st.just(""), _card()),
    st.tuples(
        st.just(""),
        st.one_of(
            st.builds(lambda b: "sk-" + b, _chars(_URLSAFE, 20, 60)),
            st.builds(lambda b: "sk-proj-" + b, _chars(_URLSAFE, 20, 60)),
            st.builds(lambda b: "sk-ant-api03-" + b, _chars(_URLSAFE, 20, 60)),
            st.builds(lambda b: "AIza" + b, _chars(_URLSAFE, 35)),
            st.builds(lambda p, b: f"gh{p}_" + b, st.sampled_from("pousr"), _chars(_ALNUM, 36)),
            st.builds(lambda b: "github_pat_" + b, _chars(_ALNUM + "_", 22, 82)),
            st.builds(
                lambda p, b: f"xox{p}-" + b, st.sampled_from("abprs"), _chars(_ALNUM, 10, 40)
            ),
            st.builds(
                lambda p, b: p + b,
                st.sampled_from(["sk_live_", "rk_live_", "sk_test_"]),
                _chars(_ALNUM, 16, 40),
            ),
            st.builds(lambda b: "hf_" + b, _chars(_ALNUM, 30, 40)),
            st.builds(lambda b: "slk_" + b, _chars(_URLSAFE, 43)),
        ),
    ),
    st.tuples(
        st.just(""),
        st.builds(
            lambda p, b: p + b,
            st.sampled_from(["AKIA", "ASIA"]),
            _chars(string.ascii_uppercase + string.digits, 16),
        ),
    ),
    st.tuples(
        st.sampled_from(
            ["aws_secret_access_key=", "AWS_SECRET_ACCESS_KEY: ", '"SecretAccessKey": "']
        ),
        _chars(_ALNUM + "/+", 40),
    ),
    st.tuples(
        st.just(""),
        st.builds(
            lambda h, p, s: f"eyJ{h}.{p}.{s}",
            _chars(_URLSAFE, 4, 40),
            _chars(_URLSAFE, 4, 80),
            _chars(_URLSAFE, 0, 43),
        ),
    ),
    st.tuples(
        st.sampled_from(["Bearer ", "Authorization: Bearer ", "authorization: Basic "]),
        _chars(_ALNUM + "-._~+/", 8, 60),
    ),
)

_WORDS = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + ",.!?;:()'\"", min_size=1, max_size=12),
    max_size=8,
).map(" ".join)


def _survivors(secret: str, filler: str, output: str) -> list[str]:
    """Substrings of length >= 4 of ``secret`` in ``output`` that the filler did not bring."""
    visible = _MARKER.sub("\x00", output)
    found = []
    for start in range(len(secret) - 3):
        piece = secret[start : start + 4]
        if piece in visible and piece not in filler:
            found.append(piece)
    return found


@settings(derandomize=True, max_examples=400, deadline=None)
@given(_SECRETS, _WORDS, _WORDS, st.sampled_from(["plain", "json", "list", "key"]))
def test_no_part_of_a_secret_survives(
    kind: tuple[str, str], left: str, right: str, shape: str
) -> None:
    context, secret = kind
    text = f"{left} {context}{secret} {right}"
    if shape == "plain":
        value: object = {"message": text}
    elif shape == "json":
        value = {"gen_ai.input.messages": json.dumps([{"role": "user", "content": text}])}
    elif shape == "list":
        value = {"tags": ["x", text]}
    else:  # secrets in a key of a nested mapping
        value = {"by": {text: 1}}
    output = json.dumps(redact_value(value, RULES), ensure_ascii=False)
    # What the output may hold besides the secret: the filler, context and JSON scaffolding.
    filler = f"{left} {context} {right} message gen_ai.input.messages role user content tags"
    assert _survivors(secret, filler, output) == []


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.one_of(_SECRETS.map("".join), _WORDS), max_size=6).map(" ".join))
def test_idempotent_on_mixed_text(text: str) -> None:
    once = redact_value({"t": text, "j": json.dumps({"c": text})}, RULES)
    assert redact_value(once, RULES) == once
