"""Usage logs as their writers write them: the provider inferred from the model name, missing usage flagged and
never priced as free, every billed component kept."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from assets.config import load_settings
from assets.ingest import records
from assets.ingest.bedrock_logs import BEDROCK_INVOCATION_LOGS
from assets.ingest.langfuse import LANGFUSE_OBSERVATIONS
from assets.ingest.litellm import LITELLM_SPENDLOGS
from assets.ingest.otlp import OTLP_JSON
from assets.ingest.records import ModelName, resolve_model
from assets.pricing import price_day
from assets.raw import land_day
from assets.sql import connect
from assets.staging import read_files, stage_day
from tests.unit.test_ingest_readers import stage
from tests.unit.test_staging import staged

DAY = date(2026, 3, 2)
FLASH = "gemini-2.5-flash"
VERTEX = f"projects/acme-prod/locations/us-central1/publishers/google/models/{FLASH}"
SONNET_35 = "anthropic.claude-3-5-sonnet-20240620-v1:0"
SONNET_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"


@pytest.mark.parametrize(
    ("provider", "model", "fallback", "expected"),
    [
        (None, "claude-3-5-sonnet-latest", None, ModelName("anthropic", "claude-3-5-sonnet-latest")),
        (None, "gpt-4o-mini-2024-07-18", None, ModelName("openai", "gpt-4o-mini-2024-07-18")),
        (None, "text-embedding-3-small", None, ModelName("openai", "text-embedding-3-small")),
        (None, VERTEX, None, ModelName("google", "gemini-2.5-flash")),
        ("google", "projects/p/locations/europe-west4/models/gemini-2.5-flash", None, ModelName("google", FLASH)),
        (None, SONNET_35, None, ModelName("aws", SONNET_35)),
        (None, SONNET_37, None, ModelName("aws", SONNET_37)),
        (
            None,
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            None,
            ModelName("aws", SONNET_37),
        ),
        (
            None,
            "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
            None,
            ModelName("aws", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"),
        ),
        (None, "openai/gpt-4o", None, ModelName("openai", "gpt-4o")),
        (None, "vertex_ai/gemini-2.5-pro", None, ModelName("google", "gemini-2.5-pro")),
        ("openai", "openai/gpt-4o", None, ModelName("openai", "gpt-4o")),
        ("openrouter", "anthropic/claude-3.5-sonnet", None, ModelName("openrouter", "anthropic/claude-3.5-sonnet")),
        (None, "gpt-4o", "azure", ModelName("azure", "gpt-4o")),
        (None, "our-finetune-7b", None, ModelName(None, "our-finetune-7b")),
        (None, "our-finetune-7b", "Bedrock", ModelName("aws", "our-finetune-7b")),
    ],
)
def test_provider_comes_from_the_record_then_the_model_form_then_the_option_then_the_catalog(
    provider: str | None, model: str, fallback: str | None, expected: ModelName
) -> None:
    assert resolve_model(provider, model, fallback) == expected


def write_jsonl(path: Path, records_: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records_))
    return path


def generation(n: int, model: str, usage: dict[str, int] | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"obs-{n}",
        "traceId": "trace-1",
        "type": "GENERATION",
        "startTime": "2026-03-02T10:00:00.000Z",
        "endTime": "2026-03-02T10:00:01.000Z",
        "model": model,
        "usageDetails": usage,
        **extra,
    }


def test_a_langfuse_file_mixing_providers_is_read_without_options_and_an_unknown_model_is_quarantined_by_name(
    tmp_path: Path,
) -> None:
    path = write_jsonl(
        tmp_path / "observations.jsonl",
        [
            generation(1, "gpt-4o-2024-08-06", {"input": 100, "output": 20}),
            generation(2, VERTEX, {"input": 50, "output": 5}),
            generation(3, "claude-3-5-haiku-20241022", {"input": 10, "output": 1}),
            generation(4, "our-finetune-7b", {"input": 10, "output": 1}),
            generation(5, "gpt-4o-2024-08-06", {"input": 7, "output": 3}),
        ],
    )
    good, bad = stage(LANGFUSE_OBSERVATIONS, [path])
    assert [(r["_row"], r["provider"], r["model"], r["model_ref"]) for r in good] == [
        (1, "openai", "gpt-4o-2024-08-06", None),
        (2, "google", "gemini-2.5-flash", VERTEX),
        (3, "anthropic", "claude-3-5-haiku-20241022", None),
        (5, "openai", "gpt-4o-2024-08-06", None),
    ]
    assert bad == [
        {
            "file": str(path),
            "row": 4,
            "column": "provider",
            "reason": "provider unknown: the record names none, the source has no option provider and the price "
            "catalog matches none for model our-finetune-7b",
        }
    ]


def test_distinct_model_names_are_resolved_once_each_not_per_call(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple] = []
    real = records.resolve_model

    def counting(provider: str | None, model: str, fallback: str | None) -> ModelName:
        calls.append((provider, model))
        return real(provider, model, fallback)

    monkeypatch.setattr(records, "resolve_model", counting)
    rows = [generation(n, "gpt-4o" if n % 2 else VERTEX, {"input": n, "output": 1}) for n in range(1, 201)]
    good, bad = stage(LANGFUSE_OBSERVATIONS, [write_jsonl(tmp_path / "o.jsonl", rows)])
    assert (len(good), bad) == (200, [])
    assert sorted(calls) == [(None, "gpt-4o"), (None, VERTEX)]


def test_a_litellm_row_without_custom_llm_provider_is_priced_under_the_provider_its_model_names(
    tmp_path: Path,
) -> None:
    row = {
        "request_id": "chatcmpl-1",
        "call_type": "acompletion",
        "model": "claude-3-5-sonnet-latest",
        "startTime": "2026-03-02T10:00:00Z",
        "endTime": "2026-03-02T10:00:02Z",
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "status": "success",
    }
    good, bad = stage(LITELLM_SPENDLOGS, [write_jsonl(tmp_path / "spend.jsonl", [row])])
    assert bad == []
    assert [(r["provider"], r["model"], r["input_tokens"], r["output_tokens"]) for r in good] == [
        ("anthropic", "claude-3-5-sonnet-latest", 1200, 300)
    ]


def run_langfuse(tmp_path: Path, observations: list[dict[str, Any]], options: str = "") -> dict[str, list[dict]]:
    """Land, stage and price one Langfuse file for DAY; the day's staged and priced rows and quarantine."""
    write_jsonl(tmp_path / "observations.jsonl", observations)
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: traces, kind: langfuse_observations, path: observations.jsonl{options}}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAY)
    stage_day(settings, DAY)
    price_day(settings, DAY)
    return {table: staged(settings, table, DAY) for table in ("usage_events", "priced_usage", "quarantine")}


