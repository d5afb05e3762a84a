"""Every source kind, fed a valid small file that hypothesis then breaks (values of the wrong type, huge, negative
or not finite; fields dropped, renamed, added or reordered; records duplicated or removed; a file cut short, a BOM,
Latin-1 bytes, CRLF line ends, a gzip cut short), is landed and staged for a day and never crashes, never loses or
invents a row, and names file, row and column of what it rejects (`fuzz_harness.stage_and_check`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets.config import Settings
from assets.ingest import SOURCE_KINDS
from assets.ingest.azure_export import data_rows
from tests.integration.test_vendor_admin_apis import (
    ANTHROPIC_COSTS_PAGE,
    ANTHROPIC_USAGE_2,
    OPENAI_COMPLETIONS,
    OPENAI_COSTS_1,
)
from tests.property.fuzz_harness import (
    Case,
    mutated_file,
    settings_for,
    stage_and_check,
    write_case_file,
)
from tests.unit.test_aws_cur_mapping import CUR2_SCHEMA, cur2_row, legacy_line
from tests.unit.test_azure_export import EA_ACTUAL
from tests.unit.test_gcp_mapping import ROWS as GCP_ROWS
from tests.unit.test_ingest_invoices import HEADER as INVOICE_HEADER
from tests.unit.test_ingest_langfuse import ANTHROPIC_CALL, FAILED_EMBEDDING, OPENAI_CALL
from tests.unit.test_ingest_litellm import CALL as LITELLM_CALL
from tests.unit.test_ingest_litellm import FAILED as LITELLM_FAILED
from tests.unit.test_ingest_otlp import NEW_STYLE, OLD_STYLE
from tests.unit.test_ingest_otlp import request as otlp_request

EXAMPLES = 20

FOCUS_ROWS = [
    {
        "BilledCost": "1.5000000001",
        "EffectiveCost": "1.25",
        "ListCost": "2.00",
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ChargePeriodStart": "2026-11-01T00:00:00Z",
        "ChargePeriodEnd": "2026-11-02T00:00:00Z",
        "ServiceName": "Amazon Bedrock",
        "SubAccountId": "011111111111",
        "Tags": '{"team": "search"}',
        "x_Model": "claude-sonnet-4-5",
    },
    {
        "BilledCost": "-0.50",
        "EffectiveCost": "-0.50",
        "ListCost": None,
        "BillingCurrency": "USD",
        "ChargeCategory": "Credit",
        "ChargePeriodStart": "2026-11-01 00:00:00",
        "ChargePeriodEnd": "2026-12-01T00:00:00Z",
        "ServiceName": "Support",
        "SubAccountId": "011111111111",
        "Tags": None,
        "x_Model": None,
    },
]

USAGE_CALLS = [
    {
        "event_time": "2026-11-01T10:00:00.250Z",
        "request_id": "req_1",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "input_tokens": 1500,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 400,
        "output_tokens": 300,
        "reasoning_tokens": 120,
        "request_count": 1,
        "attempt": 2,
        "team": "search",
        "latency_ms": 812.5,
        "prompt_simhash": "18446744073709551615",
    },
    {"event_time": "2026-11-01 11:00:00", "provider": "openai", "model": "gpt-4o", "input_tokens": 10},
]

METRICS = [
    {"metric_time": "2026-11-01 00:00:00", "metric": "gpu_seconds", "quantity": "3600.125", "unit": "s", "team": "ml"},
    {"metric_time": "2026-11-01T01:00:00Z", "metric": "vector_queries", "quantity": "-1", "unit": "q", "team": None},
]

INVOICES = [
    dict(zip(INVOICE_HEADER.split(","), values, strict=True))
    for values in (
        [
            "Pinecone",
            "INV-1",
            "2026-11-01",
            "2026-11-30",
            "Read units",
            "1234.5678901234",
            "usd",
            "RU",
            "25",
            "ru",
            "team=search",
            "vector_db",
        ],
        ["Scale AI", "S-1", "2026-11-01", "2026-11-01", "Review", "-20.00", "USD", "", "", "", "", ""],
    )
]

BEDROCK_CALLS = [
    {
        "timestamp": "2026-03-02T10:00:00Z",
        "requestId": "r-1",
        "identity": {"arn": "arn:aws:sts::111122223333:assumed-role/bot/i-1"},
        "modelId": "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "requestMetadata": {"team": "support", "feature": "triage"},
        "input": {
            "inputBodyJson": {"messages": []},
            "inputTokenCount": 1500,
            "cacheReadInputTokenCount": 4000,
            "cacheWriteInputTokenCount": 25,
        },
        "output": {"outputBodyJson": {}, "outputTokenCount": 500},
    },
    {
        "timestamp": "2026-03-02T10:00:01Z",
        "requestId": "r-2",
        "modelId": "amazon.titan-embed-text-v2:0",
        "errorCode": "ThrottlingException",
        "input": {"inputTokenCount": 0},
    },
]
BEDROCK_FOLDER = "AWSLogs/111122223333/BedrockModelInvocationLogs/us-east-1/2026/03/02/10"


def cur2_text_row(**columns: Any) -> dict[str, Any]:
    """A CUR 2.0 line as its CSV export writes it: maps as JSON text, timestamps in ISO 8601."""
    row = cur2_row(**columns)
    return {
        k: json.dumps(dict(v))
        if isinstance(v, list)
        else v.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(v, datetime)
        else v
        for k, v in row.items()
    }


def cur2_manifest(folder: str) -> Any:
    """`layout` of a local AWS export `<root>/export`: the billing period's manifest listing the data file."""

    def write(root: Path, data: Path) -> None:
        key = data.relative_to(root / "export").as_posix()
        if folder == "data":
            manifest = root / "export/metadata/BILLING_PERIOD=2025-01/export-Manifest.json"
            content = {"dataFiles": [f"s3://bucket/cur/export/{key}"]}
        else:
            manifest = root / f"export/{folder}/export-Manifest.json"
            content = {"reportKeys": [f"cur/export/{key}"]}
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(content))

    return write


