"""``llm_judge`` against a local fake OpenAI-compatible server (real HTTP on loopback) that
answers well, answers garbage, fails, refuses, is slow, or is down."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply

from spanlink.plugins.evals import LlmJudge, ParamError, parse_judgement
from spanlink.tracer.evaluation import evaluate_case
from spanlink.tracer.model import Case, EvaluatorConfig, Score


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    for name in ("SPANLINK_JUDGE_API_KEY", "SPANLINK_JUDGE_CONCURRENCY", "SPANLINK_JUDGE_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    server = FakeOpenAI()
    yield server
    server.close()


CASE = Case("c", {"question": "capital of Norway?"}, expected="Oslo")
JUDGE = LlmJudge()


def params(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "rubric": "Is the answer correct?",
        "model": "judge-1",
        "base_url": fake.base_url,
        **extra,
    }


def judge(p: dict[str, Any], output: Any = "Oslo", threshold: float | None = None) -> Score:
    JUDGE.validate(p)

    async def go() -> Score:
        result = JUDGE.evaluate(CASE, output, None, params=p, threshold=threshold)
        score = await result
        assert isinstance(score, Score)
        return score

    return asyncio.run(go())


def test_a_good_answer(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test-123")
    score = judge(params(fake, api_key_env="MY_JUDGE_KEY"))
    assert (score.value, score.passed, score.explanation) == (0.8, True, "clear and correct")
    assert score.error is None and score.evaluator == "llm_judge"
    assert score.metadata == {
        "judge_model": "judge-1",
        "attempts": 1,
        "input_tokens": 120,
        "output_tokens": 30,
        "total_tokens": 150,
    }
    (request,) = fake.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test-123"
    body = request["body"]
    assert body["model"] == "judge-1" and body["temperature"] == 0.0
    prompt = body["messages"][1]["content"]
    for part in (
        "Is the answer correct?",
        "capital of Norway?",
        "EXPECTED OUTPUT:\nOslo",
        "OUTPUT:\nOslo",
    ):
        assert part in prompt
    assert judge(params(fake), threshold=0.9).passed is False
    assert fake.requests[-1]["auth"] is None  # no key configured: no header


def test_model_and_url_from_the_environment(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPANLINK_JUDGE_BASE_URL", fake.base_url)
    monkeypatch.setenv("SPANLINK_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("SPANLINK_JUDGE_API_KEY", "sk-env")
    assert judge({"rubric": "ok?"}).passed is True
    assert fake.requests[0]["body"]["model"] == "env-model"
    assert fake.requests[0]["auth"] == "Bearer sk-env"


def test_garbage_answers_give_an_error_score(fake: FakeOpenAI) -> None:
    fake.replies = [Reply(content="I think it is rather good!")]
    score = judge(params(fake))
    assert score.passed is None and score.value is None
    assert "holds no score" in (score.error or "")
    assert score.metadata["input_tokens"] == 120  # the judge's usage is recorded anyway
    fake.replies = [Reply(body="<html>proxy error</html>")]
    assert "not JSON" in (judge(params(fake)).error or "")
    fake.replies = [Reply(body='{"choices": []}')]
    assert "no chat completion" in (judge(params(fake)).error or "")
    fake.replies = [Reply(content='{"score": 7}')]  # out of range: never guessed
    assert judge(params(fake)).error is not None


def test_server_errors_are_retried(fake: FakeOpenAI) -> None:
    fake.replies = [
        Reply(status=500, body="{}"),
        Reply(status=429, body="{}", headers={"Retry-After": "0"}),
        Reply(),
    ]
    score = judge(params(fake, retries=2))
    assert score.passed is True and score.metadata["attempts"] == 3
    fake.requests.clear()
    fake.replies = [Reply(status=503, body="{}")]
    failed = judge(params(fake, retries=1))
    assert "HTTP 503 (after 2 attempt(s))" in (failed.error or "")
    assert len(fake.requests) == 2


def test_a_refusal_is_not_retried(fake: FakeOpenAI) -> None:
    fake.replies = [Reply(status=401, body='{"error": "bad key"}')]
    score = judge(params(fake, retries=3))
    assert "refused the request: HTTP 401" in (score.error or "") and "bad key" in (
        score.error or ""
    )
    assert len(fake.requests) == 1


def test_a_judge_that_is_down() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    score = judge(
        {"rubric": "r", "model": "m", "base_url": f"http://127.0.0.1:{port}/v1", "retries": 1}
    )
    assert score.passed is None and "unreachable" in (score.error or "")
    assert score.metadata["attempts"] == 2


def test_a_slow_judge_hits_the_total_deadline(fake: FakeOpenAI) -> None:
    fake.replies = [Reply(hold=True)]
    score = judge(params(fake, timeout_s=0.5))
    assert score.passed is None
    assert score.error == "the judge gave no answer within 0.5 s"


def test_concurrency_is_bounded(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPANLINK_JUDGE_CONCURRENCY", "2")
    fake.replies = [Reply(hold=True)]
    p = params(fake, timeout_s=20)

    async def go() -> list[Any]:
        tasks = [
            asyncio.ensure_future(
                JUDGE.evaluate(CASE, f"answer {i}", None, params=p, threshold=None)
            )
            for i in range(5)
        ]
        for _ in range(400):  # until two requests are in flight (bounded wait)
            if len(fake.requests) >= 2:
                break
            await asyncio.sleep(0.025)
        assert len(fake.requests) == 2
        fake.release.set()
        return await asyncio.gather(*tasks)

    scores = asyncio.run(go())
    assert all(score.passed for score in scores)
    assert len(fake.requests) == 5
    assert fake.max_in_flight == 2


def test_the_runner_awaits_the_judge(fake: FakeOpenAI) -> None:
    evaluators = {"llm_judge": JUDGE}
    config = EvaluatorConfig("llm_judge", params(fake), threshold=0.7)
    result = evaluate_case([config], CASE, "Oslo", None, evaluators=evaluators)
    assert result.status == "passed" and result.scores[0].value == 0.8
    fake.replies = [Reply(content="no idea")]
    assert evaluate_case([config], CASE, "Oslo", None, evaluators=evaluators).status == "error"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"score": 1, "explanation": "perfect"}', (1.0, "perfect")),
        ('Sure!\n```json\n{"score": "0.25", "reason": "vague"}\n```', (0.25, "vague")),
        ('My verdict: {"pass": false, "explanation": "wrong city"} done', (0.0, "wrong city")),
        ("Score: 0.6 because it is partly right", (0.6, "Score: 0.6 because it is partly right")),
        ('{"score": 0.5}', (0.5, None)),
    ],
)
def test_parse_judgement(answer: str, expected: tuple[float, str | None]) -> None:
    assert parse_judgement(answer) == expected


@pytest.mark.parametrize(
    "answer", ["", "great", '{"score": 1.5}', '{"score": -1}', "[" * 50_000, '{"verdict": "yes"}']
)
def test_parse_judgement_refuses_to_guess(answer: str) -> None:
    assert parse_judgement(answer) is None


@pytest.mark.parametrize(
    ("p", "message"),
    [
        ({"model": "m", "base_url": "http://x/v1"}, "'rubric' is required"),
        (
            {"rubric": "r", "base_url": "http://x/v1"},
            "'model' is required (or set SPANLINK_JUDGE_MODEL)",
        ),
        ({"rubric": "r", "model": "m"}, "'base_url' is required"),
        ({"rubric": "r", "model": "m", "base_url": "ftp://x"}, "http(s) URL"),
        ({"rubric": "r", "model": "m", "base_url": "http://x", "retries": 1.5}, "whole number"),
        ({"rubric": "r", "model": "m", "base_url": "http://x", "timeout_s": 0}, "positive"),
        (
            {"rubric": "r", "model": "m", "base_url": "http://x", "api_key": "sk-1"},
            "unknown parameter(s) 'api_key'",
        ),
    ],
)
def test_bad_params(p: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPANLINK_JUDGE_MODEL", raising=False)
    monkeypatch.delenv("SPANLINK_JUDGE_BASE_URL", raising=False)
    with pytest.raises(ParamError) as caught:
        JUDGE.validate(p)
    assert message in str(caught.value)
