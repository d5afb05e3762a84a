"""Bedrock invocation logs fetched from a real S3 peer (moto's server on 127.0.0.1) under the real key layout, landed
in raw and staged: only the day's hour folders, exact token normalisation, dimensions from requestMetadata."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from assets.config import Source, load_settings
from assets.ingest import SOURCE_KINDS
from assets.ingest.bedrock_logs import BEDROCK_INVOCATION_LOGS, fetch_invocation_logs, s3_location
from assets.lake import Lake
from assets.raw import land_day
from assets.staging import stage_day
from tests.unit.test_staging import staged

BUCKET = "bedrock-logs"
ACCOUNT = "123456789012"
DAY = date(2026, 3, 2)
SECRET = "the merger closes on friday"
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"


def folder(region: str, day: date, hour: int) -> str:
    return f"logs/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{region}/{day:%Y/%m/%d}/{hour:02d}/"


def invocation(request_id: str, timestamp: str, **fields: object) -> dict:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": timestamp,
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "requestId": request_id,
        "operation": "Converse",
        "identity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/support-bot/i-0abc"},
        "modelId": PROFILE,
        "requestMetadata": {"team": "support", "feature": "triage", "customer": "acme", "cost.center": "cc-7"},
        "input": {
            "inputContentType": "application/json",
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": SECRET}]}]},
            "inputTokenCount": 1500,
            "cacheReadInputTokenCount": 4000,
            "cacheWriteInputTokenCount": 25037,
        },
        "output": {"outputContentType": "application/json", "outputTokenCount": 500},
        **fields,
    }


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    """The kind in the registry, as `assets/ingest/__init__.py` will list it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(SOURCE_KINDS, BEDROCK_INVOCATION_LOGS.name, BEDROCK_INVOCATION_LOGS)
        yield


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1, with the log objects of 2026-03-02 03h and 17h (two regions)
    and of the next day's 00h, plus what Bedrock also writes there that is not a log batch."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ACCESS_KEY_ID", "testing")
            env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
            env.delenv("AWS_PROFILE", raising=False)
            client = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
            client.create_bucket(Bucket=BUCKET)

            def put(key: str, lines: list[dict | str]) -> None:
                text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
                client.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(text.encode()))

            put(
                folder("us-east-1", DAY, 3) + "20260302T0305Z_a.json.gz",
                [
                    invocation("req-1", "2026-03-02T03:04:59Z"),
                    invocation(
                        "req-2",
                        "2026-03-02T03:05:30.5Z",
                        modelId="amazon.titan-embed-text-v2:0",
                        input={"inputTokenCount": 12},
                        output={},
                        requestMetadata={"team": "search"},
                    ),
                ],
            )
            put(
                folder("eu-west-1", DAY, 17) + "20260302T1710Z_b.json.gz",
                [
                    invocation(
                        "req-3",
                        "2026-03-02T17:09:00Z",
                        modelId="anthropic.claude-3-5-sonnet-20240620-v1:0",
                        input={},
                        output={},
                        errorCode="ThrottlingException",
                    ),
                    "{truncated",
                    invocation("req-4", "2026-03-02T17:09:30Z", output={"outputTokenCount": "many"}),
                ],
            )
            put(folder("eu-west-1", DAY, 17) + "data/large-body.json.gz", [{"body": SECRET}])
            client.put_object(Bucket=BUCKET, Key=folder("eu-west-1", DAY, 17) + "notes.txt", Body=b"not a log")
            put(folder("us-east-1", date(2026, 3, 3), 0) + "20260303T0001Z_c.json.gz", [invocation("req-5", "x")])
            yield endpoint
    finally:
        server.stop()


def source(endpoint: str, **options: object) -> Source:
    return Source(
        name="bedrock",
        kind=BEDROCK_INVOCATION_LOGS.name,
        path=f"s3://{BUCKET}/logs/",
        options={"endpoint_url": endpoint, "region": "us-east-1", **options},
    )


