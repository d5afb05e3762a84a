"""GCP billing export rows (BigQuery JSON, nested Parquet, koku-style dotted CSV) read into `cost_lines`: net cost
with credits to the 1e-10, labels over project labels, Vertex AI models and token types, rejects, totals."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from assets.config import load_settings
from assets.ingest.gcp_billing import (
    CREDITS_UNREADABLE,
    GCP_BIGQUERY,
    GCP_BILLING_FILE,
    LABELS_UNREADABLE,
    UNKNOWN_COST_TYPE,
)
from assets.ingest.readers import MALFORMED_JSON
from assets.lake import Lake
from assets.raw import found_nothing_reason, land_day
from assets.sql import connect
from tests.unit.test_ingest_readers import stage


def export_row(sku: str, cost: float | str, *credits: float, **fields: Any) -> dict[str, Any]:
    """One export row as BigQuery renders it in JSON (`TO_JSON_STRING`), with usage on 2026-11-03 05:00."""
    row: dict[str, Any] = {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": "C7E2-9256-1C43", "description": "Vertex AI"},
        "sku": {"id": "-".join(w[:4].upper() for w in sku.split()[:3]), "description": sku},
        "usage_start_time": "2026-11-03T05:00:00Z",
        "usage_end_time": "2026-11-03T06:00:00Z",
        "project": {"id": "search-prod", "name": "Search", "labels": [{"key": "team", "value": "platform"}]},
        "labels": [],
        "location": {"location": "us-central1", "region": "us-central1"},
        "export_time": "2026-11-03T09:12:13.456789Z",
        "cost": cost,
        "currency": "USD",
        "usage": {"amount": 1200.0, "unit": "count", "amount_in_pricing_units": 0.0012, "pricing_unit": "count"},
        "credits": [{"name": f"c{i}", "amount": a, "type": "PROMOTION"} for i, a in enumerate(credits)],
        "invoice": {"month": "202611"},
        "cost_type": "regular",
    }
    row.update(fields)
    return row


ROWS = [
    export_row(
        "Gemini 2.5 Pro Text Input - Predictions",
        1.234567,
        -0.2,
        -0.034567,
        cost_at_list=1.5,
        labels=[{"key": "team", "value": "search"}, {"key": "feature", "value": "answers"}],
        project={
            "id": "search-prod",
            "name": "Search",
            "labels": [{"key": "team", "value": "platform"}, {"key": "env", "value": "prod"}],
        },
        resource={"name": "endpoint-1", "global_name": "//aiplatform.googleapis.com/projects/1/endpoints/9"},
    ),
    export_row(
        "Claude Sonnet 4.5 Output Tokens",
        2.5,
        transaction_type="THIRD_PARTY_RESELLER",
        seller_name="Anthropic",
        usage_start_time="2026-11-03 05:00:00 UTC",
        usage_end_time="2026-11-03 06:00:00 UTC",
    ),
    export_row(
        "Nvidia Tesla T4 GPU running in Americas",
        0.35,
        -0.1225,
        service={"id": "6F81-5844-456A", "description": "Compute Engine"},
    ),
    export_row("Sales tax", 0.17, cost_type="tax", service={"id": "T", "description": "Tax"}),
    export_row("Rounding", -0.0000000001, cost_type="rounding_error"),
    export_row("Invoice correction", -1.0, cost_type="adjustment"),
]
"""A Gemini line with two credits and labels on both the row and its project, a Marketplace Claude line with
timestamps as `bq extract` writes them, a GPU with a committed-use-like credit, and one of each other cost type."""


def source_total(rows: list[dict[str, Any]]) -> Decimal:
    """The export's own net total: Σ cost + Σ credits, from the numbers' text as BigQuery writes them."""
    return sum(
        (Decimal(str(r["cost"])) + sum((Decimal(str(c["amount"])) for c in r["credits"]), Decimal(0)) for r in rows),
        Decimal(0),
    )


def write_jsonl(path: Path, rows: list[dict[str, Any]], *raw_lines: str) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(line + "\n" for line in raw_lines))
    return path


def write_parquet(path: Path, jsonl: Path) -> Path:
    """The rows as nested Parquet: records as STRUCTs, repeated fields as LISTs, timestamps typed."""
    connect().execute(
        f"copy (select * replace (usage_start_time::timestamptz as usage_start_time, "
        f"usage_end_time::timestamptz as usage_end_time) "
        f"from read_json('{jsonl}', format = 'newline_delimited', sample_size = -1)) to '{path}' (format parquet)"
    )
    return path


def dotted(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def koku_text(key: str, value: Any) -> Any:
    """A value as koku's CSVs hold it: lists as Python literals, times as `2026-11-03 05:00:00+00:00`."""
    if isinstance(value, list):
        return repr(value)
    if key.endswith("_time") and value is not None:
        return str(datetime.fromisoformat(value.replace(" UTC", "+00:00")))
    return value


