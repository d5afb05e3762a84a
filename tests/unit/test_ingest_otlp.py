"""OTLP JSON GenAI spans (collector file exporter) into `usage_events`: mapping, quirks, rejects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assets.ingest.otlp import OTLP_JSON
from assets.sql import connect
from tests.unit.test_ingest_readers import stage

SECRET = "the customer's password is hunter2"
TRACE = "5B8EFFF798038103D269B633813FC60C"


def attr(key: str, value: Any) -> dict:
    """An OTLP KeyValue; a str for intValue is what the protobuf JSON mapping writes for int64."""
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span(span_id: str, attributes: list[dict], **fields: Any) -> dict:
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": "1772445600000000000",
        "endTimeUnixNano": 1772445601250000000,
        "attributes": attributes,
        "status": {},
        **fields,
    }


def request(spans: list[dict], resource: list[dict] | None = None) -> str:
    scope = {"scope": {"name": "opentelemetry.instrumentation.openai_v2"}, "spans": spans}
    return json.dumps({"resourceSpans": [{"resource": {"attributes": resource or []}, "scopeSpans": [scope]}]})


NEW_STYLE = span(
    "EEE19B7EC3C1B174",
    [
        attr("gen_ai.operation.name", "chat"),
        attr("gen_ai.provider.name", "aws.bedrock"),
        attr("gen_ai.request.model", "claude-sonnet-4-5"),
        attr("gen_ai.response.model", "claude-sonnet-4-5-20250929"),
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
        attr("gen_ai.usage.output_tokens", 300),
        attr("gen_ai.usage.cache_read.input_tokens", 1024),
        attr("gen_ai.usage.cache_creation.input_tokens", 100),
        attr("gen_ai.usage.reasoning.output_tokens", 120.0),
        attr("gen_ai.response.id", "msg_01"),
        attr("gen_ai.agent.name", "planner"),
        attr("app.attempt", 2),
        attr("app.team", "search"),
        attr("gen_ai.input.messages", json.dumps([{"role": "user", "content": SECRET}])),
    ],
    parentSpanId="1111111111111111",
)
OLD_STYLE = span(
    "7uGbfsPBsXQ=",
    [
        attr("gen_ai.system", "az.ai.openai"),
        attr("gen_ai.request.model", "gpt-4o"),
        attr("gen_ai.usage.prompt_tokens", 50),
        attr("gen_ai.usage.completion_tokens", 7),
        attr("error.type", "RateLimitError"),
        attr("enduser.id", "cust-9"),
    ],
    traceId="W47/95gDgQPSabYzgT/GDA==",
    status={"code": 2, "message": "rate limited"},
)
HTTP = span("2222222222222222", [attr("http.request.method", "POST")])


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_genai_spans_become_usage_events_and_other_spans_are_not_records(tmp_path: Path) -> None:
    resource = [attr("service.name", "support-bot"), attr("app.team", "platform"), attr("app.feature", "triage")]
    lines = [request([HTTP, NEW_STYLE], resource), "{not json", request([OLD_STYLE, HTTP])]
    staged, rejected = stage(OTLP_JSON, [path := write(tmp_path / "traces.jsonl", lines)])
    assert rejected == [{"file": str(path), "row": 2, "column": None, "reason": "malformed JSON"}]
    new, old = staged
    assert new["_row"] == 1
    assert new["event_time"] == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert new["latency_ms"] == 1250.0
    assert (new["trace_id"], new["span_id"], new["parent_span_id"]) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "1111111111111111",
    )
    assert (new["provider"], new["model"], new["operation"]) == ("aws", "claude-sonnet-4-5-20250929", "chat")
    assert [new[c] for c in ("input_tokens", "output_tokens", "cache_read_tokens")] == [1200, 300, 1024]
    assert [new[c] for c in ("cache_write_tokens", "reasoning_tokens", "cache_write_1h_tokens")] == [100, 120, None]
    assert (new["request_count"], new["status"], new["error_type"], new["request_id"]) == (1, "ok", None, "msg_01")
    assert (new["attempt"], new["agent"], new["workflow"]) == (2, "planner", None)
    assert (new["team"], new["feature"], new["customer"]) == ("search", "triage", None)
    assert old["_row"] == 3
    assert (old["trace_id"], old["span_id"]) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert (old["provider"], old["model"], old["input_tokens"], old["output_tokens"]) == ("azure", "gpt-4o", 50, 7)
    assert (old["status"], old["error_type"], old["customer"], old["team"]) == (
        "error",
        "RateLimitError",
        "cust-9",
        None,
    )
    assert SECRET not in repr(staged)


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("gcp.vertex_ai", "google"),
        ("gcp.gemini", "google"),
        ("x_ai", "x-ai"),
        ("mistral_ai", "mistral"),
        ("azure.ai.openai", "azure"),
        ("OpenAI", "openai"),
    ],
)
def test_provider_names_are_the_price_catalog_ids(tmp_path: Path, provider: str, expected: str) -> None:
    path = write(tmp_path / "t.jsonl", [request([span("01", [attr("gen_ai.provider.name", provider)])])])
    staged, _ = stage(OTLP_JSON, [path])
    assert staged[0]["provider"] == expected


def test_status_message_is_the_error_type_when_no_error_type_attribute(tmp_path: Path) -> None:
    failed = span("01", [attr("gen_ai.provider.name", "openai")], status={"code": 2, "message": "timeout"})
    staged, _ = stage(OTLP_JSON, [write(tmp_path / "t.jsonl", [request([failed])])])
    assert (staged[0]["status"], staged[0]["error_type"]) == ("error", "timeout")


def test_attribute_option_maps_dimensions_to_the_application_keys(tmp_path: Path) -> None:
    attributes = [attr("gen_ai.operation.name", "embeddings"), attr("gen_ai.system", "openai"), attr("tenant", "acme")]
    resource = [attr("deployment.team", "growth")]
    path = write(tmp_path / "t.jsonl", [request([span("01", attributes)], resource)])
    options = {"attributes": {"team": ["missing.key", "deployment.team"], "customer": "tenant", "agent": []}}
    staged, rejected = stage(OTLP_JSON, [path], options)
    assert rejected == []
    assert (staged[0]["team"], staged[0]["customer"], staged[0]["operation"]) == ("growth", "acme", "embeddings")


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"prompt_hash": ["gen_ai.input.messages"]}, "carries message content"),
        ({"team": ["gen_ai.prompt.0.content"]}, "carries message content"),
        ({"event_time": ["app.time"]}, "not a usage_events column read from attributes"),
        ({"team": [1]}, "expected an attribute key or a list of keys"),
    ],
)
def test_attribute_option_refuses_content_and_span_columns(attributes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OTLP_JSON.read(connect(), [], "raw", {"attributes": attributes})


def test_impossible_token_counts_are_quarantined_by_span(tmp_path: Path) -> None:
    attributes = [
        attr("gen_ai.provider.name", "openai"),
        attr("gen_ai.usage.input_tokens", 10),
        attr("gen_ai.usage.cache_read.input_tokens", 11),
    ]
    negative = [attr("gen_ai.provider.name", "openai"), attr("gen_ai.usage.output_tokens", -5)]
    lines = [request([span("01", attributes), HTTP, span("02", negative)]), "[]"]
    staged, rejected = stage(OTLP_JSON, [path := write(tmp_path / "t.jsonl", lines)])
    assert staged == []
    assert rejected == [
        {
            "file": str(path),
            "row": 1,
            "column": "cache_read_tokens",
            "reason": "cache read + cache write tokens exceed input tokens",
        },
        {"file": str(path), "row": 2, "column": "output_tokens", "reason": "negative count"},
        {"file": str(path), "row": 3, "column": None, "reason": "not a JSON object"},
    ]


def test_a_span_without_start_time_is_quarantined(tmp_path: Path) -> None:
    no_start = span("01", [attr("gen_ai.provider.name", "openai")], startTimeUnixNano=None)
    staged, rejected = stage(OTLP_JSON, [path := write(tmp_path / "t.jsonl", [request([no_start])])])
    assert staged == []
    assert rejected == [{"file": str(path), "row": 1, "column": "event_time", "reason": "required value missing"}]


def test_agent_and_tool_spans_that_wrap_calls_are_not_counted_again(tmp_path: Path) -> None:
    agent = span(
        "AAAAAAAAAAAAAAAA",
        [
            attr("gen_ai.operation.name", "invoke_agent"),
            attr("gen_ai.provider.name", "openai"),
            attr("gen_ai.usage.input_tokens", 1250),
            attr("gen_ai.usage.output_tokens", 307),
        ],
    )
    tool = span("BBBBBBBBBBBBBBBB", [attr("gen_ai.operation.name", "execute_tool"), attr("gen_ai.tool.name", "search")])
    staged, rejected = stage(OTLP_JSON, [write(tmp_path / "t.jsonl", [request([agent, NEW_STYLE, tool])])])
    assert [(r["operation"], r["input_tokens"]) for r in staged] == [("chat", 1200)]
    assert rejected == []
