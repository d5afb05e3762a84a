"""Real Bedrock invocation log records and OTLP spans written by the OpenLIT and OpenLLMetry (Traceloop) SDKs
(tests/fixtures/real, origins in its SOURCES.md), each through `apportion run` for its day: landing, staging,
pricing, allocation, the marts, both FOCUS exports and the insight marts, read back from the warehouse. Tokens are
the records' own; list prices are computed here with genai-prices' `calc_price` and compared with the writer's
own figure where it has one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assets.warehouse import open_warehouse
from pipelines.cli import app
from tests.integration.test_real_usage_samples import REAL, list_price


@dataclass
class Day:
    """What `apportion run` left in the warehouse for one source and day."""

    ingest: list[tuple]  # (rows_read, rows_valid, rows_quarantined) per file
    priced: list[dict]
    quarantined: list[str]
    reconciliation: tuple  # (files, rows_quarantined, source_total, complete)
    telemetry: dict[str, tuple]  # team → (input_tokens, output_tokens, requests) of fact_cost's telemetry rows
    coverage: tuple  # attribution_coverage's (calls, calls_usage_missing, calls_usage_partial) for the team dimension
    focus_rows: tuple  # rows of the FOCUS 1.2 and 1.3 exports


def apportion_run(root: Path, kind: str, path: Path, day: date, options: str = "") -> Day:
    root.mkdir(parents=True, exist_ok=True)
    (root / "allocation.yaml").write_text("rules: []\n")
    config = root / "apportion.yaml"
    config.write_text(
        "warehouse: out/warehouse.duckdb\nlake: out/lake\nallocation: allocation.yaml\nprices: null\n"
        f"sources:\n  - {{name: sample, kind: {kind}, path: '{path}'{options}}}\n"
    )
    done = CliRunner().invoke(app, ["run", "--start", str(day), "--end", str(day), "--config", str(config)])
    assert done.exit_code == 0, done.output

    def rows(con, query: str) -> list[dict]:
        cursor = con.execute(query, {"day": day})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    with open_warehouse(root / "out" / "warehouse.duckdb") as con:
        ingest = con.execute(
            "select rows_read, rows_valid, rows_quarantined from ingest_log where charge_date = $day "
            "order by source_file",
            {"day": day},
        ).fetchall()
        priced = rows(con, "select * from priced_usage where event_date = $day order by x_SourceRow")
        quarantined = [r["reason"] for r in rows(con, "select reason from quarantine where charge_date = $day")]
        (reconciliation,) = con.execute(
            "select files, rows_quarantined, source_total, complete from reconciliation where charge_date = $day",
            {"day": day},
        ).fetchall()
        telemetry = {
            team: tuple(tokens)
            for team, *tokens in con.execute(
                "select team, sum(input_tokens), sum(output_tokens), sum(requests) from fact_cost "
                "where charge_date = $day and allocation_rule = 'telemetry' group by team",
                {"day": day},
            ).fetchall()
        }
        (coverage,) = con.execute(
            "select calls, calls_usage_missing, calls_usage_partial from attribution_coverage "
            "where charge_date = $day and dimension = 'team'",
            {"day": day},
        ).fetchall()
    lake = root / "out" / "lake" / "export"
    with open_warehouse(root / "out" / "warehouse.duckdb") as con:
        focus_rows = tuple(
            con.execute(
                "select count(*) from read_parquet($f)",
                {"f": str(lake / f"focus_{version}" / f"charge_date={day}" / "data.parquet")},
            ).fetchall()[0][0]
            for version in ("1.2", "1.3")
        )
    return Day(ingest, priced, quarantined, reconciliation, telemetry, coverage, focus_rows)


def bedrock_folder(root: Path, fixture: str, account: str, region: str, hour: datetime) -> Path:
    """A local copy of a log bucket's prefix: the fixture's lines as one object in Bedrock's hour folder."""
    folder = root / "logs" / "AWSLogs" / account / "BedrockModelInvocationLogs" / region / f"{hour:%Y/%m/%d/%H}"
    folder.mkdir(parents=True)
    shutil.copy(REAL / "bedrock" / fixture, folder / f"{hour:%Y%m%dT%H%M}Z_sample.json")
    return root / "logs"


