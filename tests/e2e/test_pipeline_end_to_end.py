"""The whole pipeline on generated data: money conserved to the cent against the source files themselves,
identical re-runs, every configured source reconciled, and the warehouse answering SQL."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from assets.warehouse import open_warehouse
from tests.e2e.conftest import Run

UNIT = Decimal("1e-10")
COST_SOURCES = ("cloud_bill", "openai_costs", "anthropic_costs", "vendor_invoices")
USAGE_FILES = {
    "app_usage": "usage/{d}/calls.jsonl",
    "support_bot_traces": "otlp/{d}/spans.jsonl",
    "sales_gateway": "litellm/{d}/spendlogs.csv",
    "research_traces": "langfuse/{d}/observations.jsonl",
    "bedrock_logs": "bedrock_logs/AWSLogs/*/BedrockModelInvocationLogs/*/{ymd}/*/*.json.gz",
}
COVERAGE_PAGES = {
    "openai_usage": ("openai_api/{d}/completions-*.json", "openai_api/{d}/embeddings-*.json"),
    "anthropic_usage": ("anthropic_api/{d}/messages-*.json",),
}
"""The vendors' usage reports (role coverage): every call served, per key and model."""


def warehouse_rows(run: Run, query: str) -> list[tuple]:
    with open_warehouse(run.root / "out" / "warehouse.duckdb") as con:
        return con.execute(query).fetchall()


def _results(pages: list[Path]) -> list[dict]:
    """Every result of saved API pages, numbers read exactly."""
    return [r for p in pages for b in json.loads(p.read_text(), parse_float=Decimal)["data"] for r in b["results"]]


