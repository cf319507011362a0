"""The builtin detectors: one regular expression each, all combined into one per rule set.

Every detector is written to run in linear time with the standard ``re`` engine: each
starts behind a one-character guard (so a long run of token characters is entered once,
not at every offset), its repetitions never overlap (no ``(a+)+`` shapes), and bounded
repeats are short. Matches are replaced by ``[REDACTED:<name>]``; a detector may keep a
leading context group (``Bearer ``, ``aws_secret_access_key=``), which is not secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BUILTIN_DETECTORS", "MARKER_PATTERN", "Detector", "card_replacement", "luhn_valid"]

#: A replacement already in the text: never rewritten, so redaction is idempotent.
MARKER_PATTERN = r"\[REDACTED:[a-z0-9_-]{1,64}\]"

#: Characters of base64url tokens and most provider keys.
_TOKEN = r"A-Za-z0-9_\-"


@dataclass(frozen=True, slots=True)
class Detector:
    """A builtin detector.

    ``pattern`` may hold a group named ``keep`` at its start (context kept in the output);
    ``keys`` are attribute-key globs whose whole value the detector replaces; ``replace``,
    when set, decides the replacement of a match (``None``: not a secret after all).
    """

    name: str
    pattern: str
    keys: tuple[str, ...] = ()
    replace: Callable[[str, str], str | None] | None = None
    #: Hints, cheap to test, that the detector may match: substrings of the text, or
    #: ``min_digits`` digits at least and then a match of ``hint``.
    literals: tuple[str, ...] = ()
    min_digits: int = 0
    hint: re.Pattern[str] | None = None

    def may_match(self, text: str) -> bool:
        """False when the detector cannot match ``text`` (substring scans at C speed)."""
        if any(literal in text for literal in self.literals):
            return True
        if self.hint is None:
            return False
        if sum(text.count(digit) for digit in "0123456789") < self.min_digits:
            return False
        return self.hint.search(text) is not None


def _any_case(*words: str) -> tuple[str, ...]:
    """Literals finding ``words`` case-insensitively in the usual spellings (secret, Secret,
    SECRET): the word without its first letter, in lower and upper case."""
    return tuple(variant for word in words for variant in (word[1:], word[1:].upper()))


def luhn_valid(digits: str) -> bool:
    """True when a string of digits passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Issuer prefixes of payment cards (Visa 4, Mastercard 51-55/2221-2720, Amex 34/37,
# Discover 6011/65/644-649, JCB 35, Diners 30/36/38, UnionPay 62): a Luhn-valid number
# without one is more likely an id or a timestamp than a card.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[0-9]|6[0-9]")
_CARD_MIN, _CARD_MAX = 13, 19
_GROUP = re.compile(r"\d+")


def _is_card(digits: str) -> bool:
    return (
        _CARD_MIN <= len(digits) <= _CARD_MAX
        and _CARD_PREFIX.match(digits) is not None
        and luhn_valid(digits)
    )


def _card_end(text: str, groups: list[tuple[int, int]], i: int) -> int:
    """The last group of the longest card starting at group ``i``, or -1.

    A card is one group of 13-19 digits, or groups of 3-6 digits as cards are printed
    (4-4-4-4, 4-6-5), the last of which may be shorter (4-4-4-1).
    """
    start, end = groups[i]
    if _is_card(text[start:end]):
        return i
    best = -1
    digits = ""
    for j in range(i, len(groups)):
        start, end = groups[j]
        size = end - start
        if size > 6 or (size < 3 and j == i):
            break
        digits += text[start:end]
        if len(digits) > _CARD_MAX:
            break
        if j > i and _is_card(digits):
            best = j
        if size < 3:
            break
    return best


def card_replacement(text: str, marker: str) -> str | None:
    """``text`` (digit groups joined by single spaces or dashes) with every card replaced.

    A run may hold a card and neighbouring numbers ("order 12 4111 1111 1111 1111") or two
    cards, so each group is tried as a card's start (the longest card wins); the work per
    group is bounded, so this is linear in the run. ``None`` when the run holds no card.
    """
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text)]
    out: list[str] = []
    position = 0  # text before this index is written to out
    i = 0
    while i < len(groups):
        last = _card_end(text, groups, i)
        if last < 0:
            i += 1
            continue
        out.append(text[position : groups[i][0]])
        out.append(marker)
        position = groups[last][1]
        i = last + 1
    if not out:
        return None
    out.append(text[position:])
    return "".join(out)