def write_koku_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The rows as koku's samples hold them: dotted column names (`service.description`)."""
    flat = [dotted(r) for r in rows]
    columns = list(dict.fromkeys(k for r in flat for k in r))
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows({k: koku_text(k, v) for k, v in r.items()} for r in flat)
    return path


def test_net_cost_is_cost_plus_credits_exactly_and_fields_map_to_focus(tmp_path: Path) -> None:
    staged, rejected = stage(GCP_BILLING_FILE, [write_jsonl(tmp_path / "day.jsonl", ROWS)])
    assert rejected == []
    gemini, claude, gpu, tax, rounding, correction = staged
    assert (gemini["BilledCost"], gemini["EffectiveCost"]) == (Decimal("1.0"), Decimal("1.0"))
    assert (gemini["ContractedCost"], gemini["ListCost"]) == (Decimal("1.234567"), Decimal("1.5"))
    assert gemini["Tags"] == {"team": "search", "env": "prod", "feature": "answers"}
    assert (gemini["x_Provider"], gemini["x_Model"], gemini["SkuMeter"]) == ("google", "gemini-2.5-pro", "Input")
    assert gemini["ChargeDescription"] == "Gemini 2.5 Pro Text Input - Predictions"
    assert (gemini["ResourceId"], gemini["ResourceName"]) == (
        "//aiplatform.googleapis.com/projects/1/endpoints/9",
        "endpoint-1",
    )
    assert (gemini["SubAccountId"], gemini["SubAccountName"], gemini["RegionId"]) == (
        "search-prod",
        "Search",
        "us-central1",
    )
    assert (gemini["PricingQuantity"], gemini["PricingUnit"]) == (Decimal("0.0012"), "count")
    assert (gemini["ConsumedQuantity"], gemini["ConsumedUnit"]) == (Decimal("1200"), "count")
    assert (gemini["InvoiceId"], gemini["ChargeCategory"], gemini["BillingCurrency"]) == ("202611", "Usage", "USD")
    assert gemini["BillingPeriodStart"] == datetime(2026, 11, 1, 7, tzinfo=UTC)  # Pacific months
    assert gemini["BillingPeriodEnd"] == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert (gemini["ChargePeriodStart"], gemini["ChargePeriodEnd"]) == (
        datetime(2026, 11, 3, 5, tzinfo=UTC),
        datetime(2026, 11, 3, 6, tzinfo=UTC),
    )
    assert (claude["x_Model"], claude["SkuMeter"], claude["BilledCost"]) == (
        "claude-sonnet-4-5",
        "Output",
        Decimal("2.5"),
    )
    assert (claude["ServiceProviderName"], claude["HostProviderName"]) == ("Anthropic", "Google Cloud")
    assert claude["ChargePeriodStart"] == datetime(2026, 11, 3, 5, tzinfo=UTC)
    assert claude["Tags"] == {"team": "platform"}
    assert (gpu["x_Model"], gpu["SkuMeter"], gpu["BilledCost"]) == (
        None,
        "Nvidia Tesla T4 GPU running in Americas",
        Decimal("0.2275"),
    )
    assert [r["ChargeCategory"] for r in (tax, rounding, correction)] == ["Tax", "Adjustment", "Adjustment"]
    assert rounding["BilledCost"] == Decimal("-0.0000000001")
    assert sum(r["BilledCost"] for r in staged) == source_total(ROWS) == Decimal("2.8974999999")


def test_project_labels_can_be_prefixed_instead_of_merged(tmp_path: Path) -> None:
    staged, _ = stage(
        GCP_BILLING_FILE, [write_jsonl(tmp_path / "day.jsonl", ROWS[:1])], {"project_label_prefix": "project:"}
    )
    assert staged[0]["Tags"] == {
        "team": "search",
        "feature": "answers",
        "project:team": "platform",
        "project:env": "prod",
    }