def azure_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(EA_ACTUAL.lstrip("\ufeff").splitlines()))


def azure_manifest(root: Path, data: Path) -> None:
    """`layout` of a local Azure export `<root>/export`: the run's manifest with the blob's bytes and rows."""
    blob = data.relative_to(root).as_posix()
    rows = data_rows(data) or 0
    manifest = {"blobs": [{"blobName": f"cost/{blob}", "byteCount": data.stat().st_size, "dataRowCount": rows}]}
    (data.parent / "manifest.json").write_text(json.dumps(manifest))


def litellm_jsonl() -> list[dict]:
    return [
        {**r, "metadata": json.loads(r["metadata"]), "request_tags": json.loads(r["request_tags"])}
        for r in (LITELLM_CALL, LITELLM_FAILED)
    ]


def otlp_requests() -> list[dict]:
    return [json.loads(otlp_request([NEW_STYLE, OLD_STYLE]))]


def otlp_spans(document: list[dict]) -> list:
    return document[0]["resourceSpans"][0]["scopeSpans"][0]["spans"]


def page_results(document: dict) -> list:
    return document["data"][0]["results"]


NOV_1, MAR_2, CUR_DAY = date(2026, 11, 1), date(2026, 3, 2), date(2025, 1, 15)
LITELLM = {"day": MAR_2, "document": lambda: [dict(LITELLM_CALL), dict(LITELLM_FAILED)]}
LANGFUSE = {
    "day": MAR_2,
    "document": lambda: json.loads(json.dumps([OPENAI_CALL, ANTHROPIC_CALL, FAILED_EMBEDDING])),
    "options": {"provider": "openai"},
}
CASES = [
    Case("focus-csv", "focus", "csv", NOV_1, lambda: [dict(r) for r in FOCUS_ROWS], "src/{date}/bill.csv"),
    Case("focus-csv-gz", "focus", "csv.gz", NOV_1, lambda: [dict(r) for r in FOCUS_ROWS], "src/{date}/bill.csv.gz"),
    Case("focus-parquet", "focus", "parquet", NOV_1, lambda: [dict(r) for r in FOCUS_ROWS], "src/{date}/b.parquet"),
    Case(
        "usage-jsonl",
        "usage_jsonl",
        "jsonl",
        NOV_1,
        lambda: [dict(r) for r in USAGE_CALLS],
        "src/{date}/c.jsonl",
        line_records=True,
    ),
    Case(
        "usage-jsonl-gz",
        "usage_jsonl",
        "jsonl.gz",
        NOV_1,
        lambda: [dict(r) for r in USAGE_CALLS],
        "src/{date}/c.jsonl.gz",
        line_records=True,
    ),
    Case(
        "usage-parquet",
        "usage_parquet",
        "parquet",
        NOV_1,
        lambda: [dict(r) for r in USAGE_CALLS],
        "src/{date}/c.parquet",
    ),
    Case("usage-metrics-csv", "usage_metrics", "csv", NOV_1, lambda: [dict(r) for r in METRICS], "src/{date}/m.csv"),
    Case("otlp-json", "otlp_json", "jsonl", MAR_2, otlp_requests, "src/{date}/spans.jsonl", records=otlp_spans),
    Case(
        "aws-cur2-parquet",
        "aws_cur",
        "parquet",
        CUR_DAY,
        lambda: [
            {"identity_line_item_id": "li-0"} | cur2_row(),
            cur2_row(line_item_line_item_type="Credit", line_item_unblended_cost=-0.5),
        ],
        "export/data/BILLING_PERIOD=2025-01/part-0.parquet",
        path="{root}/export",
        schema=CUR2_SCHEMA,
        layout=cur2_manifest("data"),
    ),
    Case(
        "aws-cur2-csv-gz",
        "aws_cur",
        "csv.gz",
        CUR_DAY,
        lambda: [cur2_text_row(), cur2_text_row()],
        "export/data/BILLING_PERIOD=2025-01/part-0.csv.gz",
        path="{root}/export",
        layout=cur2_manifest("data"),
    ),
    Case(
        "aws-legacy-csv-gz",
        "aws_cur",
        "csv.gz",
        CUR_DAY,
        lambda: [{"identity/LineItemId": "li-0"} | legacy_line(), legacy_line(**{"lineItem/UnblendedCost": "-1"})],
        "export/20250101-20250201/asm/export-1.csv.gz",
        path="{root}/export",
        layout=cur2_manifest("20250101-20250201"),
    ),
    Case(
        "azure-export-csv",
        "azure_export",
        "csv",
        date(2023, 9, 21),
        azure_rows,
        "export/20230901-20230930/202309230600/run-1/part_0_0001.csv",
        path="{root}/export",
        layout=azure_manifest,
    ),
    Case(
        "gcp-jsonl",
        "gcp_billing_file",
        "jsonl",
        date(2026, 11, 3),
        lambda: json.loads(json.dumps(GCP_ROWS[:3])),
        "src/{date}/export.jsonl",
        line_records=True,
    ),
    Case(
        "gcp-parquet",
        "gcp_billing_file",
        "parquet",
        date(2026, 11, 3),
        lambda: json.loads(json.dumps(GCP_ROWS[:3])),
        "src/{date}/export.parquet",
    ),
    Case(
        "openai-costs",
        "openai_costs",
        "json",
        NOV_1,
        lambda: json.loads(OPENAI_COSTS_1),
        "src/{date}/costs-0001.json",
        path="src/{date}",
        records=page_results,
    ),
    Case(
        "openai-usage",
        "openai_usage",
        "json",
        NOV_1,
        lambda: json.loads(OPENAI_COMPLETIONS),
        "src/{date}/completions-0001.json",
        path="src/{date}",
        records=page_results,
    ),
    Case(
        "anthropic-costs",
        "anthropic_costs",
        "json",
        NOV_1,
        lambda: json.loads(ANTHROPIC_COSTS_PAGE),
        "src/{date}/cost_report-0001.json",
        path="src/{date}",
        records=page_results,
    ),
    Case(
        "anthropic-usage",
        "anthropic_usage",
        "json",
        NOV_1,
        lambda: json.loads(ANTHROPIC_USAGE_2),
        "src/{date}/messages-0001.json",
        path="src/{date}",
        records=page_results,
    ),
    Case("litellm-csv", "litellm_spendlogs", "csv", file="src/{date}/spend.csv", **LITELLM),
    Case(
        "litellm-jsonl", "litellm_spendlogs", "jsonl", MAR_2, litellm_jsonl, "src/{date}/spend.jsonl", line_records=True
    ),
    Case("litellm-parquet", "litellm_spendlogs", "parquet", file="src/{date}/spend.parquet", **LITELLM),
    Case("langfuse-jsonl", "langfuse_observations", "jsonl", file="src/{date}/obs.jsonl", **LANGFUSE),
    Case("langfuse-parquet", "langfuse_observations", "parquet", file="src/{date}/obs.parquet", **LANGFUSE),
    Case(
        "bedrock-json-gz",
        "bedrock_invocation_logs",
        "jsonl.gz",
        MAR_2,
        lambda: json.loads(json.dumps(BEDROCK_CALLS)),
        f"logs/{BEDROCK_FOLDER}/batch-1.json.gz",
        path="{root}/logs",
        line_records=True,
    ),
    Case("invoices-csv", "invoice_lines", "csv", NOV_1, lambda: [dict(r) for r in INVOICES], "src/inv.csv"),
    Case("invoices-parquet", "invoice_lines", "parquet", NOV_1, lambda: [dict(r) for r in INVOICES], "src/inv.parquet"),
]


def test_every_source_kind_with_files_has_a_fuzz_case() -> None:
    api_only = {"azure_cost_query", "gcp_bigquery"}
    assert {c.kind for c in CASES} == set(SOURCE_KINDS) - api_only


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], tuple[Case, Path, Settings]]:
    """One folder, lake and config per case, reused by all its examples (each re-lands and re-stages the day)."""
    made: dict[str, tuple[Case, Path, Settings]] = {}

    def prepare(case: Case) -> tuple[Case, Path, Settings]:
        if case.id not in made:
            root = tmp_path_factory.mktemp(case.id)
            if case.path and "{root}" in case.path:
                case = replace(case, path=case.path.replace("{root}", str(root)))
            made[case.id] = (case, root, settings_for(case, root))
        return made[case.id]

    return prepare


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_a_broken_file_is_staged_or_quarantined_and_nothing_is_lost(case: Case, workspace, data: st.DataObject) -> None:
    case, root, config = workspace(case)
    content, plain = mutated_file(data, case)
    path = write_case_file(case, root, content)
    stage_and_check(case, config, path, plain)