def list_price(model: str, provider: str, **usage: int) -> Decimal:
    return calc_price(Usage(**usage), model_ref=model, provider_id=provider).total_price


def test_calls_without_usage_are_staged_flagged_and_never_priced_as_free(tmp_path: Path) -> None:
    out = run_langfuse(
        tmp_path,
        [
            generation(1, "gpt-4o-mini", {"input": 1000, "output": 200}),
            generation(2, "gpt-4o-mini", {}),
            generation(3, "gpt-4o-mini", {"input": 400}),
            generation(4, "gpt-4o-mini", None),
            generation(5, "gpt-4o-mini", {}, level="ERROR", statusMessage="429"),
        ],
    )
    assert out["quarantine"] == []
    catalog = out["priced_usage"][0]["price_source"]
    assert catalog.startswith("genai-prices")
    assert [(r["x_SourceRow"], r["usage_flag"], r["list_cost"], r["price_source"]) for r in out["priced_usage"]] == [
        (1, None, list_price("gpt-4o-mini", "openai", input_tokens=1000, output_tokens=200), catalog),
        (2, "usage_missing", None, "usage missing: not priced"),
        (3, "usage_partial", list_price("gpt-4o-mini", "openai", input_tokens=400), catalog),
        (4, "usage_missing", None, "usage missing: not priced"),
        (5, None, Decimal(0), catalog),
    ]
    assert out["priced_usage"][0]["list_cost"] == Decimal("0.0002700000")


