"""LiteLLM SpendLogs exports (CSV, JSON Lines, Parquet) into `usage_events`: token semantics, field paths, rejects."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets.ingest.litellm import LITELLM_SPENDLOGS
from assets.ingest.records import FieldPath, configured_paths, parse_path
from tests.unit.test_ingest_readers import stage

SECRET = "my card number is 4111"

USAGE_OBJECT = {
    "prompt_tokens": 98805,
    "completion_tokens": 5120,
    "prompt_tokens_details": {
        "cached_tokens": 66360,
        "cache_creation_tokens": 32435,
        "cache_creation_token_details": {"ephemeral_5m_input_tokens": 30435, "ephemeral_1h_input_tokens": 2000},
    },
    "cache_read_input_tokens": 66360,
    "cache_creation_input_tokens": 32435,
    "completion_tokens_details": {"reasoning_tokens": 1710},
}

CALL = {
    "request_id": "chatcmpl-1",
    "call_type": "acompletion",
    "api_key": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
    "spend": 0.4321,
    "total_tokens": 103925,
    "prompt_tokens": 98805,
    "completion_tokens": 5120,
    "startTime": "2026-03-02 10:00:00.250",
    "endTime": "2026-03-02 10:00:03.750",
    "model": "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0",
    "model_group": "claude-sonnet",
    "custom_llm_provider": "bedrock",
    "user": "u-7",
    "team_id": None,
    "end_user": "cust-42",
    "status": "success",
    "cache_hit": "False",
    "messages": json.dumps([{"role": "user", "content": SECRET}]),
    "request_tags": json.dumps(["env:prod", "agent:planner"]),
    "metadata": json.dumps(
        {
            "usage_object": USAGE_OBJECT,
            "user_api_key_team_id": None,
            "user_api_key_team_alias": "search",
            "spend_logs_metadata": {"feature": "answers", "cost.center": "cc-9"},
            "attempted_retries": 2,
        }
    ),
}
"""One Anthropic-on-Bedrock call through the proxy, as a Postgres CSV export writes it (timestamps without zone,
JSON columns as text)."""

FAILED = {
    **CALL,
    "request_id": "chatcmpl-2",
    "call_type": "aembedding",
    "model": "openai/text-embedding-3-small",
    "custom_llm_provider": None,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "status": "failure",
    "team_id": "team-uuid-1",
    "request_tags": "[]",
    "metadata": json.dumps({"error_information": {"error_class": "RateLimitError", "error_message": SECRET}}),
}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    """JSON Lines as an export of the table writes it: JSON columns as JSON values, not text."""
    decoded = [
        {**r, "metadata": json.loads(r["metadata"]), "request_tags": json.loads(r["request_tags"])} for r in rows
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in decoded))
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = {name: [r[name] for r in rows] for name in rows[0]}
    columns["startTime"] = [datetime.fromisoformat(t) for t in columns["startTime"]]
    columns["endTime"] = [datetime.fromisoformat(t) for t in columns["endTime"]]
    pq.write_table(pa.table(columns), path)
    return path


def test_spend_logs_csv_keeps_prompt_tokens_as_input_and_reads_cache_parts_from_the_usage_object(
    tmp_path: Path,
) -> None:
    staged, rejected = stage(LITELLM_SPENDLOGS, [write_csv(tmp_path / "spend.csv", [CALL, FAILED])])
    assert rejected == []
    call, failed = staged
    assert call["event_time"] == datetime(2026, 3, 2, 10, 0, 0, 250000, tzinfo=UTC)
    assert call["latency_ms"] == 3500.0
    assert (call["request_id"], call["provider"], call["model"], call["operation"]) == (
        "chatcmpl-1",
        "aws",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "chat",
    )
    tokens = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")
    assert [call[c] for c in tokens] == [98805, 66360, 32435, 2000, 5120]
    assert (call["reasoning_tokens"], call["request_count"]) == (1710, 1)
    assert (call["status"], call["error_type"], call["attempt"]) == ("ok", None, 3)
    assert call["api_key_id"] == CALL["api_key"]
    assert (call["team"], call["customer"], call["feature"], call["agent"]) == ("search", "cust-42", "answers", None)
    # no custom_llm_provider: a known provider prefix of the model names it, and is stripped
    assert (failed["provider"], failed["model"], failed["operation"]) == (
        "openai",
        "text-embedding-3-small",
        "embeddings",
    )
    assert (failed["status"], failed["error_type"], failed["attempt"], failed["team"]) == (
        "error",
        "RateLimitError",
        None,
        "team-uuid-1",
    )
    assert SECRET not in repr(staged)


def test_json_lines_and_parquet_exports_stage_the_same_calls_as_csv(tmp_path: Path) -> None:
    rows = [CALL, FAILED]
    files = [
        write_csv(tmp_path / "spend.csv", rows),
        write_jsonl(tmp_path / "spend.jsonl", rows),
        write_parquet(tmp_path / "spend.parquet", rows),
    ]
    staged, rejected = stage(LITELLM_SPENDLOGS, files)
    assert rejected == []
    by_file = {}
    for row in staged:
        by_file.setdefault(Path(row.pop("_file")).suffix, []).append(row)
    assert by_file[".jsonl"] == by_file[".csv"]
    assert by_file[".parquet"] == by_file[".csv"]


def test_fields_take_dimensions_from_spend_logs_metadata_and_request_tags(tmp_path: Path) -> None:
    options = {
        "fields": {
            "agent": "request_tags[agent:*]",
            "workflow": "request_tags[workflow:*]",
            "customer": ['metadata.spend_logs_metadata."cost.center"', "end_user"],
            "team": ["team_id", "metadata.user_api_key_team_alias"],
        }
    }
    (call, failed), rejected = stage(LITELLM_SPENDLOGS, [write_csv(tmp_path / "spend.csv", [CALL, FAILED])], options)
    assert rejected == []
    assert (call["agent"], call["workflow"], call["customer"], call["team"]) == ("planner", None, "cc-9", "search")
    assert (failed["agent"], failed["customer"], failed["team"]) == (None, "cust-42", "team-uuid-1")
    assert call["feature"] == "answers"  # a column not in fields keeps its default


def test_a_proxy_cache_hit_is_kept_but_has_no_provider_tokens_and_no_request(tmp_path: Path) -> None:
    hit = {**CALL, "request_id": "chatcmpl-3", "cache_hit": "True", "spend": 0}
    ((row,), rejected) = stage(LITELLM_SPENDLOGS, [write_csv(tmp_path / "spend.csv", [hit])])
    assert rejected == []
    assert [row[c] for c in ("input_tokens", "cache_read_tokens", "output_tokens", "request_count")] == [0, 0, 0, 0]
    assert (row["request_id"], row["team"]) == ("chatcmpl-3", "search")


def test_malformed_records_are_quarantined_naming_file_row_and_column(tmp_path: Path) -> None:
    rows = [
        {**CALL, "metadata": "{not json"},
        {**CALL, "prompt_tokens": "12x"},
        {**CALL, "startTime": ""},
        {**CALL, "prompt_tokens": 100},
        {**CALL, "metadata": json.dumps({"attempted_retries": "twice"})},
        CALL,
    ]
    path = write_csv(tmp_path / "spend.csv", rows)
    staged, rejected = stage(LITELLM_SPENDLOGS, [path])
    assert [r["_row"] for r in staged] == [6]
    assert rejected == [
        {"file": str(path), "row": 1, "column": "metadata", "reason": "malformed JSON in metadata"},
        {"file": str(path), "row": 2, "column": "input_tokens", "reason": "not a valid bigint"},
        {"file": str(path), "row": 3, "column": "event_time", "reason": "required value missing"},
        {
            "file": str(path),
            "row": 4,
            "column": "cache_read_tokens",
            "reason": "cache read + cache write tokens exceed input tokens",
        },
        {"file": str(path), "row": 5, "column": "attempt", "reason": "not a valid integer"},
    ]


def test_a_file_without_a_start_time_column_has_every_row_rejected_naming_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "spend.csv", [{k: v for k, v in CALL.items() if k != "startTime"}])
    assert stage(LITELLM_SPENDLOGS, [path]) == (
        [],
        [{"file": str(path), "row": 1, "column": "startTime", "reason": "required column missing from file"}],
    )


@pytest.mark.parametrize(
    ("text", "field", "keys", "prefix"),
    [
        ("team_id", "team_id", (), None),
        ("metadata.spend_logs_metadata.feature", "metadata", ("spend_logs_metadata", "feature"), None),
        ('requestMetadata."cost.center"', "requestMetadata", ("cost.center",), None),
        ('metadata."say ""hi"""', "metadata", ('say "hi"',), None),
        ("request_tags[agent:*]", "request_tags", (), "agent:"),
        ("metadata.tags[*]", "metadata", ("tags",), ""),
    ],
)
def test_field_paths_parse_keys_quoted_keys_and_prefix_picks(
    text: str, field: str, keys: tuple[str, ...], prefix: str | None
) -> None:
    assert parse_path(text) == FieldPath(text, field, keys, prefix)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cost": "spend"}, "'cost' is not a column set from a path"),
        ({"status": "status"}, "'status' is not a column set from a path"),
        ({"team": "metadata..team"}, "options.fields.team: 'metadata..team' is not a field path"),
        ({"team": "metadata.team[x]"}, "is not a field path"),
        ({"team": "meta data"}, "is not a field path"),
        ({"team": []}, "expected a path or a non-empty list of paths"),
        ({"team": 7}, "expected a path or a non-empty list of paths"),
        ({"feature": "messages"}, "options.fields.feature: messages reads message content"),
        ({"feature": ["team_id", "metadata.proxy_server_request.body"]}, "reads message content"),
        ({"feature": "metadata"}, "options.fields.feature: metadata reads message content"),
    ],
)
def test_fields_are_checked_before_anything_is_read(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        configured_paths({"fields": fields}, {}, (("messages",), ("metadata", "proxy_server_request")))


def test_the_raw_copy_has_no_prompt_text_and_stages_exactly_as_the_delivered_file(tmp_path: Path) -> None:
    text_metadata = {**CALL, "metadata": json.dumps({"proxy_server_request": {"messages": SECRET}})}
    delivered = [
        write_csv(tmp_path / "spend.csv", [CALL, FAILED]),
        write_parquet(tmp_path / "spend.parquet", [CALL, FAILED]),
        write_jsonl(tmp_path / "spend.jsonl", [CALL, FAILED, text_metadata]),
    ]
    with (tmp_path / "spend.jsonl").open("a") as jsonl:
        jsonl.write(json.dumps(text_metadata) + "\n\n{" + SECRET + "\n")  # metadata as a JSON string, blank, broken
    copies = []
    for path in delivered:
        copy = tmp_path / "raw" / path.name
        copy.parent.mkdir(exist_ok=True)
        LITELLM_SPENDLOGS.redact(path, copy)  # type: ignore[misc]
        copies.append(copy)
    assert SECRET.encode() in (tmp_path / "spend.jsonl").read_bytes()
    assert not any(SECRET.encode() in copy.read_bytes() for copy in copies)
    assert SECRET not in repr(pq.read_table(copies[1]).to_pylist())

    def without_file(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("_file", "file")} for r in rows]

    staged, rejected = stage(LITELLM_SPENDLOGS, delivered)
    staged_copy, rejected_copy = stage(LITELLM_SPENDLOGS, copies)
    assert without_file(staged_copy) == without_file(staged)
    assert (
        without_file(rejected_copy)
        == without_file(rejected)
        == [{"row": 6, "column": None, "reason": "malformed JSON"}]
    )


def test_an_attempt_path_in_fields_replaces_the_attempted_retries(tmp_path: Path) -> None:
    call = {**CALL, "metadata": json.dumps({**json.loads(CALL["metadata"]), "try": 3})}
    path = write_csv(tmp_path / "spend.csv", [CALL, call])
    default, _ = stage(LITELLM_SPENDLOGS, [path])
    mapped, rejected = stage(LITELLM_SPENDLOGS, [path], {"fields": {"attempt": "metadata.try"}})
    assert [r["attempt"] for r in default] == [3, 3] and rejected == []
    assert [r["attempt"] for r in mapped] == [None, 3]