def test_fetch_downloads_the_log_objects_of_the_days_hour_folders_only(s3: str, tmp_path: Path) -> None:
    fetched = fetch_invocation_logs(source(s3), DAY, tmp_path)
    assert [f.origin for f in fetched] == [
        f"s3://{BUCKET}/{folder('eu-west-1', DAY, 17)}20260302T1710Z_b.json.gz",
        f"s3://{BUCKET}/{folder('us-east-1', DAY, 3)}20260302T0305Z_a.json.gz",
    ]
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=s3)
    for item in fetched:
        head = client.head_object(Bucket=BUCKET, Key=item.origin.removeprefix(f"s3://{BUCKET}/"))
        assert item.modified_at == head["LastModified"].astimezone(UTC)
        assert item.path.parent == tmp_path
        assert gzip.decompress(item.path.read_bytes()) == gzip.decompress(
            client.get_object(Bucket=BUCKET, Key=item.origin.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
        )
    (tmp_path / "us").mkdir()
    only_us = fetch_invocation_logs(source(s3, accounts=[ACCOUNT], regions=["us-east-1"]), DAY, tmp_path / "us")
    assert [f.origin.rsplit("/", 1)[1] for f in only_us] == ["20260302T0305Z_a.json.gz"]


def test_landed_logs_keep_no_prompt_text_and_stage_as_usage_events_with_cache_tokens_added_to_input(
    s3: str, tmp_path: Path
) -> None:
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n"
        f"  - name: bedrock\n    kind: bedrock_invocation_logs\n    path: s3://{BUCKET}/logs\n"
        f"    options: {{endpoint_url: '{s3}', region: us-east-1,\n"
        "      fields: {workflow: 'requestMetadata.\"cost.center\"'}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    assert land_day(settings, DAY) == {"bedrock": 2}
    raw = sorted(Lake(settings.app.lake).raw_dir("bedrock").iterdir())
    assert len(raw) == 2 and not any(SECRET.encode() in gzip.decompress(f.read_bytes()) for f in raw)
    stage_day(settings, DAY)
    by_id = {row["request_id"]: row for row in staged(settings, "usage_events", DAY)}
    assert sorted(by_id) == ["req-1", "req-2", "req-3"]
    call = by_id["req-1"]
    assert call["event_time"] == datetime(2026, 3, 2, 3, 4, 59, tzinfo=UTC)
    assert (call["provider"], call["model"], call["operation"], call["status"]) == ("aws", PROFILE, "chat", "ok")
    assert [call[c] for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")] == [
        30537,
        4000,
        25037,
        500,
    ]
    assert call["api_key_id"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/support-bot/i-0abc"
    assert (call["team"], call["feature"], call["customer"], call["workflow"], call["agent"]) == (
        "support",
        "triage",
        "acme",
        "cc-7",
        None,
    )
    embedding = by_id["req-2"]
    assert (embedding["operation"], embedding["input_tokens"], embedding["output_tokens"]) == ("embeddings", 12, None)
    assert (embedding["team"], embedding["feature"]) == ("search", None)
    failed = by_id["req-3"]
    assert (failed["status"], failed["error_type"], failed["input_tokens"]) == ("error", "ThrottlingException", None)
    assert SECRET not in repr(by_id)
    rejected = [(r["source_row"], r["column_name"], r["reason"]) for r in staged(settings, "quarantine", DAY)]
    assert (3, "output_tokens", "not a valid bigint") in rejected
    logs = [(r["rows_read"], r["rows_valid"], r["rows_quarantined"]) for r in staged(settings, "ingest_log", DAY)]
    assert sorted(logs) == [(2, 2, 0), (3, 1, 2)]


@pytest.mark.parametrize("path", ["bedrock-logs/prefix", "s3:///prefix", "https://bucket/prefix"])
def test_a_source_path_must_name_an_s3_bucket(path: str) -> None:
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        s3_location(path)


def test_prefix_of_a_source_path_is_normalised() -> None:
    assert s3_location("s3://bucket") == ("bucket", "")
    assert s3_location("s3://bucket/a/b/") == ("bucket", "a/b/")
