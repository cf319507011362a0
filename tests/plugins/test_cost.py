"""The cost plugin: cache-aware arithmetic, LiteLLM prices, custom price tables, rollups."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from spanlink.plugins.cost import (
    PriceError,
    PriceFileError,
    candidate_names,
    default_price_map,
    span_cost,
    trace_cost,
)
from spanlink.plugins.cost import plugin as cost_plugin
from spanlink.tracer.model import Trace
from spanlink.tracer.plugins import call_each, get_plugin_manager

# Published per-token prices (USD) of LiteLLM's map for the models used below. The first
# test checks the installed map still says so, so a price change fails loudly here rather
# than as a puzzling arithmetic mismatch.
GPT_4O = {"input": 2.5e-06, "cache_read": 1.25e-06, "output": 1e-05}
CLAUDE_SONNET_45 = {
    "input": 3e-06,
    "cache_read": 3e-07,
    "cache_creation": 3.75e-06,
    "output": 1.5e-05,
}
O3_MINI = {"input": 1.1e-06, "cache_read": 5.5e-07, "output": 4.4e-06}
GEMINI_25_PRO = {"input": 1.25e-06, "cache_read": 1.25e-07, "output": 1e-05}
GEMINI_25_PRO_ABOVE_200K = {"input": 2.5e-06, "cache_read": 2.5e-07, "output": 1.5e-05}


def test_published_prices_are_those_of_the_installed_map() -> None:
    price_map = default_price_map()
    for model, published in (
        ("gpt-4o-2024-08-06", GPT_4O),
        ("claude-sonnet-4-5", CLAUDE_SONNET_45),
        ("o3-mini", O3_MINI),
    ):
        price = price_map.lookup(candidate_names(model, None))
        assert price is not None, model
        for field, value in published.items():
            assert getattr(price, field) == value, (model, field)
    gemini = price_map.lookup(candidate_names("gemini-2.5-pro", None))
    assert gemini is not None
    for field, value in GEMINI_25_PRO.items():
        assert getattr(gemini, field) == value, field
    for field, value in GEMINI_25_PRO_ABOVE_200K.items():
        assert getattr(gemini.for_input(200_001), field) == value, field


def test_cached_input_tokens_are_not_double_counted(llm: Any) -> None:
    # OpenAI usage as observed: prompt 1000 of which 400 cached, completion 500.
    result = span_cost(
        llm("gpt-4o-2024-08-06", 1000, 500, **{"gen_ai.usage.cache_read.input_tokens": 400})
    )
    assert result is not None
    # Hand computation: 600 uncached + 400 cached at the cache price + 500 output.
    assert result["input_cost"] == pytest.approx(600 * 2.5e-06)  # 0.0015
    assert result["cache_read_cost"] == pytest.approx(400 * 1.25e-06)  # 0.0005
    assert result["output_cost"] == pytest.approx(500 * 1e-05)  # 0.005
    assert result["total_cost"] == pytest.approx(0.007)
    # The known defect elsewhere charges all 1000 input tokens at full price, plus the cache.
    assert result["total_cost"] != pytest.approx(1000 * 2.5e-06 + 0.0005 + 0.005)
    assert result["status"] == "ok"
    assert result["model"] == "gpt-4o-2024-08-06"
    assert result["price_source"] == "litellm"
    assert result["currency"] == "USD"
    assert (result["input_tokens"], result["cache_read_tokens"], result["output_tokens"]) == (
        1000,
        400,
        500,
    )


def test_cache_reads_and_writes_priced_separately(llm: Any) -> None:
    attributes = llm(
        "claude-sonnet-4-5",
        10_000,
        1_000,
        **{
            "gen_ai.provider.name": "anthropic",
            "gen_ai.usage.cache_read.input_tokens": 2_000,
            "gen_ai.usage.cache_creation.input_tokens": 3_000,
        },
    )
    result = span_cost(attributes)
    assert result is not None and result["status"] == "ok"
    assert result["input_cost"] == pytest.approx(5_000 * 3e-06)
    assert result["cache_read_cost"] == pytest.approx(2_000 * 3e-07)
    assert result["cache_creation_cost"] == pytest.approx(3_000 * 3.75e-06)
    assert result["output_cost"] == pytest.approx(1_000 * 1.5e-05)
    assert result["total_cost"] == pytest.approx(0.015 + 0.0006 + 0.01125 + 0.015)
    assert "warning" not in result


def test_input_reported_without_cache_is_recognised_and_flagged(llm: Any) -> None:
    # Anthropic's native usage reports input excluding cache: 100 input, 2000 cache read.
    attributes = llm(
        "claude-sonnet-4-5", 100, 10, **{"gen_ai.usage.cache_read.input_tokens": 2_000}
    )
    result = span_cost(attributes)
    assert result is not None
    assert result["input_cost"] == pytest.approx(100 * 3e-06)
    assert result["cache_read_cost"] == pytest.approx(2_000 * 3e-07)
    assert "cache tokens exceed input tokens" in result["warning"]


def test_reasoning_is_a_share_of_output_not_extra(llm: Any) -> None:
    attributes = llm("o3-mini", 200, 1_000, **{"gen_ai.usage.reasoning.output_tokens": 600})
    result = span_cost(attributes)
    assert result is not None
    assert result["output_cost"] == pytest.approx(1_000 * 4.4e-06)
    assert result["reasoning_cost"] == pytest.approx(600 * 4.4e-06)
    assert result["total_cost"] == pytest.approx(200 * 1.1e-06 + 1_000 * 4.4e-06)
    assert result["reasoning_tokens"] == 600


def test_long_context_tier_applies_above_its_threshold(llm: Any) -> None:
    # gemini-2.5-pro: $1.25/M in, $10/M out, $0.125/M cached up to 200k input tokens;
    # $2.50/M, $15/M, $0.25/M for the whole call above 200k.
    attributes = llm(
        "gemini-2.5-pro", 250_000, 1_000, **{"gen_ai.usage.cache_read.input_tokens": 50_000}
    )
    result = span_cost(attributes)
    assert result is not None and result["status"] == "ok"
    assert result["price_tier"] == "above_200000_input_tokens"
    assert result["input_cost"] == pytest.approx(200_000 * 2.5e-06)
    assert result["cache_read_cost"] == pytest.approx(50_000 * 2.5e-07)
    assert result["output_cost"] == pytest.approx(1_000 * 1.5e-05)
    below = span_cost(llm("gemini-2.5-pro", 150_000, 1_000))
    assert below is not None and "price_tier" not in below
    assert below["input_cost"] == pytest.approx(150_000 * 1.25e-06)
    assert below["output_cost"] == pytest.approx(1_000 * 1e-05)


def test_matches_litellm_cost_per_token_without_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    for model, tokens_in, tokens_out in (
        ("gpt-4o-mini", 1234, 567),
        ("claude-sonnet-4-5", 1000, 1000),
        ("gemini-2.5-pro", 250_000, 1000),  # long-context tier
    ):
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=tokens_in, completion_tokens=tokens_out
        )
        ours = span_cost(
            {
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.output_tokens": tokens_out,
            }
        )
        assert ours is not None
        assert ours["input_cost"] == pytest.approx(prompt), model
        assert ours["output_cost"] == pytest.approx(completion), model


@pytest.mark.parametrize(
    ("model", "provider", "key"),
    [
        ("gpt-4o-2024-08-06", "openai", "gpt-4o-2024-08-06"),  # snapshot in the map
        ("gpt-4o-2031-01-01", None, "gpt-4o"),  # future snapshot: falls back to the family
        ("openai/gpt-4o-mini", None, "gpt-4o-mini"),  # provider-prefixed
        ("GPT-4o", None, "gpt-4o"),  # case
        ("gpt-4o", "azure.ai.openai", "azure/gpt-4o"),  # provider-specific price first
        ("claude-sonnet-4-5@20250929", "gcp.vertex_ai", "vertex_ai/claude-sonnet-4-5@20250929"),
        ("claude-sonnet-4-5@20991231", None, "claude-sonnet-4-5"),  # unknown @date snapshot
        ("text-embedding-3-small", "openai", "text-embedding-3-small"),
    ],
)
def test_model_names_resolve(model: str, provider: str | None, key: str) -> None:
    attributes: dict[str, Any] = {
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 0,
    }
    if provider:
        attributes["gen_ai.provider.name"] = provider
    result = span_cost(attributes)
    assert result is not None
    assert result["status"] == "ok", result
    assert result["price_key"].lower() == key
    assert result["total_cost"] > 0


def test_response_model_preferred_then_request_model(llm: Any) -> None:
    attributes = llm("gpt-4o-mini", 100, 100, **{"gen_ai.response.model": "gpt-4o-2024-08-06"})
    result = span_cost(attributes)
    assert result is not None and result["model"] == "gpt-4o-2024-08-06"
    # An unknown response alias still prices through the requested model.
    attributes = llm("gpt-4o-mini", 100, 100, **{"gen_ai.response.model": "my-proxy-alias"})
    result = span_cost(attributes)
    assert result is not None and result["status"] == "ok"
    assert result["price_key"] == "gpt-4o-mini"


def test_unknown_model_is_reported_never_zero(llm: Any) -> None:
    result = span_cost(llm("acme-llm-9000", 100, 50))
    assert result is not None
    assert result["status"] == "unknown_model"
    assert result["model"] == "acme-llm-9000"
    assert "acme-llm-9000" in result["message"] and "SPANLINK_PRICES" in result["message"]
    assert not any(key.endswith("_cost") for key in result)
    assert (result["input_tokens"], result["output_tokens"]) == (100, 50)


def test_usage_without_model_is_unknown_model() -> None:
    result = span_cost({"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 5})
    assert result is not None
    assert result["status"] == "unknown_model" and result["model"] is None


def test_model_call_without_usage_is_no_usage(llm: Any) -> None:
    result = span_cost(llm("gpt-4o", None, None, **{"gen_ai.request.stream": True}))
    assert result is not None
    assert result["status"] == "no_usage"
    assert result["model"] == "gpt-4o"
    assert "total_cost" not in result


def test_total_tokens_alone_cannot_be_priced(llm: Any) -> None:
    result = span_cost(llm("gpt-4o", None, None, **{"gen_ai.usage.total_tokens": 1500}))
    assert result is not None and result["status"] == "no_usage"
    assert "only a total of 1500 tokens" in result["message"]


@pytest.mark.parametrize("bad", [-5, "many", 1.5, True])
def test_invalid_token_count_is_reported(llm: Any, bad: Any) -> None:
    result = span_cost(llm("gpt-4o", bad, 10))
    assert result is not None
    assert result["status"] == "invalid_usage"
    assert "gen_ai.usage.input_tokens" in result["message"]
    assert "total_cost" not in result


def test_spans_without_model_calls_are_ignored() -> None:
    assert span_cost({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"}) is None
    assert span_cost({}) is None


# --- custom prices ------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_price_file_toml_overrides_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm: Any
) -> None:
    prices = _write(
        tmp_path / "prices.toml",
        """
        ["gpt-4o*"]
        input = 2e-06
        output = 8e-06
        cache_read = 5e-07

        ["acme-*"]
        input_cost_per_token = 1e-06
        output_cost_per_token = 2e-06
        """,
    )
    monkeypatch.setenv("SPANLINK_PRICES", str(prices))
    result = span_cost(
        llm("gpt-4o-2024-08-06", 1000, 500, **{"gen_ai.usage.cache_read.input_tokens": 400})
    )
    assert result is not None
    assert result["price_source"] == "SPANLINK_PRICES" and result["price_key"] == "gpt-4o*"
    assert result["total_cost"] == pytest.approx(600 * 2e-06 + 400 * 5e-07 + 500 * 8e-06)
    acme = span_cost(llm("ACME-llm-9000", 100, 50))
    assert acme is not None and acme["status"] == "ok"
    assert acme["total_cost"] == pytest.approx(100 * 1e-06 + 50 * 2e-06)
    # Models the file does not name keep LiteLLM's price.
    other = span_cost(llm("o3-mini", 100, 0))
    assert other is not None and other["price_source"] == "litellm"


def test_price_file_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm: Any) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"house-model": {"input": 1e-06, "output": 1e-06}}))
    monkeypatch.setenv("SPANLINK_PRICES", str(prices))
    result = span_cost(llm("house-model", 10, 10))
    assert result is not None and result["total_cost"] == pytest.approx(2e-05)


def test_project_prices_beat_file_and_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm: Any
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-4o*": {"input": 1e-06, "output": 1e-06}}))
    monkeypatch.setenv("SPANLINK_PRICES", str(prices))
    context = {"prices": {"gpt-4o-2024-08-06": {"input": 3e-06, "output": 3e-06}}}
    result = span_cost(llm("gpt-4o-2024-08-06", 10, 10), context)
    assert result is not None
    assert result["price_source"] == "project"
    assert result["total_cost"] == pytest.approx(6e-05)
    # An exact name in a table wins over an earlier glob of the same table.
    context = {
        "prices": {"gpt-*": {"input": 9e-06, "output": 0}, "gpt-4o": {"input": 1e-06, "output": 0}}
    }
    result = span_cost(llm("gpt-4o", 10, 10), context)
    assert result is not None and result["price_key"] == "gpt-4o"
    # A project table edited in place is recompiled, not served stale.
    table: dict[str, Any] = {"gpt-4o": {"input": 1e-06, "output": 0}}
    first = span_cost(llm("gpt-4o", 10, 0), {"prices": table})
    table["gpt-4o"] = {"input": 2e-06, "output": 0}
    second = span_cost(llm("gpt-4o", 10, 0), {"prices": table})
    assert first is not None and second is not None
    assert second["total_cost"] == pytest.approx(2 * first["total_cost"])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("prices.toml", '["gpt-4o"\ninput = 1', "not valid TOML"),
        ("prices.json", "{not json", "not valid JSON"),
        ("prices.toml", '["gpt-4o"]\ninput = 1e-06\nouput = 1e-06\n', "unknown price 'ouput'"),
        ("prices.toml", '["gpt-4o"]\ninput = -1.0\noutput = 1e-06\n', "finite number >= 0"),
        ("prices.toml", '["gpt-4o"]\ninput = 1e-06\n', "needs output"),
        ("prices.toml", '["gpt-4o"]\ninput = "cheap"\noutput = 1e-06\n', "must be a number"),
        ("prices.json", '["gpt-4o"]', "expected a mapping"),
    ],
)
def test_bad_price_file_fails_clearly_and_loses_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_span: Any,
    llm: Any,
    name: str,
    content: str,
    expected: str,
) -> None:
    path = tmp_path / name
    path.write_text(content)
    monkeypatch.setenv("SPANLINK_PRICES", str(path))
    with pytest.raises(PriceFileError, match=expected) as caught:
        span_cost(llm("gpt-4o", 10, 10))
    assert str(path) in str(caught.value)
    # Through the host's isolation: the cost plugin's error is recorded under its name and
    # the anomaly plugin's result is still produced; no partial cost result exists.
    from spanlink.plugins.anomaly import plugin as anomaly_plugin

    manager = get_plugin_manager()
    manager.register(cost_plugin, name="cost")
    manager.register(anomaly_plugin, name="anomaly")
    span = make_span("chat gpt-4o", llm("gpt-4o", 10, 0))
    results, errors = call_each(manager, "spanlink_enrich_span", span=span, context={})
    assert set(errors) == {"cost"} and expected in str(errors["cost"])
    assert "cost" not in results
    assert results["anomaly"]["rules"] == "empty_output"


def test_missing_price_file_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm: Any
) -> None:
    monkeypatch.setenv("SPANLINK_PRICES", str(tmp_path / "nope.toml"))
    with pytest.raises(PriceFileError, match=r"SPANLINK_PRICES=.*cannot read the price file"):
        span_cost(llm("gpt-4o", 10, 10))


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        ({"gpt-4o": 0.1}, "must be a table"),
        ({"gpt-4o": {"input": 1e-6}}, "needs output"),
        ({"": {"input": 1e-6, "output": 1e-6}}, "non-empty string"),
        ({"gpt-4o": {"input": float("inf"), "output": 0}}, "finite"),
    ],
)
def test_bad_project_prices_fail_clearly(llm: Any, prices: Any, expected: str) -> None:
    with pytest.raises(PriceError, match=expected) as caught:
        span_cost(llm("gpt-4o", 10, 10), {"prices": prices})
    assert str(caught.value).startswith("project:")


# --- rollup and import behaviour ----------------------------------------------------


def test_trace_rollup(make_span: Any, llm: Any) -> None:
    spans = [
        make_span("agent"),
        make_span(
            "chat a",
            llm("gpt-4o-2024-08-06", 1000, 500, **{"gen_ai.usage.cache_read.input_tokens": 400}),
        ),
        make_span("chat b", llm("gpt-4o-2024-08-06", 100, 10)),
        make_span("chat c", llm("o3-mini", 1000, 1000)),
        make_span("chat d", llm("acme-llm-9000", 7, 3)),
        make_span("chat e", llm("gpt-4o", None, None)),
    ]
    manager = get_plugin_manager()
    manager.register(cost_plugin, name="cost")
    span_results: dict[str, dict[str, Any]] = {}
    for span in spans:
        results, errors = call_each(manager, "spanlink_enrich_span", span=span, context={})
        assert not errors
        span_results[span.span_id] = results
    trace = Trace.from_spans(spans)
    results, errors = call_each(
        manager, "spanlink_enrich_trace", trace=trace, span_results=span_results, context={}
    )
    assert not errors
    rollup = results["cost"]
    expected_4o = 0.007 + (100 * 2.5e-06 + 10 * 1e-05)
    expected_o3 = 1000 * 1.1e-06 + 1000 * 4.4e-06
    assert rollup["cost_by_model"] == {
        "gpt-4o-2024-08-06": pytest.approx(expected_4o),
        "o3-mini": pytest.approx(expected_o3),
    }
    assert rollup["total_cost"] == pytest.approx(expected_4o + expected_o3)
    assert rollup["tokens_by_model"]["gpt-4o-2024-08-06"]["input_tokens"] == 1100
    assert rollup["tokens_by_model"]["gpt-4o-2024-08-06"]["cache_read_tokens"] == 400
    assert rollup["tokens_by_model"]["acme-llm-9000"]["output_tokens"] == 3
    assert rollup["llm_spans"] == 5 and rollup["priced_spans"] == 3
    assert rollup["unknown_model_spans"] == 1 and rollup["unknown_models"] == ["acme-llm-9000"]
    assert rollup["unpriced_llm_spans"] == 1
    assert rollup["complete"] is False
    json.dumps(rollup)  # JSON-safe


def test_trace_without_model_calls_has_no_cost_rollup() -> None:
    assert trace_cost({"a": {}, "b": {"anomaly": {"count": 1}}}) is None


def test_import_is_lazy_and_never_imports_litellm(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys
        os.environ.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)
        import spanlink.plugins.cost.plugin as plugin
        assert "litellm" not in sys.modules, "imported litellm at plugin import"
        assert "LITELLM_LOCAL_MODEL_COST_MAP" not in os.environ
        from spanlink.plugins.cost import price_map
        assert price_map._default is None, "price map loaded at import"
        result = plugin.span_cost({"gen_ai.request.model": "gpt-4o",
                                   "gen_ai.usage.input_tokens": 1,
                                   "gen_ai.usage.output_tokens": 1})
        assert result["status"] == "ok", result
        assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
        assert "litellm" not in sys.modules, "the map file is read without importing litellm"
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