def test_bedrock_records_from_greenscales_tests_stage_with_their_counts_and_the_titan_call_is_priced(
    tmp_path: Path,
) -> None:
    hour = datetime(2024, 3, 5, 20, tzinfo=UTC)
    logs = bedrock_folder(tmp_path, "greenscale_invocations.jsonl", "893487256304", "us-west-2", hour)
    out = apportion_run(tmp_path, "bedrock_invocation_logs", logs, hour.date())

    assert out.ingest == [(2, 2, 0)] and out.quarantined == []
    llama, titan = out.priced
    assert [(r["provider"], r["model"], r["operation"], r["status"], r["request_id"]) for r in out.priced] == [
        ("aws", "meta.llama2-13b-chat-v1", "chat", "ok", "7329a13d-94f6-4723-a75b-9cd8c5690664"),
        ("aws", "amazon.titan-text-lite-v1", "chat", "ok", "27451c8c-bb7e-43c0-9c9e-3d964e3a6c6e"),
    ]
    assert [(r["input_tokens"], r["output_tokens"], r["usage_flag"]) for r in out.priced] == [
        (4, 160, None),
        (20, 354, None),
    ]
    assert titan["list_cost"] == list_price(
        titan["model"], "aws", titan["event_time"], input_tokens=20, output_tokens=354
    )
    # greenscale's own figure is 0.0001476 (0.000006 + 0.0001416): Titan Text Lite at its 2024 launch price,
    # twice the catalog's
    assert titan["list_cost"] == Decimal("0.0000738")
    # Llama 2 13B Chat is not in the catalog: staged with its counts, unpriced, never priced as zero
    with pytest.raises(LookupError):
        list_price(llama["model"], "aws", llama["event_time"], input_tokens=4, output_tokens=160)
    assert (llama["list_cost"], llama["catalog_model"]) == (None, None)
    assert out.telemetry == {"unallocated": (24, 514, 2)}
    assert out.coverage == (2, 0, 0)
    assert out.reconciliation == (1, 0, 0, True)
    assert out.focus_rows == (0, 0)  # invocation logs are usage, not charges


def test_the_aws_documentations_invocation_log_example_is_attributed_by_its_request_metadata(
    tmp_path: Path,
) -> None:
    hour = datetime(2024, 9, 11, 17, tzinfo=UTC)
    logs = bedrock_folder(tmp_path, "aws_docs_distillation_example.jsonl", "XXXXX", "us-east-1", hour)
    out = apportion_run(
        tmp_path, "bedrock_invocation_logs", logs, hour.date(), ", options: {fields: {team: requestMetadata.project}}"
    )

    assert out.ingest == [(1, 1, 0)] and out.quarantined == []
    (call,) = out.priced
    assert (call["provider"], call["model"], call["team"], call["api_key_id"]) == (
        "aws",
        "meta.llama3-1-405b-instruct-v1:0",
        "CustomerService",
        "arn:aws:sts::XXXXXXX:assumed-role/Admin/XXXXXX",
    )
    assert (call["input_tokens"], call["output_tokens"], call["usage_flag"]) == (13, 300, None)
    with pytest.raises(LookupError):  # Llama 3.1 405B on Bedrock is not in the catalog
        list_price(call["model"], "aws", call["event_time"], input_tokens=13, output_tokens=300)
    assert call["list_cost"] is None
    assert not any("two dogs" in str(v) for v in call.values())  # the prompt and completion bodies
    assert out.telemetry == {"CustomerService": (13, 300, 1)}
    assert out.coverage == (1, 0, 0)
    assert out.reconciliation == (1, 0, 0, True)


def test_an_openlit_span_is_priced_to_openlits_own_cost(tmp_path: Path) -> None:
    day = date(2025, 1, 28)
    out = apportion_run(tmp_path, "otlp_json", REAL / "otlp" / "openlit_openai_chat.jsonl", day)

    assert out.ingest == [(1, 1, 0)] and out.quarantined == []
    (call,) = out.priced
    assert (call["provider"], call["model"], call["operation"], call["request_id"]) == (
        "openai",
        "gpt-3.5-turbo",
        "chat",
        "chatcmpl-AugxBIoQzz2zFMWFoiyS3Vmm1OuQI",
    )
    assert (call["input_tokens"], call["output_tokens"], call["usage_flag"]) == (14, 96, None)
    expected = list_price("gpt-3.5-turbo", "openai", call["event_time"], input_tokens=14, output_tokens=96)
    assert call["list_cost"] == expected == Decimal("0.000151")  # OpenLIT's own gen_ai.usage.cost: 0.000151
    assert not any("LLM Observability" in str(v) for v in call.values())  # the span's prompt and completion events
    assert out.telemetry == {"unallocated": (14, 96, 1)}
    assert out.coverage == (1, 0, 0)
    assert out.reconciliation == (1, 0, 0, True)
    assert out.focus_rows == (0, 0)


def test_a_traceloop_span_with_legacy_attributes_is_priced_as_its_response_model(tmp_path: Path) -> None:
    day = date(2025, 1, 29)
    out = apportion_run(tmp_path, "otlp_json", REAL / "otlp" / "traceloop_openai_chat.jsonl", day)

    assert out.ingest == [(1, 1, 0)] and out.quarantined == []
    (call,) = out.priced
    # gen_ai.system "OpenAI", the operation from llm.request.type, tokens from gen_ai.usage.prompt/completion_tokens
    assert (call["provider"], call["model"], call["operation"], call["catalog_model"]) == (
        "openai",
        "gpt-3.5-turbo-0125",
        "chat",
        "gpt-3.5-turbo",
    )
    assert (call["input_tokens"], call["output_tokens"], call["usage_flag"]) == (14, 173, None)
    expected = list_price("gpt-3.5-turbo-0125", "openai", call["event_time"], input_tokens=14, output_tokens=173)
    assert call["list_cost"] == expected == Decimal("0.0002665")  # the span carries no cost of its own
    assert not any("LLM Observability" in str(v) for v in call.values())  # gen_ai.prompt.0.content and the reply
    assert out.telemetry == {"unallocated": (14, 173, 1)}
    assert out.coverage == (1, 0, 0)
    assert out.reconciliation == (1, 0, 0, True)