def _card(match_text: str, marker: str) -> str | None:
    return card_replacement(match_text, marker)


_AWS_SECRET = r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"

BUILTIN_DETECTORS: dict[str, Detector] = {
    detector.name: detector
    for detector in (
        Detector(
            "email",
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*"
            r"\.[A-Za-z]{2,}(?![A-Za-z0-9\-])",
            literals=("@",),
        ),
        Detector(
            "credit_card",
            # Digit groups with single space or dash separators; Luhn decides.
            r"(?<![A-Za-z0-9])\d+(?:[ \-]\d+)*(?![A-Za-z0-9])",
            replace=_card,
            min_digits=13,
            hint=re.compile(r"[0-9](?:[ \-]?[0-9]){12}"),
        ),
        Detector(
            "api_key",
            rf"(?<![{_TOKEN}])(?:"
            rf"sk-[{_TOKEN}]{{20,}}"  # OpenAI sk-, sk-proj-, sk-svcacct-; Anthropic sk-ant-
            rf"|AIza[{_TOKEN}]{{35}}"  # Google
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
            r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
            r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
            r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
            rf"|slk_[{_TOKEN}]{{20,}}"  # spanlink receiver keys
            r")",
            keys=("*api_key", "*api-key", "*apikey"),
            literals=(
                "sk-",
                "AIza",
                "ghp_",
                "gho_",
                "ghu_",
                "ghs_",
                "ghr_",
                "github_pat_",
                "xox",
                "k_live_",
                "k_test_",
                "hf_",
                "slk_",
            ),
        ),
        Detector(
            "aws_key",
            # An access key id, with the secret key when it follows the id directly.
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"
            rf"(?:[\s:,;|=\"']{{1,5}}{_AWS_SECRET})?"
            # A secret key after a name saying so: aws_secret_access_key=..., "SecretAccessKey".
            r"|(?P<keep_aws>(?i:aws[A-Za-z0-9_.\-]{0,24}secret[A-Za-z0-9_.\-]{0,24}"
            r"|secret_?access_?key)[\"']?\s{0,4}[:=]\s{0,4}[\"']?)"
            rf"{_AWS_SECRET}",
            keys=("*secret_access_key", "*secretaccesskey"),
            literals=("AKIA", "ASIA", *_any_case("secret")),
        ),
        Detector(
            "jwt",
            rf"(?<![{_TOKEN}])eyJ[{_TOKEN}]{{4,}}\.[{_TOKEN}]{{4,}}\.[{_TOKEN}]*",
            literals=("eyJ",),
        ),
        Detector(
            "bearer_token",
            # "Bearer <token>" (RFC 6750 b64token) and "Authorization: <scheme> <credentials>".
            r"(?P<keep_bearer>(?<![A-Za-z])(?:Bearer|BEARER|bearer(?=\s+\S*[0-9]))\s+)"
            r"[A-Za-z0-9\-._~+/]{8,}=*"
            r"|(?P<keep_authorization>(?i:authorization)[\"']?\s{0,4}[:=]\s{0,4}[\"']?"
            r"(?:[A-Za-z]{1,16}\s+)?)[A-Za-z0-9\-._~+/]{6,}=*"
            # The scheme of an already redacted value is not a credential: idempotence.
            r"(?!\s{1,4}\[REDACTED:)",
            keys=("*authorization",),
            literals=_any_case("bearer", "authorization"),
        ),
    )
}
