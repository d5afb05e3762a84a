"""Generic usage metrics (`usage_metrics`) from CSV, JSON Lines and Parquet into `usage_metrics`."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from assets.ingest.usage_metrics import USAGE_METRICS_KIND
from assets.sql import connect
from tests.unit.test_ingest_readers import stage

CSV = (
    "metric_time,metric,quantity,unit,provider,resource_id,team\n"
    "2026-03-02 00:00:00,gpu_seconds,3600.125,s,aws,0012,search\n"
    "2026-03-02T01:00:00Z,vector_queries,-1,queries,pinecone,idx-1,growth\n"
)
JSONL = (
    '{"ts": "2026-03-02T02:00:00Z", "metric": "bytes_out", "quantity": "1e9", "unit": "B", "team": "ml"}\n'
    '{"ts": "2026-03-02T03:00:00Z", "metric": "bytes_out", "quantity": 12.5, "unit": "B", "owner": "ml"}\n'
)


def test_metrics_files_of_every_format_load_with_exact_quantities(tmp_path: Path) -> None:
    csv = tmp_path / "gpu.csv.gz"
    csv.write_bytes(gzip.compress(CSV.encode()))
    jsonl = tmp_path / "egress.jsonl"
    jsonl.write_text(JSONL)
    parquet = tmp_path / "review.parquet"
    connect().execute(
        f"""copy (select timestamptz '2026-03-02 04:00:00+00' as ts, 'review_minutes' as metric,
                  7.25::decimal(9, 2) as quantity, 'min' as unit)
            to '{parquet}' (format parquet)"""
    )
    staged, rejected = stage(USAGE_METRICS_KIND, [csv, jsonl, parquet], {"fields": {"metric_time": "ts"}})
    assert rejected == [
        {"file": str(csv), "row": 1, "column": "metric_time", "reason": "required column missing from file"},
        {"file": str(csv), "row": 2, "column": "metric_time", "reason": "required column missing from file"},
    ]
    got = [(Path(r["_file"]).name, r["_row"], r["metric_time"], r["metric"], r["quantity"], r["team"]) for r in staged]
    assert got == [
        ("egress.jsonl", 1, datetime(2026, 3, 2, 2, tzinfo=UTC), "bytes_out", Decimal("1000000000"), "ml"),
        ("egress.jsonl", 2, datetime(2026, 3, 2, 3, tzinfo=UTC), "bytes_out", Decimal("12.5"), None),
        ("review.parquet", 1, datetime(2026, 3, 2, 4, tzinfo=UTC), "review_minutes", Decimal("7.25"), None),
    ]


def test_csv_metrics_keep_text_ids_and_allow_signed_quantities(tmp_path: Path) -> None:
    (path := tmp_path / "gpu.csv").write_text(CSV)
    staged, rejected = stage(USAGE_METRICS_KIND, [path])
    assert rejected == []
    assert [(r["metric_time"], r["quantity"], r["resource_id"], r["provider"]) for r in staged] == [
        (datetime(2026, 3, 2, tzinfo=UTC), Decimal("3600.125"), "0012", "aws"),
        (datetime(2026, 3, 2, 1, tzinfo=UTC), Decimal("-1"), "idx-1", "pinecone"),
    ]


def test_unknown_extensions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"not a \.csv"):
        stage(USAGE_METRICS_KIND, [tmp_path / "metrics.xlsx"])