def invoice_share(sample: Path, day: date, pinecone_requests: dict[date, int]) -> Decimal:
    """The day's part of every invoice line covering it, in units of 1e-10, the shares of the line's days
    telescoping to its amount: Pinecone's by the day's Pinecone requests (the demo config's usage spread),
    the others 1/n of the line."""
    total = Decimal(0)
    for path in sorted((sample / "invoices").glob("*.csv")):
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                start, end = date.fromisoformat(row["period_start"]), date.fromisoformat(row["period_end"])
                if start <= day <= end:
                    units, n, i = int(Decimal(row["amount"]) / UNIT), (end - start).days + 1, (day - start).days
                    weights = [1] * n
                    if row["provider"] == "pinecone":
                        weights = [pinecone_requests.get(start + timedelta(days=d), 0) for d in range(n)]
                    before, through, whole = sum(weights[:i]), sum(weights[: i + 1]), sum(weights)
                    total += ((units * through) // whole - (units * before) // whole) * UNIT
    return total


def pinecone_requests(run: Run) -> dict[date, int]:
    """Pinecone requests per day, as staged from every usage source."""
    return dict(
        warehouse_rows(
            run,
            "select event_time::date, sum(coalesce(request_count, 1))::bigint from usage_events "
            "where provider = 'pinecone' group by 1",
        )
    )


def source_total(sample: Path, source: str, day: date, requests: dict[date, int]) -> Decimal:
    """What a cost source's own files bill for `day`, computed from the files alone."""
    d = day.isoformat()
    if source == "cloud_bill":
        with (sample / "focus" / d / "cloud_bill.csv").open(newline="") as handle:
            return sum((Decimal(row["EffectiveCost"]) for row in csv.DictReader(handle)), Decimal(0))
    if source == "openai_costs":
        return sum(
            (r["amount"]["value"] for r in _results(sorted((sample / "openai_api" / d).glob("costs-*.json")))),
            Decimal(0),
        )
    if source == "anthropic_costs":
        pages = sorted((sample / "anthropic_api" / d).glob("cost_report-*.json"))
        return sum((Decimal(r["amount"]) for r in _results(pages)), Decimal(0)) / 100
    return invoice_share(sample, day, requests)


def coverage_pages(run: Run, source: str, days: list[date] | None = None) -> list[Path]:
    """The saved usage-report pages of a coverage source, of `days` (default: every day of the run)."""
    return [
        path
        for day in days or run.days
        for pattern in COVERAGE_PAGES[source]
        for path in sorted(run.sample.glob(pattern.format(d=day.isoformat())))
    ]


def usage_records(sample: Path, source: str, day: date) -> int:
    """Calls a usage source's files hold for `day`."""
    pattern = USAGE_FILES[source].format(d=day.isoformat(), ymd=f"{day:%Y/%m/%d}")
    count = 0
    for path in sorted(sample.glob(pattern)):
        if source == "support_bot_traces":
            for request in map(json.loads, path.read_text().splitlines()):
                count += sum(len(s["spans"]) for r in request["resourceSpans"] for s in r["scopeSpans"])
        else:
            text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
            count += len(text.splitlines()) - (source == "sales_gateway")
    return count


def test_fact_cost_sums_to_each_source_file_to_the_cent_every_day(pipeline_run: Run):
    fact = defaultdict(Decimal)
    for day, source, amount in warehouse_rows(
        pipeline_run, "select charge_date, source, sum(amount_usd) from fact_cost group by all"
    ):
        fact[(day, source)] = amount
    for day in pipeline_run.days:
        for source in COST_SOURCES:
            expected = source_total(pipeline_run.sample, source, day, pinecone_requests(pipeline_run))
            assert expected != 0
            assert fact[(day, source)] == expected, (day, source)


def test_reconciliation_is_zero_and_complete_for_every_day_and_source(pipeline_run: Run):
    rows = warehouse_rows(pipeline_run, "select charge_date, source, difference, complete from reconciliation")
    assert len(rows) == len(pipeline_run.days) * (len(COST_SOURCES) + len(USAGE_FILES) + len(COVERAGE_PAGES))
    assert {(r[2], r[3]) for r in rows} == {(Decimal(0), True)}


def test_every_input_row_is_staged_or_quarantined(pipeline_run: Run):
    logs = warehouse_rows(pipeline_run, "select rows_read, rows_valid, rows_quarantined, balanced from ingest_log")
    assert logs and all(balanced for *_, balanced in logs)
    assert not warehouse_rows(pipeline_run, "select * from quarantine limit 1")
    expected = {s: sum(usage_records(pipeline_run.sample, s, d) for d in pipeline_run.days) for s in USAGE_FILES}
    staged = dict(warehouse_rows(pipeline_run, "select x_Source, count(*) from usage_events group by 1"))
    buckets = {source: len(_results(coverage_pages(pipeline_run, source))) for source in COVERAGE_PAGES}
    assert staged == expected | buckets
    assert sum(expected.values()) == len(pipeline_run.days) * 2_000


def test_unowned_api_key_spend_is_unallocated_with_its_reason(pipeline_run: Run):
    rows = warehouse_rows(
        pipeline_run,
        "select distinct unallocated_reason from allocated_lines l join cost_lines c "
        "on l.line_id = c.x_LineId and l.charge_date = c.charge_date where c.x_ApiKeyId = 'key_orphan'",
    )
    assert rows == [("llm_api_by_priced_usage: no usage for its join keys on this day",)]


def test_vendor_cost_lands_on_the_teams_whose_calls_caused_it(pipeline_run: Run):
    teams = dict(
        warehouse_rows(
            pipeline_run,
            "select team, sum(amount_usd) from fact_cost where source = 'openai_costs' group by team",
        )
    )
    assert {"search", "support", "sales", "research", "growth"} <= set(teams)
    assert all(amount > 0 for team, amount in teams.items() if team != "unallocated")


def test_rerunning_a_day_gives_byte_identical_partitions(pipeline_run: Run):
    lake = pipeline_run.root / "out" / "lake"

    def digests() -> dict[str, str]:
        return {
            str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(lake.rglob("*.parquet"))
            if "_manifests" not in p.parts
        }

    before = digests()
    day = pipeline_run.days[1].isoformat()
    result = pipeline_run.cli("run", "--start", day, "--end", day)
    assert result.exit_code == 0, result.output
    assert digests() == before


def test_sql_command_answers_with_unqualified_names(pipeline_run: Run):
    result = pipeline_run.cli("sql", "select team, sum(amount_usd) from fact_cost group by 1 order by 1")
    assert result.exit_code == 0, result.output
    assert "support" in result.output and "unallocated" in result.output


def test_true_up_compares_each_vendor_bill_with_its_list_priced_calls(pipeline_run: Run):
    rows = warehouse_rows(
        pipeline_run,
        "select t.charge_date, t.provider, t.model, t.api_key_id, t.billed_usd, t.list_priced_usd, t.residual_usd, "
        "t.status, (select sum(list_cost) from priced_usage p where p.event_date = t.charge_date "
        "and p.provider = t.provider and p.model = t.model and p.api_key_id = t.api_key_id "
        "and p.x_Source not in ('openai_usage', 'anthropic_usage')) as calls_list_cost "
        "from true_up t where t.source = 'openai_costs'",
    )
    assert rows
    for _day, _provider, _model, key, billed, list_priced, residual, status, calls_list_cost in rows:
        assert residual == billed - list_priced
        if key == "key_orphan":
            assert (status, list_priced, calls_list_cost) == ("no telemetry", 0, None)
        else:
            assert status == "scaled to bill" and list_priced == calls_list_cost
    billed = warehouse_rows(pipeline_run, "select sum(billed_usd) from true_up where source = 'openai_costs'")[0][0]
    total = warehouse_rows(pipeline_run, "select sum(source_total) from reconciliation where source = 'openai_costs'")[
        0
    ][0]
    assert billed == total


def test_reconciliation_shows_the_residual_and_the_spend_with_no_telemetry(pipeline_run: Run):
    per_source = warehouse_rows(
        pipeline_run,
        "select r.source, r.list_priced_usd, r.residual_usd, r.no_telemetry_usd, "
        "(select sum(list_priced_usd) from true_up t where t.source = r.source and t.charge_date = r.charge_date), "
        "(select sum(residual_usd) from true_up t where t.source = r.source and t.charge_date = r.charge_date "
        "and t.status = 'scaled to bill'), "
        "(select sum(billed_usd) from true_up t where t.source = r.source and t.charge_date = r.charge_date "
        "and t.status = 'no telemetry') "
        "from reconciliation r where r.source = 'openai_costs'",
    )
    assert per_source
    for _source, list_priced, residual, no_telemetry, true_list, true_residual, true_none in per_source:
        assert (list_priced, residual, no_telemetry) == (true_list, true_residual, true_none)
        assert residual < 0 < no_telemetry  # a negotiated discount; the key nobody owns or logs


def test_pinecone_statements_follow_the_days_pinecone_requests(pipeline_run: Run):
    rows = warehouse_rows(
        pipeline_run,
        "select InvoiceIssuerName, x_SpreadMethod, count(distinct charge_date) from cost_lines "
        "where x_Source = 'vendor_invoices' group by all order by 1",
    )
    days = len(pipeline_run.days)
    assert rows == [
        ("LabelForce", "even", days),
        ("Nimbus GPU Cloud", "even", days),
        ("Pinecone", "usage:requests", days),
    ]


def _openai_tokens(records: list[dict]) -> dict[str, Decimal]:
    """Billable token buckets of OpenAI usage: `input_tokens` includes the cached ones."""
    cached = sum(r.get("input_cached_tokens") or r.get("cache_read_tokens") or 0 for r in records)
    return {
        "uncached_input": Decimal(sum(r["input_tokens"] for r in records) - cached),
        "cache_read": Decimal(cached),
        "output": Decimal(sum(r.get("output_tokens") or 0 for r in records)),
    }


def test_calls_never_logged_are_what_the_vendor_usage_report_counts_beyond_the_logs(pipeline_run: Run):
    """OpenAI's usage pages count every call it served on key_search, whose calls are all logged in the canonical
    usage file: the difference, at list price times the negotiated factor, is the 'calls never logged' spend."""
    from sample_data.bills import unit_price
    from sample_data.universe import UNLOGGED_KEY, VENDOR_FACTORS

    key, factor = UNLOGGED_KEY, Decimal(VENDOR_FACTORS["openai"])
    for day in pipeline_run.days:  # no other log holds a call of the key
        for source in ("support_bot_traces", "sales_gateway", "research_traces"):
            for path in pipeline_run.sample.glob(USAGE_FILES[source].format(d=day.isoformat())):
                assert key not in path.read_text()
    expected = {}
    for day in pipeline_run.days:
        served = [r for r in _results(coverage_pages(pipeline_run, "openai_usage", [day])) if r["api_key_id"] == key]
        lines = (pipeline_run.sample / "usage" / day.isoformat() / "calls.jsonl").read_text().splitlines()
        logged = [c for c in map(json.loads, lines) if c["api_key_id"] == key and c["provider"] == "openai"]
        for model in sorted({r["model"] for r in served}):
            calls = [c for c in logged if c["model"] == model]
            v, l_ = _openai_tokens([r for r in served if r["model"] == model]), _openai_tokens(calls)
            list_usd = sum((v[t] - l_[t]) * unit_price("openai", model, t, day) for t in v)
            requests = sum(r["num_model_requests"] for r in served if r["model"] == model)
            reason = f"calls never logged (vendor usage report: {requests} requests, {len(calls)} logged)"
            expected[(day, model)] = (factor * list_usd, reason)
    assert all(usd > 0 for usd, _ in expected.values())

    rows = warehouse_rows(
        pipeline_run,
        "select charge_date, model, sum(amount_usd), any_value(unallocated_reason), count(distinct unallocated_reason) "
        "from fact_cost where source = 'openai_costs' and allocation_rule = 'llm_api_by_priced_usage' "
        "and unallocated_reason is not null group by all",
    )
    assert {(d, m) for d, m, *_ in rows} == set(expected)
    for day, model, usd, reason, reasons in rows:
        assert abs(usd - expected[(day, model)][0]) <= Decimal("1e-9")
        assert (reason, reasons) == (expected[(day, model)][1], 1)

    unlogged = warehouse_rows(
        pipeline_run,
        "select t.charge_date, t.api_key_id, sum(t.unlogged_usd), any_value(r.unlogged_usd) from true_up t "
        "join reconciliation r on r.charge_date = t.charge_date and r.source = t.source "
        "where t.source = 'openai_costs' and t.unlogged_usd <> 0 group by all",
    )
    assert {k for _, k, _, _ in unlogged} == {key}
    for day, _, true_up_usd, reconciliation_usd in unlogged:
        assert true_up_usd == reconciliation_usd
        assert abs(true_up_usd - sum(u for (d, _), (u, _) in expected.items() if d == day)) <= Decimal("1e-9")


def test_fact_cost_true_up_sums_to_the_true_up_mart_per_vendor_model_and_day(pipeline_run: Run):
    fact = warehouse_rows(
        pipeline_run,
        "select provider, model, charge_date, sum(true_up_usd), sum(list_price_usd) from fact_cost "
        "where true_up_usd <> 0 or list_price_usd <> 0 group by all order by all",
    )
    true_up = warehouse_rows(
        pipeline_run,
        "select provider, model, charge_date, sum(residual_usd), sum(list_priced_usd) from true_up "
        "group by all order by all",
    )
    assert fact and fact == true_up
