"""Bedrock invocation logs read from local files into `usage_events` (the S3 fetch is tested against moto in
tests/integration/test_bedrock_logs_s3.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from assets.ingest.bedrock_logs import BEDROCK_INVOCATION_LOGS
from tests.unit.test_ingest_readers import stage


def invocation(request_id: str, **metadata: object) -> dict:
    return {
        "timestamp": "2026-03-02T10:00:00Z",
        "requestId": request_id,
        "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "requestMetadata": {"team": "support", **metadata},
        "input": {"inputTokenCount": 10, "cacheReadInputTokenCount": 5},
        "output": {"outputTokenCount": 3},
    }


def write_log(path: Path, records: list[dict]) -> Path:
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    return path


def test_a_retry_number_passed_in_request_metadata_is_the_attempt(tmp_path: Path) -> None:
    path = write_log(
        tmp_path / "batch.json.gz",
        [
            invocation("r-1"),
            invocation("r-2", attempt=2),
            invocation("r-3", attempt=-1),
            invocation("r-4", attempt="2x"),
        ],
    )
    staged, rejected = stage(BEDROCK_INVOCATION_LOGS, [path], {"fields": {"attempt": "requestMetadata.attempt"}})
    assert [(r["request_id"], r["attempt"], r["input_tokens"]) for r in staged] == [("r-1", None, 15), ("r-2", 2, 15)]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (3, "attempt", "negative count"),
        (4, "attempt", "not a valid integer"),
    ]


def test_without_a_mapping_bedrock_records_have_no_attempt(tmp_path: Path) -> None:
    path = write_log(tmp_path / "batch.json.gz", [invocation("r-1", attempt=2)])
    staged, rejected = stage(BEDROCK_INVOCATION_LOGS, [path])
    assert [(r["request_id"], r["attempt"]) for r in staged] == [("r-1", None)] and rejected == []
