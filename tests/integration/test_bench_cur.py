"""The bench's real-bill case: the legacy CUR it builds from the public sample is an export the pipeline lands
through its manifest and stages whole, every row of the sample repeated and its money kept to the cent."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

from assets.config import load_settings
from assets.lake import Lake
from assets.raw import land_day
from assets.sql import connect
from assets.staging import stage_days
from bench.cur import SAMPLE, write_cur, write_cur_config

REPETITIONS = 3
DAY = date(2023, 11, 1)


def test_the_cur_the_bench_builds_is_staged_row_for_row_and_cent_for_cent(tmp_path):
    assert SAMPLE.is_file(), f"{SAMPLE}: the public samples are missing; they sit beside the repository (../shared)"
    with SAMPLE.open(newline="") as handle:
        sample = list(csv.DictReader(handle))
    rows = REPETITIONS * len(sample)
    cur = write_cur(tmp_path / "bench", rows)
    settings = load_settings(write_cur_config(tmp_path / "bench", cur.export))

    assert land_day(settings, DAY) == {"aws": 2}  # the manifest and the .csv.gz it lists
    stage_days(settings, [DAY])

    lake = Lake(settings.app.lake)
    with connect() as con:
        log = con.execute(
            "select sum(rows_read), sum(rows_valid), sum(rows_quarantined), count(unreadable_reason) "
            "from read_parquet($f)",
            {"f": str(lake.partition_file("ingest_log", DAY, "aws"))},
        ).fetchall()
        by_type = con.execute(
            """select "ChargeCategory" = 'Tax', count(*), sum("BilledCost") from read_parquet($f) """
            "group by 1 order by 1",
            {"f": str(lake.partition_file("cost_lines", DAY, "aws"))},
        ).fetchall()
    assert log == [(rows, rows, 0, 0)] and rows == 3843
    # the day's own lines whole; the month's tax lines each with a share (spread over the month's 30 days)
    usage = [r for r in sample if r["lineItem/LineItemType"] != "Tax" and r["lineItem/UsageStartDate"] < "2023-11-02"]
    tax = [r for r in sample if r["lineItem/LineItemType"] == "Tax"]
    assert by_type[0][:2] == (False, REPETITIONS * len(usage))
    assert by_type[0][2] == REPETITIONS * sum(Decimal(r["lineItem/UnblendedCost"]) for r in usage)
    assert by_type[1][:2] == (True, REPETITIONS * len(tax))
    month_of_tax = REPETITIONS * sum(Decimal(r["lineItem/UnblendedCost"]) for r in tax)
    assert abs(by_type[1][2] - month_of_tax / 30) <= len(tax) * REPETITIONS * Decimal("1e-10")  # a share a line