def test_every_billed_component_is_read_where_each_writer_puts_it(tmp_path: Path) -> None:
    langfuse = write_jsonl(
        tmp_path / "observations.jsonl",
        [generation(1, "o3-mini", {"prompt": 900, "completion": 100, "completion_details.reasoning": 64})],
    )
    (observation,), _ = stage(LANGFUSE_OBSERVATIONS, [langfuse])
    assert (observation["input_tokens"], observation["output_tokens"], observation["reasoning_tokens"]) == (
        900,
        164,
        64,
    )

    usage = {
        "output_tokens_details": {"reasoning_tokens": 40},
        "server_tool_use": {"web_search_requests": 2},
    }
    spend_log = {
        "request_id": "resp_1",
        "call_type": "aresponses",
        "custom_llm_provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "startTime": "2026-03-02T10:00:00Z",
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "metadata": json.dumps({"usage_object": usage}),
    }
    (call,), _ = stage(LITELLM_SPENDLOGS, [write_jsonl(tmp_path / "spend.jsonl", [spend_log])])
    assert (call["reasoning_tokens"], call["web_search_requests"]) == (40, 2)

    traceloop = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "startTimeUnixNano": "1772445600000000000",
                                "endTimeUnixNano": "1772445601000000000",
                                "attributes": [
                                    {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                                    {"key": "llm.request.type", "value": {"stringValue": "embedding"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "text-embedding-3-small"}},
                                    {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "12"}},
                                    {"key": "gen_ai.usage.reasoning_tokens", "value": {"intValue": "0"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    otlp = tmp_path / "spans.jsonl"
    otlp.write_text(json.dumps(traceloop) + "\n")
    (span,), _ = stage(OTLP_JSON, [otlp])
    assert (span["provider"], span["operation"], span["input_tokens"], span["reasoning_tokens"]) == (
        "openai",
        "embeddings",
        12,
        0,
    )


def test_web_searches_are_priced_per_search_at_the_catalog_price(tmp_path: Path) -> None:
    page = {
        "data": [
            {
                "starting_at": "2026-03-02T00:00:00Z",
                "ending_at": "2026-03-03T00:00:00Z",
                "results": [
                    {
                        "uncached_input_tokens": 1000,
                        "cache_read_input_tokens": 0,
                        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                        "output_tokens": 100,
                        "server_tool_use": {"web_search_requests": 3},
                        "model": "claude-sonnet-4-6",
                    }
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    folder = tmp_path / "anthropic" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "messages-0001.json").write_text(json.dumps(page))
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        "sources:\n  - {name: claude, kind: anthropic_usage, path: 'anthropic/{date}'}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAY)
    stage_day(settings, DAY)
    price_day(settings, DAY)
    (row,) = staged(settings, "priced_usage", DAY)
    expected = list_price("claude-sonnet-4-6", "anthropic", input_tokens=1000, output_tokens=100, web_searches=3)
    assert (row["web_search_requests"], row["list_cost"]) == (3, expected)
    assert expected == Decimal("0.0345")  # $0.0045 of tokens and 3 searches at $10 per thousand


def bedrock_record(n: int, model: str) -> dict[str, Any]:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": f"2026-03-02T10:0{n}:00Z",
        "accountId": "123456789012",
        "region": "us-east-1",
        "requestId": f"req-{n}",
        "operation": "Converse",
        "modelId": model,
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [SECRET]},
            "inputTokenCount": 10 * n,
        },
        "output": {"outputContentType": "application/json", "outputTokenCount": n},
    }


SECRET = "a prompt that must not be kept"


def test_a_bedrock_log_saved_as_one_json_array_is_read_one_record_per_element(tmp_path: Path) -> None:
    records_ = [bedrock_record(n, SONNET_35) for n in (1, 2, 3)]
    console = tmp_path / "console-download.json"
    console.write_text(json.dumps(records_, indent=2))
    good, bad = stage(BEDROCK_INVOCATION_LOGS, [console])
    assert bad == []
    assert [(r["_row"], r["request_id"], r["input_tokens"], r["output_tokens"]) for r in good] == [
        (1, "req-1", 10, 1),
        (2, "req-2", 20, 2),
        (3, "req-3", 30, 3),
    ]
    copy = tmp_path / "raw.json"
    BEDROCK_INVOCATION_LOGS.redact(console, copy)  # type: ignore[misc]
    assert SECRET not in copy.read_text()
    assert stage(BEDROCK_INVOCATION_LOGS, [copy])[0] == [{**r, "_file": str(copy)} for r in good]


def test_a_broken_json_array_is_one_unreadable_file_not_a_reject_per_line(tmp_path: Path) -> None:
    broken = tmp_path / "console-download.json"
    broken.write_text(json.dumps([bedrock_record(n, SONNET_35) for n in (1, 2, 3)], indent=2)[:-40])
    con = connect()
    read_files(con, BEDROCK_INVOCATION_LOGS, [broken], {})
    assert con.execute("select count(*) from src_typed").fetchall() == [(0,)]
    ((file, reason),) = con.execute("select * from unreadable").fetchall()
    assert (file, reason.split(":")[0]) == ("console-download.json", "unreadable file")
