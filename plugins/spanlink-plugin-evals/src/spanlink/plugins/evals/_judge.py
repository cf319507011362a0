"""``llm_judge``: a rubric prompt to any OpenAI-compatible ``/chat/completions`` endpoint.

The judge is asked for ``{"score": <0..1>, "explanation": "..."}``; its answer is parsed
tolerantly (code fences, prose around the JSON, ``"pass": true``, ``score: 0.8``). An answer
that cannot be read gives a score with an error, never a guess.

Bounded: at most ``SPANLINK_JUDGE_CONCURRENCY`` requests in flight per event loop, one
total deadline per judgement (``timeout_s``: waiting for a slot, every attempt and every
backoff included), and retries with jittered exponential backoff on transport errors,
408/409/429 and 5xx (a ``Retry-After`` is honoured within the deadline). The judge's token
usage is recorded in the score's ``metadata``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from spanlink.plugins.evals import environment_variables as env
from spanlink.plugins.evals._base import BuiltinEvaluator, Params, Subject
from spanlink.plugins.evals._json import as_text
from spanlink.tracer.model import Case, Score
from spanlink.tracer.support import backoff_delay

__all__ = ["LlmJudge", "parse_judgement"]

_DEFAULT_CONCURRENCY = 4
_DEFAULT_TIMEOUT_S = 60.0
_RETRY_STATUSES = frozenset({408, 409, 429})
_MAX_ANSWER = 65_536  # characters of an answer looked at
_MAX_OUTPUT = 20_000  # characters of the app's output put into the prompt
_SYSTEM = (
    "You are an evaluator. Judge the OUTPUT against the RUBRIC. Answer with one JSON object "
    'and nothing else: {"score": <a number from 0 to 1>, "explanation": "<one or two '
    'sentences>"}.'
)

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _concurrency() -> int:
    raw = os.environ.get(env.SPANLINK_JUDGE_CONCURRENCY, "")
    try:
        value = int(raw) if raw.strip() else _DEFAULT_CONCURRENCY
    except ValueError:
        raise ValueError(
            f"{env.SPANLINK_JUDGE_CONCURRENCY}={raw!r} is not an integer; set a positive number"
        ) from None
    if value < 1:
        raise ValueError(f"{env.SPANLINK_JUDGE_CONCURRENCY}={raw!r}; set a positive number")
    return value


def _slots() -> asyncio.Semaphore:
    """The semaphore of the running loop (a semaphore belongs to one loop)."""
    loop = asyncio.get_running_loop()
    semaphore = _semaphores.get(loop)
    if semaphore is None:
        semaphore = _semaphores[loop] = asyncio.Semaphore(_concurrency())
    return semaphore


# --- reading the answer ---------------------------------------------------------------

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_SCORE_TEXT = re.compile(r"""["']?score["']?\s*[:=]\s*["']?(-?[0-9]*\.?[0-9]+)""", re.IGNORECASE)
_DECODER = json.JSONDecoder()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _objects(text: str) -> list[Any]:
    """JSON objects found in ``text``: the whole text, fenced blocks, then each ``{``."""
    found: list[Any] = []
    candidates = [text, *(m.group(1) for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            found.append(json.loads(candidate))
        except (ValueError, RecursionError):
            continue
    start = text.find("{")
    tries = 0
    while start != -1 and tries < 20:  # bounded: each raw_decode is linear
        try:
            value, _ = _DECODER.raw_decode(text, start)
            found.append(value)
        except (ValueError, RecursionError):
            pass
        start = text.find("{", start + 1)
        tries += 1
    return [value for value in found if isinstance(value, dict)]


def parse_judgement(answer: str) -> tuple[float, str | None] | None:
    """``(score, explanation)`` from a judge's answer, or None when no score can be read.

    The score must lie in 0..1 (``"pass"``/``"passed"`` booleans count as 1 or 0).
    """
    text = answer[:_MAX_ANSWER]
    for data in _objects(text):
        for key in ("score", "value", "pass", "passed"):
            if key in data:
                score = _number(data[key])
                if score is not None and 0.0 <= score <= 1.0:
                    explanation = data.get("explanation", data.get("reason"))
                    return score, explanation if isinstance(explanation, str) else None
    match = _SCORE_TEXT.search(text)
    if match is not None:
        score = float(match.group(1))
        if 0.0 <= score <= 1.0:
            return score, text.strip()[:2_000]
    return None


# --- the evaluator --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _JudgeOptions:
    rubric: str
    model: str
    base_url: str
    api_key_env: str
    timeout_s: float
    retries: int
    temperature: float
    max_tokens: int


class _Failure(Exception):
    """A judgement that could not be made; the message is the score's error."""


class LlmJudge(BuiltinEvaluator[_JudgeOptions]):
    """``llm_judge``: a judge model scores the output against ``rubric`` (0..1).

    Params: ``rubric`` (required), ``model`` (or ``SPANLINK_JUDGE_MODEL``), ``base_url``
    (an OpenAI-compatible API root such as ``http://127.0.0.1:8000/v1``, or
    ``SPANLINK_JUDGE_BASE_URL``), ``api_key_env`` (the environment variable holding the
    key; default ``SPANLINK_JUDGE_API_KEY``; keys never go into configurations),
    ``timeout_s`` (total, default 60 or ``SPANLINK_JUDGE_TIMEOUT``), ``retries`` (default
    2), ``temperature`` (default 0), ``max_tokens`` (of the answer, default 512).
    Passes at ``threshold`` (default 0.5). The prompt holds the rubric, the case's inputs,
    its expected output when there is one, and the output.
    """

    name = "llm_judge"
    params = frozenset(
        {
            "rubric",
            "model",
            "base_url",
            "api_key_env",
            "timeout_s",
            "retries",
            "temperature",
            "max_tokens",
        }
    )
    default_threshold = 0.5

    def parse(self, params: Params) -> _JudgeOptions:
        rubric = params.text("rubric", required=True)
        model = params.text("model") or os.environ.get(env.SPANLINK_JUDGE_MODEL)
        if not model:
            params.fail(f"'model' is required (or set {env.SPANLINK_JUDGE_MODEL})")
        base_url = params.text("base_url") or os.environ.get(env.SPANLINK_JUDGE_BASE_URL)
        if not base_url:
            params.fail(f"'base_url' is required (or set {env.SPANLINK_JUDGE_BASE_URL})")
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as error:
            params.fail(f"'base_url' {base_url!r} is not a URL: {error}")
        if url.scheme not in ("http", "https") or not url.host:
            params.fail(f"'base_url' {base_url!r} must be an http(s) URL")
        timeout = params.number("timeout_s")
        if timeout is None:
            raw = os.environ.get(env.SPANLINK_JUDGE_TIMEOUT, "")
            try:
                timeout = float(raw) if raw.strip() else _DEFAULT_TIMEOUT_S
            except ValueError:
                params.fail(f"{env.SPANLINK_JUDGE_TIMEOUT}={raw!r} is not a number of seconds")
        if not timeout or timeout <= 0:
            params.fail(f"'timeout_s' must be positive, not {timeout!r}")
        retries = params.number("retries", 2, minimum=0)
        if retries != int(retries) or retries > 10:
            params.fail(f"'retries' must be a whole number from 0 to 10, not {retries!r}")
        max_tokens = params.number("max_tokens", 512, minimum=1)
        return _JudgeOptions(
            rubric,
            model,
            base_url.rstrip("/"),
            params.text("api_key_env", env.SPANLINK_JUDGE_API_KEY),
            float(timeout),
            int(retries),
            float(params.number("temperature", 0.0, minimum=0)),
            int(max_tokens),
        )

    def judge(
        self, subject: Subject, options: _JudgeOptions, threshold: float | None
    ) -> Awaitable[Score]:
        """Async: returns a coroutine the host awaits (the runner bounds it too)."""
        return self._evaluate(subject.case, subject.output, options, threshold)

    async def _evaluate(
        self, case: Case, output: Any, options: _JudgeOptions, threshold: float | None
    ) -> Score:
        usage: dict[str, Any] = {"judge_model": options.model, "attempts": 0}
        try:
            answer = await asyncio.wait_for(
                self._ask(options, _messages(case, output, options.rubric), usage),
                options.timeout_s,
            )
        except asyncio.TimeoutError:
            return self._failed(f"the judge gave no answer within {options.timeout_s:g} s", usage)
        except _Failure as failure:
            return self._failed(str(failure), usage)
        parsed = parse_judgement(answer)
        if parsed is None:
            shown = answer[:300] + ("..." if len(answer) > 300 else "")
            return self._failed(f"the judge's answer holds no score from 0 to 1: {shown!r}", usage)
        value, explanation = parsed
        score = self.verdict(value, threshold, explanation or "")
        return replace(score, metadata=usage)

    def _failed(self, error: str, usage: dict[str, Any]) -> Score:
        return replace(self.unknown(error), metadata=usage)

    async def _ask(
        self, options: _JudgeOptions, messages: list[dict[str, str]], usage: dict[str, Any]
    ) -> str:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(options.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {
            "model": options.model,
            "messages": messages,
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
        }
        url = f"{options.base_url}/chat/completions"
        last = "no attempt was made"
        last_response: httpx.Response | None = None
        async with _slots(), httpx.AsyncClient(timeout=options.timeout_s) as client:
            for attempt in range(options.retries + 1):
                if attempt:
                    await asyncio.sleep(_retry_delay(attempt, last_response))
                usage["attempts"] = attempt + 1
                last_response = None
                try:
                    response = await client.post(url, json=body, headers=headers)
                except httpx.TransportError as error:
                    last = f"the judge at {url} is unreachable: {type(error).__name__}: {error}"
                    continue
                last_response = response
                if response.status_code in _RETRY_STATUSES or response.status_code >= 500:
                    last = f"the judge at {url} answered HTTP {response.status_code}"
                    continue
                if response.status_code >= 400:
                    raise _Failure(
                        f"the judge at {url} refused the request: HTTP {response.status_code} "
                        f"{response.text[:300]!r}"
                    )
                return _content(response, url, usage)
        raise _Failure(f"{last} (after {options.retries + 1} attempt(s))")


def _retry_delay(attempt: int, response: httpx.Response | None) -> float:
    delay = backoff_delay(attempt, 0.2, 5.0)
    if response is not None:
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), 30.0))  # the total deadline still rules
    return delay