def test_jsonl_nested_parquet_and_koku_csv_give_the_same_cost_lines(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "day.jsonl", ROWS)
    files = [jsonl, write_parquet(tmp_path / "day.parquet", jsonl), write_koku_csv(tmp_path / "day.csv", ROWS)]
    assert "{'key': 'team', 'value': 'search'}" in files[2].read_text()
    results = [stage(GCP_BILLING_FILE, [f]) for f in files]
    assert all(rejected == [] for _, rejected in results)
    lines = [[{k: v for k, v in r.items() if k != "_file"} for r in staged] for staged, _ in results]
    assert lines[0] == lines[1] == lines[2]


SKUS = {
    "Gemini 2.5 Flash Lite Input Text": ("gemini-2.5-flash-lite", "Input"),
    "Gemini 2.0 Flash-Lite Text Output - Predictions": ("gemini-2.0-flash-lite", "Output"),
    "Gemini 2.5 Pro Thinking Text Output - Predictions": ("gemini-2.5-pro", "Output"),
    "Gemini 2.5 Pro Cached Text Input - Predictions": ("gemini-2.5-pro", "Cached Input"),
    "Gemini 2.5 Flash Context Caching Storage": ("gemini-2.5-flash", "Cache Storage"),
    "Generate content input token count gemini 1.5 flash short input": ("gemini-1.5-flash", "Input"),
    "Gemini 3 Pro Preview Batch Text Input": ("gemini-3-pro-preview", "Input"),
    "Claude 3.5 Sonnet v2 Output Tokens": ("claude-3-5-sonnet-v2", "Output"),
    "Claude Opus 4.1 Prompt Caching Write Input Tokens": ("claude-opus-4-1", "Cache Write"),
    "Claude 3.7 Sonnet Cache Hit Input Tokens": ("claude-3-7-sonnet", "Cached Input"),
    "Llama 3.1 405B Instruct Input Tokens": ("llama-3.1-405b-instruct", "Input"),
    "Imagen 4 Fast Image Generation": ("imagen-4-fast", "Imagen 4 Fast Image Generation"),
    "Gemini Code Assist Standard": (None, "Gemini Code Assist Standard"),
    "Nvidia Tesla T4 GPU running in Americas": (None, "Nvidia Tesla T4 GPU running in Americas"),
}
"""SKU description → (x_Model, SkuMeter): naming generations of Vertex AI and the Gemini API, partner models."""


def test_model_and_token_type_come_from_the_sku_description(tmp_path: Path) -> None:
    staged, _ = stage(GCP_BILLING_FILE, [write_jsonl(tmp_path / "skus.jsonl", [export_row(s, 1.0) for s in SKUS])])
    assert {r["ChargeDescription"]: (r["x_Model"], r["SkuMeter"]) for r in staged} == SKUS


def test_broken_rows_are_quarantined_with_row_column_and_reason_and_totals_still_match(tmp_path: Path) -> None:
    good = ROWS[:3]
    bad = [
        export_row("Bad cost type", 1.0, cost_type="refund"),
        export_row("Bad credit", 1.0, credits=[{"name": "x", "amount": "lots"}]),
        export_row("Bad cost", "n/a"),
        export_row("Duplicate label", 1.0, labels=[{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]),
        export_row("Labels as text", 1.0, labels="team=search"),
        export_row("No start", 1.0, usage_start_time=None),
        export_row("Backwards", 1.0, usage_end_time="2026-11-03T04:00:00Z"),
    ]
    path = write_jsonl(tmp_path / "day.jsonl", good + bad, '{"cost": 1', "[1, 2]")
    staged, rejected = stage(GCP_BILLING_FILE, [path])
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [
        (4, "ChargeCategory", UNKNOWN_COST_TYPE),
        (5, "BilledCost", CREDITS_UNREADABLE),
        (6, "BilledCost", "not a valid decimal(38,10)"),
        (7, "Tags", "not a valid map(varchar, varchar)"),
        (8, "Tags", LABELS_UNREADABLE),
        (9, "ChargePeriodStart", "required value missing"),
        (10, "ChargePeriodEnd", "charge period does not end after it starts"),
        (11, None, MALFORMED_JSON),
        (12, None, "not a JSON object"),
    ]
    assert len(staged) + len(rejected) == 12
    assert sum(r["BilledCost"] for r in staged) == source_total(good)


def test_python_literal_lists_keep_apostrophes_and_reject_what_is_neither_json_nor_a_literal(tmp_path: Path) -> None:
    header = "billing_account_id,usage_start_time,usage_end_time,cost,currency,cost_type,credits,labels\n"
    times = "2026-11-03 05:00:00+00:00,2026-11-03 06:00:00+00:00"
    credit = "\"[{'name': \"\"Google's credit\"\", 'amount': -0.5, 'full_name': None, 'type': 'PROMOTION'}]\""
    path = tmp_path / "koku.csv"
    path.write_text(
        header
        + f"A,{times},2.0,USD,regular,{credit},\"[{{'key': 'team', 'value': 'ml'}}]\"\n"
        + f"A,{times},2.0,USD,regular,\"[{{'amount': -0.5\",[]\n"
    )
    staged, rejected = stage(GCP_BILLING_FILE, [path])
    assert [(r["BilledCost"], r["Tags"]) for r in staged] == [(Decimal("1.5"), {"team": "ml"})]
    assert [(r["row"], r["column"], r["reason"]) for r in rejected] == [(2, "BilledCost", CREDITS_UNREADABLE)]


def test_bigquery_kind_reads_its_pages_and_not_the_partition_maps_beside_them(tmp_path: Path) -> None:
    page = write_jsonl(tmp_path / "gcp_billing_export_v1_X-2026-11-03.jsonl", ROWS[:2])
    partition_map = tmp_path / "gcp_billing_export_v1_X-2026-11-03.partitions.json"
    partition_map.write_text('{"partitions": []}\n')
    staged, rejected = stage(GCP_BIGQUERY, [page, partition_map])
    assert (len(staged), rejected) == (2, [])


def test_unknown_options_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"options\.lateness: Extra inputs are not permitted"):
        stage(GCP_BILLING_FILE, [write_jsonl(tmp_path / "day.jsonl", ROWS[:1])], {"lateness": 3})


