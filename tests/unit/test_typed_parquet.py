"""The typed path for Parquet: columns already in their staging type skip the text round trip, and stage exactly
as the same values written as text do — bounds, required values and checks still apply."""

from __future__ import annotations

from pathlib import Path

from assets.ingest.usage_canonical import USAGE_JSONL, USAGE_PARQUET
from assets.sql import connect
from tests.unit.test_ingest_readers import stage

VALUES = """
    select * from (values
        (timestamp '2026-11-01 10:00:00', 'r1', 'openai', 'gpt-4o', 100::bigint, 20::integer, 2::integer, 1.5::double),
        (timestamp '2026-11-01 11:00:00', 'r2', 'openai', 'gpt-4o', -5::bigint, 1::integer, 1::integer, 2.0::double),
        (null, 'r3', 'openai', 'gpt-4o', 7::bigint, 1::integer, 1::integer, 2.0::double),
        (timestamp '2026-11-01 12:00:00', 'r4', 'openai', 'gpt-4o', 10::bigint, 20::integer, 1::integer, 'nan'::double)
    ) t(event_time, request_id, provider, model, input_tokens, cache_read_tokens, attempt, latency_ms)
"""


def test_typed_parquet_stages_like_the_same_values_as_text(tmp_path: Path) -> None:
    con = connect()
    parquet, jsonl = tmp_path / "calls.parquet", tmp_path / "calls.jsonl"
    con.execute(f"copy ({VALUES}) to '{parquet}' (format parquet)")
    con.execute(
        f"copy (select strftime(event_time, '%Y-%m-%dT%H:%M:%S') as event_time, * exclude (event_time) "
        f"from ({VALUES})) to '{jsonl}' (format json)"
    )
    types = {r[0]: r[1] for r in con.execute(f"describe select * from '{parquet}'").fetchall()}
    assert [types[c] for c in ("event_time", "input_tokens", "cache_read_tokens")] == ["TIMESTAMP", "BIGINT", "INTEGER"]

    typed_good, typed_bad = stage(USAGE_PARQUET, [parquet])
    text_good, text_bad = stage(USAGE_JSONL, [jsonl])

    picked = ("_row", "event_time", "request_id", "input_tokens", "cache_read_tokens", "attempt", "latency_ms")
    assert [{k: r[k] for k in picked} for r in typed_good] == [{k: r[k] for k in picked} for r in text_good]
    assert [(r["row"], r["column"], r["reason"]) for r in typed_bad] == [
        (r["row"], r["column"], r["reason"]) for r in text_bad
    ]
    # a zone-less Parquet timestamp is UTC; a negative count, a missing required value, a part larger than its
    # total and a NaN latency are rejected on the typed path as on the text path
    assert str(typed_good[0]["event_time"]) == "2026-11-01 10:00:00+00:00"
    assert [(r["row"], r["column"], r["reason"]) for r in typed_bad] == [
        (2, "input_tokens", "negative count"),
        (3, "event_time", "required value missing"),
        (4, "latency_ms", "not a finite non-negative number"),
    ]


def test_a_parquet_column_of_another_type_still_goes_through_text(tmp_path: Path) -> None:
    """A DOUBLE token count is not exact into BIGINT: it is cast from text, so 12.5 is rejected, never rounded."""
    con = connect()
    parquet = tmp_path / "calls.parquet"
    con.execute(
        f"""copy (select * from (values
            (timestamptz '2026-11-01 10:00:00+00', 'r1', 'openai', 12.0::double),
            (timestamptz '2026-11-01 10:00:00+00', 'r2', 'openai', 12.5::double)
        ) t(event_time, request_id, provider, input_tokens)) to '{parquet}' (format parquet)"""
    )
    good, bad = stage(USAGE_PARQUET, [parquet])
    assert [(r["_row"], r["input_tokens"]) for r in good] == [(1, 12)]
    assert [(r["row"], r["column"], r["reason"]) for r in bad] == [(2, "input_tokens", "not a valid bigint")]


def test_staged_calls_keep_file_order_and_a_restage_writes_the_same_bytes(tmp_path: Path) -> None:
    """Staging sorts nothing: rows keep the manifest's file order and each file's row order, so a re-run is
    byte-identical; a repeated request id is still staged once (the first seen) and the repeat quarantined."""
    from datetime import date

    from assets.config import load_settings
    from assets.lake import Lake
    from assets.raw import land_day
    from assets.staging import stage_day

    con = connect()
    (tmp_path / "usage").mkdir()
    for part in range(3):
        con.execute(
            f"""copy (
                select timestamptz '2026-11-01 00:00:00+00' + to_seconds(i % 86400) as event_time,
                       'req-' || case when i = 150001 then 7 else i end as request_id,
                       'openai' as provider, 'gpt-4o' as model, (i % 900)::bigint as input_tokens
                from range({part} * 100000, ({part} + 1) * 100000) t(i)
            ) to '{tmp_path / "usage" / f"part-{part}.parquet"}' (format parquet, row_group_size 20000)"""
        )
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "apportion.yaml").write_text(
        "allocation: allocation.yaml\nprices: null\nsources:\n  - {name: calls, kind: usage_parquet, path: usage}\n"
    )
    settings = load_settings(tmp_path / "apportion.yaml")
    day = date(2026, 11, 1)
    land_day(settings, day)
    lake = Lake(settings.app.lake)
    written = []
    for _ in range(2):
        stage_day(settings, day)
        written.append(lake.partition_file("usage_events", day, "calls").read_bytes())
    assert written[0] == written[1]

    staged = con.execute(
        "select x_SourceFile, x_SourceRow, request_id from read_parquet($f)",
        {"f": str(lake.partition_file("usage_events", day, "calls"))},
    ).fetchall()
    assert len(staged) == 299_999
    assert [(f, r) for f, r, _ in staged] == sorted((f, r) for f, r, _ in staged)  # the manifest lists raw names
    assert ("req-7" in {r for _, _, r in staged}) and sum(r == "req-7" for _, _, r in staged) == 1
    (repeat,) = con.execute(
        "select source_file, source_row, reason from read_parquet($f)",
        {"f": str(lake.partition_file("quarantine", day, "calls"))},
    ).fetchall()
    assert repeat[0].endswith("part-1.parquet") and repeat[1] == 50_002
    assert repeat[2].startswith("duplicate request_id, first seen in ") and repeat[2].endswith("part-0.parquet row 8")
