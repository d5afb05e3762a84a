"""Prompt and response text never reaches the lake: raw keeps a redacted copy of telemetry that carries it."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest

from assets.config import load_settings
from assets.ingest.otlp import attribute_keys
from assets.ingest.redact import CONTENT_KEYS, UNREADABLE_COPY, redact_otlp_json
from assets.lake import Lake
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_day
from tests.unit.test_ingest_otlp import NEW_STYLE, SECRET, attr, request, span
from tests.unit.test_staging import staged

DAY = date(2026, 3, 2)  # NEW_STYLE starts at 1772445600 s = 2026-03-02T10:00:00Z


def test_redacted_copy_drops_message_content_and_keeps_everything_read(tmp_path: Path) -> None:
    event = {
        "name": "gen_ai.user.message",
        "attributes": [{"key": "gen_ai.prompt.0.content", "value": {"stringValue": SECRET}}],
    }
    source = tmp_path / "spans.jsonl.gz"
    with gzip.open(source, "wt") as handle:
        handle.write(request([NEW_STYLE | {"events": [event]}]) + "\n\n{not json " + SECRET + "\n")
    target = tmp_path / "redacted.jsonl.gz"
    redact_otlp_json(source, target)
    text = gzip.decompress(target.read_bytes()).decode()
    assert SECRET not in text
    first, blank, broken = text.splitlines()
    span = json.loads(first)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    keys = [a["key"] for a in span["attributes"]]
    assert "gen_ai.input.messages" not in keys and "gen_ai.usage.input_tokens" in keys
    assert span["events"][0]["attributes"] == []
    assert blank == "" and broken.startswith("<redacted line that was not JSON")


def test_one_content_key_list_serves_the_redacted_copy_and_the_attribute_option(tmp_path: Path) -> None:
    """Every key the redaction drops, the `attributes` option of otlp_json refuses, and the other way round."""
    keys = [*CONTENT_KEYS, "gen_ai.prompt.0.content", "llm.input_messages.0.message.content", "input.value.text"]
    for key in keys:
        with pytest.raises(ValueError, match="carries message content"):
            attribute_keys({"attributes": {"team": key}})
    assert attribute_keys({"attributes": {"team": "input.values_seen"}})["team"] == ("input.values_seen",)
    content = [attr(key, f"{SECRET} in {key}") for key in keys]
    kept = [attr("app.team", "search"), attr("input.values_seen", 3)]
    link = {"traceId": "00", "spanId": "01", "attributes": content}
    source = tmp_path / "spans.jsonl"
    source.write_text(request([span("0A", content + kept, links=[link])], resource=content + kept) + "\n")
    redact_otlp_json(source, tmp_path / "redacted.jsonl")
    text = (tmp_path / "redacted.jsonl").read_text()
    assert SECRET not in text
    resource_spans = json.loads(text)["resourceSpans"][0]
    copied = resource_spans["scopeSpans"][0]["spans"][0]
    assert copied["attributes"] == kept and resource_spans["resource"]["attributes"] == kept
    assert copied["links"][0]["attributes"] == []


def test_no_prompt_text_anywhere_in_the_lake_after_a_run(tmp_path: Path) -> None:
    (tmp_path / "spans.jsonl").write_text(request([NEW_STYLE]) + "\n")
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n  - {name: otel, kind: otlp_json, path: spans.jsonl}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAY)
    stage_day(settings, DAY)
    lake = Lake(settings.app.lake)
    raw = list(lake.raw_dir("otel").iterdir())
    assert len(raw) == 1 and SECRET.encode() not in raw[0].read_bytes()
    with connect() as con:
        files = [str(p) for p in lake.root.rglob("*.parquet")]
        con.execute(
            "create temp table everything as select * from read_parquet($f, union_by_name = true)", {"f": files}
        )
        columns = [r[0] for r in con.execute("describe everything").fetchall()]
        hits = con.execute(
            "select count(*) from everything where " + " or ".join(f'contains("{c}"::varchar, $s)' for c in columns),
            {"s": "hunter2"},
        ).fetchall()
        staged = con.execute("select count(*) from everything where input_tokens = 1200").fetchall()
    assert hits == [(0,)] and staged == [(1,)]


@pytest.mark.parametrize(
    ("kind", "name", "content"),
    [
        ("litellm_spendlogs", "spend.csv", b"request_id,startTime,messages\nr1,2026-03-02,caf\xe9 " + SECRET.encode()),
        ("langfuse_observations", "obs.parquet", b"PAR1" + SECRET.encode()),
        ("bedrock_invocation_logs", "batch.json.gz", gzip.compress(SECRET.encode() * 50, mtime=0)[:40]),
    ],
    ids=["litellm-latin1-csv", "langfuse-broken-parquet", "bedrock-cut-gzip"],
)
def test_a_log_file_that_cannot_be_read_lands_without_its_bytes_and_is_quarantined_whole(
    tmp_path: Path, kind: str, name: str, content: bytes
) -> None:
    """Found by tests/property/test_parsers_fuzz.py: redacting an unreadable log raised and stopped the whole day."""
    folder = "logs/AWSLogs/1/BedrockModelInvocationLogs/r/2026/03/02/10" if kind.startswith("bedrock") else "logs"
    (tmp_path / folder).mkdir(parents=True)
    (tmp_path / folder / name).write_bytes(content)
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    path = str(tmp_path / "logs") if kind.startswith("bedrock") else f"logs/{name}"
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: logs, kind: {kind}, path: '{path}', options: {{provider: openai}}}}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    land_day(settings, DAY)
    stage_day(settings, DAY)
    (raw,) = Lake(settings.app.lake).raw_dir("logs").iterdir()
    assert raw.read_bytes() == UNREADABLE_COPY
    (log,) = staged(settings, "ingest_log", DAY)
    assert log["unreadable_reason"].startswith("unreadable file: ") and log["rows_read"] == 0
    (row,) = staged(settings, "quarantine", DAY)
    assert (row["source_file"], row["source_row"]) == (raw.name, None)