def test_cost_types_and_credits_map_to_focus_charge_and_pricing_values(tmp_path: Path) -> None:
    rows = [
        export_row("Gemini 2.5 Flash Input Text", 1.0, -0.25),
        export_row(
            "N2 Instance Core running in Americas",
            2.0,
            service={"id": "6F81-5844-456A", "description": "Compute Engine"},
            credits=[{"name": "CUD", "amount": -0.5, "type": "COMMITTED_USAGE_DISCOUNT"}],
        ),
        export_row("Spot Preemptible N2 Instance Core running in Americas", 0.3),
        export_row("Sales tax", 0.17, cost_type="tax", service={"id": "T", "description": "Tax"}),
        export_row("Invoice correction", -1.0, cost_type="adjustment"),
        export_row("Rounding", -0.0000000001, cost_type="rounding_error"),
    ]
    koku = write_koku_csv(tmp_path / "koku.csv", rows)
    jsonl = write_jsonl(tmp_path / "rows.jsonl", rows)
    for path in (koku, jsonl):
        staged, rejected = stage(GCP_BILLING_FILE, [path])
        assert rejected == []
        got = [
            (r["ChargeCategory"], r["ChargeClass"], r["ChargeFrequency"], r["PricingCategory"], r["BilledCost"])
            for r in staged
        ]
        assert got == [
            ("Usage", None, "Usage-Based", "Standard", Decimal("0.75")),
            ("Usage", None, "Usage-Based", "Committed", Decimal("1.5")),
            ("Usage", None, "Usage-Based", "Dynamic", Decimal("0.3")),
            ("Tax", None, "Recurring", None, Decimal("0.17")),
            ("Adjustment", "Correction", "One-Time", None, Decimal("-1")),
            ("Adjustment", None, "One-Time", None, Decimal("-0.0000000001")),
        ], path.name
        assert sum(r["BilledCost"] for r in staged) == source_total(rows) == Decimal("1.7199999999")


def test_a_day_without_export_files_says_where_it_looked_and_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\n"
        "sources:\n  - {name: gcp, kind: gcp_billing_file, path: 'exports/{date}/*.csv'}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    day = date(2026, 11, 3)
    assert land_day(settings, day) == {"gcp": 0}
    assert found_nothing_reason(Lake(settings.app.lake), "gcp", day) == (
        f"found nothing for 2026-11-03 at {tmp_path / 'exports' / '2026-11-03' / '*.csv'}: expected billing export "
        "rows as files at that path (a file, a folder of them or a glob, `{date}` standing for the day as "
        "YYYY-MM-DD): .jsonl[.gz] or .parquet as BigQuery exports them, or .csv[.gz] with dotted column names "
        "(service.description, usage_start_time, cost, credits, …). The setting: `path` (or `options`) of source gcp "
        "in apportion.yaml"
    )
