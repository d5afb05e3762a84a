"""Canonical usage events (`usage_jsonl`, `usage_parquet`) into `usage_events`: typed values and rejects."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assets.ingest.usage_canonical import USAGE_JSONL, USAGE_PARQUET
from assets.sql import connect
from tests.unit.test_ingest_readers import stage

CALL = {
    "event_time": "2026-03-02T10:00:00.250Z",
    "request_id": "req_1",
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "input_tokens": 1500,
    "cache_read_tokens": 1000,
    "cache_write_tokens": 400,
    "cache_write_1h_tokens": 100,
    "output_tokens": 300,
    "reasoning_tokens": "120",
    "request_count": 1,
    "status": "ok",
    "attempt": 2,
    "api_key_id": "007",
    "team": "search",
    "latency_ms": 812.5,
    "prompt_simhash": "18446744073709551615",
}

LINES = [
    json.dumps(CALL),
    '{"event_time": "2026-03-02T10:00:01Z", "provider": "openai",',
    "",
    "[1, 2]",
    '{"event_time": "2026-03-02T10:00:01Z", "provider": "openai", "input_tokens": -3}',
    '{"event_time": "2026-03-02T10:00:02Z", "provider": "openai", "input_tokens": 10, "cache_read_tokens": 8, '
    '"cache_write_tokens": 5}',
    '{"event_time": "2026-03-02 10:00:03", "provider": "openai", "input_tokens": 10.0, "extra": {"a": [1]}}',
]


def write_lines(path: Path, lines: list[str]) -> Path:
    text = "\n".join(lines) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


@pytest.mark.parametrize("name", ["calls.jsonl", "calls.jsonl.gz"])
def test_jsonl_lines_are_staged_or_quarantined_with_their_line_numbers(tmp_path: Path, name: str) -> None:
    path = write_lines(tmp_path / name, LINES)
    staged, rejected = stage(USAGE_JSONL, [path])
    first, last = staged
    assert first["_row"] == 1
    assert first["event_time"] == datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)
    assert (first["request_id"], first["provider"], first["model"]) == ("req_1", "anthropic", "claude-sonnet-4-5")
    assert [first[c] for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens")] == [1500, 1000, 400]
    assert [first[c] for c in ("cache_write_1h_tokens", "output_tokens", "reasoning_tokens")] == [100, 300, 120]
    assert (first["request_count"], first["attempt"], first["api_key_id"], first["team"]) == (1, 2, "007", "search")
    assert (first["latency_ms"], first["prompt_simhash"]) == (812.5, 18446744073709551615)
    assert (first["feature"], first["trace_id"]) == (None, None)
    assert (last["_row"], last["event_time"], last["input_tokens"]) == (
        7,
        datetime(2026, 3, 2, 10, 0, 3, tzinfo=UTC),
        10,
    )
    reasons = [(r["row"], r["column"], r["reason"]) for r in rejected]
    assert reasons == [
        (2, None, "malformed JSON"),
        (4, None, "not a JSON object"),
        (5, "input_tokens", "negative count"),
        (6, "cache_read_tokens", "cache read + cache write tokens exceed input tokens"),
    ]
    assert {r["file"] for r in rejected} == {str(path)}


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        ({"reasoning_tokens": 301}, "reasoning_tokens", "reasoning tokens exceed output tokens"),
        (
            {"cache_write_1h_tokens": 401},
            "cache_write_1h_tokens",
            "1-hour cache write tokens exceed cache write tokens",
        ),
        ({"event_time": None}, "event_time", "required value missing"),
        ({"event_time": "1970-01-01T00:00:00Z"}, "event_time", "timestamp out of range 1990..2200"),
        ({"attempt": "first"}, "attempt", "not a valid integer"),
        ({"attempt": 0}, "attempt", "attempt must be 1 or more (1 = first try)"),
    ],
)
def test_a_broken_call_is_quarantined_with_column_and_reason(
    tmp_path: Path, change: dict, column: str, reason: str
) -> None:
    path = write_lines(tmp_path / "calls.jsonl", [json.dumps(CALL), json.dumps(CALL | change)])
    staged, rejected = stage(USAGE_JSONL, [path])
    assert [r["_row"] for r in staged] == [1]
    assert rejected == [{"file": str(path), "row": 2, "column": column, "reason": reason}]


def test_fields_option_reads_a_column_from_another_key(tmp_path: Path) -> None:
    line = {"event_time": "2026-03-02T10:00:00Z", "provider": "openai", "team": "ignored", "team.name": "growth"}
    path = write_lines(tmp_path / "calls.jsonl", [json.dumps(line)])
    staged, rejected = stage(USAGE_JSONL, [path], {"fields": {"team": "team.name"}})
    assert rejected == []
    assert staged[0]["team"] == "growth"
    with pytest.raises(ValueError, match="not columns of the target schema: teams"):
        stage(USAGE_JSONL, [path], {"fields": {"teams": "team"}})


def test_parquet_usage_keeps_types_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "calls.parquet"
    connect().execute(
        f"""copy (select timestamptz '2026-03-02 10:00:00+00' as event_time, 'openai' as provider,
                  1200::bigint as input_tokens, 1024::integer as cache_read_tokens, '0099' as api_key_id,
                  1.5::double as latency_ms, 'dropped column' as something_else
                  union all
                  select timestamp '2026-03-02 11:00:00', 'openai', -1, 0, null, null, null)
            to '{path}' (format parquet)"""
    )
    staged, rejected = stage(USAGE_PARQUET, [path])
    assert len(staged) == 1
    assert staged[0]["event_time"] == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert (staged[0]["input_tokens"], staged[0]["cache_read_tokens"], staged[0]["api_key_id"]) == (1200, 1024, "0099")
    assert staged[0]["latency_ms"] == 1.5
    assert [(r["column"], r["reason"]) for r in rejected] == [("input_tokens", "negative count")]


def test_each_kind_refuses_files_of_another_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a jsonl file"):
        stage(USAGE_JSONL, [tmp_path / "calls.parquet"])
    with pytest.raises(ValueError, match="expected a parquet file"):
        stage(USAGE_PARQUET, [tmp_path / "calls.jsonl"])
