"""Langfuse observation exports (v1 JSON Lines, v2 Parquet) into `usage_events`: which observations are calls,
usageDetails token semantics, configurable dimensions, rejects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.ingest.langfuse import LANGFUSE_OBSERVATIONS
from tests.unit.test_ingest_readers import stage

SECRET = "summarise the patient record of Jane Doe"
OPTIONS = {"provider": "openai"}

OPENAI_CALL = {
    "id": "obs-1",
    "traceId": "trace-1",
    "type": "GENERATION",
    "name": "answer",
    "startTime": "2026-03-02T10:00:00.000Z",
    "endTime": "2026-03-02T10:00:01.500Z",
    "model": "gpt-4o-2024-08-06",
    "parentObservationId": "obs-0",
    "usageDetails": {"input": 176, "input_cached_tokens": 1024, "output": 300, "output_reasoning_tokens": 120},
    "costDetails": {"input": 0.00044, "output": 0.003, "total": 0.00344},
    "calculatedTotalCost": 0.00344,
    "metadata": {"team": "search", "feature": "answers", "agent": "planner"},
    "level": "DEFAULT",
    "input": [{"role": "user", "content": SECRET}],
    "output": {"role": "assistant", "content": SECRET},
}
"""A v1 generation from the OpenAI integration: `input` is the uncached part, the cached part is its own key."""

ANTHROPIC_CALL = {
    **OPENAI_CALL,
    "id": "obs-2",
    "model": "claude-sonnet-4-5",
    "usageDetails": {
        "input": 12,
        "cache_read_input_tokens": 2048,
        "cache_creation_input_tokens": 512,
        "output": 80,
        "total": 2652,
    },
    "metadata": {"team": "support", "ls_provider": "anthropic"},
}
SPAN = {"id": "obs-0", "traceId": "trace-1", "type": "SPAN", "startTime": "2026-03-02T09:59:59.000Z"}
FAILED_EMBEDDING = {
    "id": "obs-3",
    "traceId": "trace-1",
    "type": "EMBEDDING",
    "startTime": "2026-03-02T10:00:02Z",
    "model": "text-embedding-3-small",
    "usageDetails": {"input": 9},
    "level": "ERROR",
    "statusMessage": "RateLimitError",
}


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_generations_and_embeddings_are_calls_with_langfuse_usage_types_summed_into_apportion_tokens(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path / "observations.jsonl", [SPAN, OPENAI_CALL, ANTHROPIC_CALL, FAILED_EMBEDDING])
    staged, rejected = stage(
        LANGFUSE_OBSERVATIONS, [path], {**OPTIONS, "fields": {"provider": ["metadata.ls_provider"]}}
    )
    assert rejected == []
    openai, anthropic, embedding = staged
    assert [r["_row"] for r in staged] == [2, 3, 4]
    assert openai["event_time"] == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert (openai["latency_ms"], openai["operation"], openai["status"]) == (1500.0, "chat", "ok")
    assert (openai["trace_id"], openai["span_id"], openai["parent_span_id"]) == ("trace-1", "obs-1", "obs-0")
    assert (openai["provider"], openai["model"], openai["request_count"]) == ("openai", "gpt-4o-2024-08-06", 1)
    tokens = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
    assert [openai[c] for c in tokens] == [1200, 1024, None, 420, 120]
    assert (openai["team"], openai["feature"], openai["agent"], openai["customer"]) == (
        "search",
        "answers",
        "planner",
        None,
    )
    assert [anthropic[c] for c in tokens] == [2572, 2048, 512, 80, None]
    assert (anthropic["provider"], anthropic["team"]) == ("anthropic", "support")
    assert (embedding["operation"], embedding["status"], embedding["error_type"]) == (
        "embeddings",
        "error",
        "RateLimitError",
    )
    assert (embedding["input_tokens"], embedding["output_tokens"]) == (9, None)
    assert SECRET not in repr(staged)


def test_v2_parquet_export_reads_provided_model_user_and_tags_through_fields(tmp_path: Path) -> None:
    observations = pa.table(
        {
            "id": ["obs-9", "obs-10"],
            "traceId": ["trace-9", "trace-9"],
            "type": ["GENERATION", "AGENT"],
            "startTime": [datetime(2026, 3, 2, 11, 0, tzinfo=UTC)] * 2,
            "endTime": [datetime(2026, 3, 2, 11, 0, 2, tzinfo=UTC)] * 2,
            "providedModelName": ["gemini-2.5-flash", None],
            "userId": ["cust-7", "cust-7"],
            "sessionId": ["session-1", "session-1"],
            "tags": [["team:growth", "env:prod"], []],
            "metadata": [json.dumps({"ls_provider": "google_vertexai"}), None],
            "usageDetails": pa.array(
                [[("input", 700), ("input_cache_read", 300), ("output", 50)], None],
                pa.map_(pa.string(), pa.int64()),
            ),
            "costDetails": pa.array([[("total", "0.0012")], None], pa.map_(pa.string(), pa.string())),
        }
    )
    path = tmp_path / "observations.parquet"
    pq.write_table(observations, path)
    options = {"fields": {"provider": "metadata.ls_provider", "team": "tags[team:*]", "workflow": "sessionId"}}
    ((row,), rejected) = stage(LANGFUSE_OBSERVATIONS, [path], options)
    assert rejected == []
    assert (row["_row"], row["provider"], row["model"], row["customer"]) == (1, "google", "gemini-2.5-flash", "cust-7")
    assert (row["team"], row["workflow"], row["latency_ms"]) == ("growth", "session-1", 2000.0)
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (1000, 300, 50)


def test_broken_observations_are_quarantined_naming_file_row_and_column(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "observations.jsonl",
        [
            "{broken",
            {**OPENAI_CALL, "type": None},
            {**OPENAI_CALL, "usageDetails": {"input": "many"}},
            {**OPENAI_CALL, "usageDetails": [1, 2]},
            {**OPENAI_CALL, "startTime": "soon"},
            OPENAI_CALL,
        ],
    )
    staged, rejected = stage(LANGFUSE_OBSERVATIONS, [path], OPTIONS)
    assert [r["_row"] for r in staged] == [6]
    assert rejected == [
        {"file": str(path), "row": 1, "column": None, "reason": "malformed JSON"},
        {"file": str(path), "row": 2, "column": "type", "reason": "observation type missing"},
        {"file": str(path), "row": 3, "column": "input_tokens", "reason": "not a valid bigint"},
        {"file": str(path), "row": 4, "column": "input_tokens", "reason": "not a valid bigint"},
        {"file": str(path), "row": 5, "column": "event_time", "reason": "not a valid timestamptz"},
    ]


def test_metadata_that_is_not_json_in_a_parquet_export_is_rejected_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "observations.parquet"
    pq.write_table(
        pa.table({"type": ["GENERATION"], "startTime": ["2026-03-02T10:00:00Z"], "metadata": ["team=search"]}), path
    )
    assert stage(LANGFUSE_OBSERVATIONS, [path], OPTIONS) == (
        [],
        [{"file": str(path), "row": 1, "column": "metadata", "reason": "malformed JSON in metadata"}],
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"provider": " "}, "options.provider: expected a provider id"),
        ({"provider": "openai", "fields": {"team": "input.role"}}, "input.role reads message content"),
    ],
)
def test_options_are_checked_before_anything_is_read(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LANGFUSE_OBSERVATIONS.read(None, [tmp_path / "never-opened.jsonl"], "raw", options)  # type: ignore[arg-type]


def test_the_raw_copy_drops_input_and_output_and_stages_exactly_as_the_delivered_file(tmp_path: Path) -> None:
    delivered = write_jsonl(tmp_path / "observations.jsonl", [SPAN, OPENAI_CALL, "[" + SECRET, FAILED_EMBEDDING])
    copy = tmp_path / "raw.jsonl"
    LANGFUSE_OBSERVATIONS.redact(delivered, copy)  # type: ignore[misc]
    assert SECRET not in copy.read_text()
    assert json.loads(copy.read_text().splitlines()[1]) == {
        k: v for k, v in OPENAI_CALL.items() if k not in ("input", "output")
    }
    staged, rejected = stage(LANGFUSE_OBSERVATIONS, [delivered], OPTIONS)
    staged_copy, rejected_copy = stage(LANGFUSE_OBSERVATIONS, [copy], OPTIONS)
    assert [{**r, "_file": None} for r in staged_copy] == [{**r, "_file": None} for r in staged]
    assert [r["row"] for r in rejected_copy] == [r["row"] for r in rejected] == [3]


def test_an_attempt_in_metadata_is_read_through_fields_and_must_be_a_whole_number_from_one(tmp_path: Path) -> None:
    attempts = [2, "3", 1.0, None, 0, 1.5, "again"]
    path = write_jsonl(
        tmp_path / "observations.jsonl",
        [{**OPENAI_CALL, "metadata": {**OPENAI_CALL["metadata"], "attempt": a}} for a in attempts],
    )
    staged, rejected = stage(LANGFUSE_OBSERVATIONS, [path], {**OPTIONS, "fields": {"attempt": "metadata.attempt"}})
    assert [(r["_row"], r["attempt"]) for r in staged] == [(1, 2), (2, 3), (3, 1), (4, None)]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (5, "attempt", "attempt must be 1 or more (1 = first try)"),
        (6, "attempt", "not a valid integer"),
        (7, "attempt", "not a valid integer"),
    ]