def _content(response: httpx.Response, url: str, usage: dict[str, Any]) -> str:
    try:
        data = response.json()
    except ValueError:
        raise _Failure(
            f"the judge at {url} answered something that is not JSON: {response.text[:300]!r}"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("usage"), dict):
        for ours, theirs in (
            ("input_tokens", "prompt_tokens"),
            ("output_tokens", "completion_tokens"),
            ("total_tokens", "total_tokens"),
        ):
            value = data["usage"].get(theirs)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                usage[ours] = usage.get(ours, 0) + value
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        raise _Failure(f"the judge at {url} answered no chat completion: {response.text[:300]!r}")
    return content


def _messages(case: Case, output: Any, rubric: str) -> list[dict[str, str]]:
    text = as_text(output)
    if len(text) > _MAX_OUTPUT:
        text = text[:_MAX_OUTPUT] + f"\n[... {len(text) - _MAX_OUTPUT} more characters]"
    parts = [f"RUBRIC:\n{rubric}"]
    if case.inputs:
        parts.append(f"INPUT:\n{as_text(dict(case.inputs))[:_MAX_OUTPUT]}")
    if case.expected is not None:
        parts.append(f"EXPECTED OUTPUT:\n{as_text(case.expected)[:_MAX_OUTPUT]}")
    parts.append(f"OUTPUT:\n{text}")
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]
