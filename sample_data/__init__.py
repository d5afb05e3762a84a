"""Deterministic sample data for apportion: a week (or any span) of AI usage and the bills that go with it.

`generate(out_dir, start=..., days=7, calls_per_day=20_000, seed=7, usage_format="jsonl")` writes, per day
`D` (ISO `YYYY-MM-DD`), every call in exactly one usage format (`formats.route`):

- `usage/D/calls.jsonl` (or `usage/D/part-0000.parquet`, one part per chunk of 250k calls): canonical usage
  events with exactly the columns of `assets.schemas.USAGE_EVENTS`: the search agent, the single calls of the
  features (no Bedrock) and every vector query outside the support agent.
- `otlp/D/spans.jsonl`: all `support_agent` calls as OpenTelemetry GenAI spans, collector file-exporter format
  (one `ExportTraceServiceRequest` per line, 500 spans each; about half the batches use the deprecated
  `gen_ai.system` and, independently, about half write `intValue` as strings).
- `litellm/D/spendlogs.csv`: `sales_agent` calls that are not Bedrock as LiteLLM SpendLogs rows (cache parts in
  `metadata.usage_object`, dimensions and trace ids in `metadata.spend_logs_metadata`).
- `langfuse/D/observations.jsonl`: `research_agent` model calls as Langfuse observations (GENERATION /
  EMBEDDING, disjoint `usageDetails`, provider, key and trace ids in `metadata`; no attempt number).
- `bedrock_logs/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/*.json.gz`: every Bedrock
  call, whatever agent made it, as gzipped invocation logs, one object per hour and chunk (input counts
  exclude the cache; no attempt number).
- `focus/D/cloud_bill.csv`: FOCUS 1.3 cloud bill: a reserved GPU cluster serving the self-hosted
  `llama-3.1-70b` (Purchase fee, Used and Unused hours), Amazon Bedrock token lines (list x 0.97), Datadog
  via the AWS Marketplace, EC2 / S3 / data transfer lines in three sub accounts (40 % untagged), a Tax line on
  even days and a Bedrock Credit on every third day.
- `openai_api/D/costs-NNNN.json` and `anthropic_api/D/cost_report-NNNN.json`: the vendors' cost reports as
  saved Admin API pages (`has_more` / `next_page`, 40 results a page). OpenAI Costs: one result per (model,
  component, api key), `amount.value` in dollars; Anthropic cost_report: one result per (model, token type),
  the amount a decimal string of cents, no api key. Billed at list x 0.92 (OpenAI) / 0.95 (Anthropic), they
  bill every call the vendor served: the logged calls of every format, 3 % more calls on `key_search` that
  were never logged (copies of some of its calls, written nowhere) and ~1 % on `key_orphan`, a key nobody owns.
- `openai_api/D/completions-NNNN.json`, `embeddings-NNNN.json` and `anthropic_api/D/messages-NNNN.json`: the
  vendors' usage reports (Admin API Usage / Messages usage report pages): per model and key, the tokens and
  (OpenAI) requests of every call served, the ones never logged included.

and per month `M` (`YYYY-MM`) of the span `invoices/M.csv`: invoice lines of vendors without a billing export:
Pinecone read units as weekly usage statements over the generated days of the month (10 read units a vector
query), and over the whole month a human-review vendor's flat plan and a GPU cloud renting two more GPUs to the
self-hosted model.

The world (teams, keys, features, 150 skewed customers, four agents running classify, embed, vector query,
plan, 0-3 tool calls, generate, validate; models of OpenAI, Anthropic, Bedrock and a self-hosted Llama) is
in `universe.py`. About 7 % of model calls are retried once after an error and 2 % fail outright; prompt
caches are read on OpenAI and Anthropic and written on Anthropic; mean input tokens grow 3 % a day from
`start`; 15 % of prompts recur from a small pool. Prompts appear only as sha256 hashes of synthetic ids,
never as text.

The same arguments give byte-identical files. Calls are drawn and written in chunks, so a day of 10M calls
runs in bounded memory.
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import polars as pl

from sample_data import universe as u
from sample_data.bills import (
    VENDORS,
    DayActivity,
    VendorSpend,
    cloud_rows,
    invoice_lines,
    money,
    served_totals,
    vendor_rows,
)
from sample_data.calls import ChunkSpec, generate_chunk, token_totals
from sample_data.formats import (
    anthropic_cost_pages,
    anthropic_usage_pages,
    openai_cost_pages,
    openai_usage_pages,
    route,
    write_bedrock_logs,
    write_invoices,
    write_langfuse_jsonl,
    write_litellm_csv,
)
from sample_data.writers import (
    otlp_lines,
    write_focus_csv,
    write_lines,
    write_usage_jsonl,
    write_usage_parquet,
)

__all__ = ["generate"]

CHUNK_ROWS = 250_000
ROUTE_COUNTS = {
    "usage": "usage_rows",
    "otlp": "otlp_spans",
    "bedrock": "bedrock_logs",
    "litellm": "litellm_rows",
    "langfuse": "langfuse_observations",
}
"""Route of a call (`formats.route`) -> its count in the summary's `calls_per_day`."""


def generate(
    out_dir: Path,
    *,
    start: dt.date,
    days: int = 7,
    calls_per_day: int = 20_000,
    seed: int = 7,
    usage_format: Literal["jsonl", "parquet"] = "jsonl",
) -> dict[str, Any]:
    """Write the sample files under `out_dir` and return a summary: files written (relative paths), calls per
    day (`logged` = the sum of the calls in each usage format: `usage_rows`, `otlp_spans`, `bedrock_logs`,
    `litellm_rows`, `langfuse_observations`), billed totals per source (`cloud_bill`, `invoices`, `openai`,
    `anthropic`) and the vendor reports' spend split. Money in the summary is `Decimal`."""
    if days < 1 or calls_per_day < 1:
        raise ValueError("days and calls_per_day must be at least 1")
    if usage_format not in ("jsonl", "parquet"):
        raise ValueError(f"usage_format must be jsonl or parquet, not {usage_format!r}")
    out_dir = Path(out_dir)
    files: list[Path] = []
    calls: dict[str, dict[str, int]] = {}
    billed = {"cloud_bill": Decimal(0), "invoices": Decimal(0), **{p: Decimal(0) for p in VENDORS}}
    spend = {p: VendorSpend() for p in VENDORS}
    vector_queries: dict[dt.date, dict[dt.date, int]] = {}
    pages = {
        "openai": (openai_cost_pages, openai_usage_pages, "openai_api"),
        "anthropic": (anthropic_cost_pages, anthropic_usage_pages, "anthropic_api"),
    }

    with duckdb.connect() as con:
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            activity, counts, written = _write_calls(con, out_dir, day, offset, calls_per_day, seed, usage_format)
            calls[day.isoformat()] = counts
            files.extend(written)

            rng = np.random.default_rng([seed, 1, offset])
            cloud = cloud_rows(day, offset, activity, rng)
            files.append(_write_csv(cloud, out_dir / "focus" / day.isoformat() / "cloud_bill.csv"))
            billed["cloud_bill"] += _billed(cloud)
            vector_queries.setdefault(day.replace(day=1), {})[day] = activity.vector_queries
            for provider in VENDORS:
                served = served_totals(provider, activity, rng)
                rows, day_spend = vendor_rows(provider, day, activity, served)
                write_costs, write_usage, folder = pages[provider]
                written_pages, total = write_costs(rows, day, out_dir / folder / day.isoformat())
                files.extend(written_pages)
                files.extend(write_usage(served, day, out_dir / folder / day.isoformat()))
                billed[provider] += total
                spend[provider].add(day_spend)
        for month, queries in vector_queries.items():
            lines = invoice_lines(month, queries)
            files.append(write_invoices(lines, out_dir / "invoices" / f"{month:%Y-%m}.csv"))
            billed["invoices"] += sum((Decimal(line["amount"]) for line in lines), Decimal(0))

    return {
        "out_dir": str(out_dir),
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "usage_format": usage_format,
        "files": sorted(f.relative_to(out_dir).as_posix() for f in files),
        "calls_per_day": calls,
        "billed": billed,
        "vendor_spend": {
            p: {
                "factor": Decimal(u.VENDOR_FACTORS[p]),
                "logged_list": s.logged_list,
                "logged": s.logged,
                "unlogged": s.unlogged,
                "orphan": s.orphan,
                "billed": s.billed,
            }
            for p, s in spend.items()
        },
    }


def _write_calls(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path,
    day: dt.date,
    offset: int,
    n_calls: int,
    seed: int,
    usage_format: str,
) -> tuple[DayActivity, dict[str, int], list[Path]]:
    """Generate and write one day's calls chunk by chunk, each call in the format `formats.route` gives it; keep
    only their per-key token totals."""
    date = day.isoformat()
    usage_dir = out_dir / "usage" / date
    paths = {
        "otlp": out_dir / "otlp" / date / "spans.jsonl",
        "litellm": out_dir / "litellm" / date / "spendlogs.csv",
        "langfuse": out_dir / "langfuse" / date / "observations.jsonl",
    }
    for path in [usage_dir, *paths.values()]:
        (path if path == usage_dir else path.parent).mkdir(parents=True, exist_ok=True)
    for stale in [*usage_dir.glob("part-*.parquet"), usage_dir / "calls.jsonl"]:
        stale.unlink(missing_ok=True)

    written = list(paths.values())
    totals, unlogged, vector_queries = [], [], 0
    counts = dict.fromkeys(ROUTE_COUNTS.values(), 0)
    jsonl_path = usage_dir / "calls.jsonl"
    with ExitStack() as stack:
        out = {name: stack.enter_context(path.open("wb")) for name, path in paths.items()}
        jsonl = stack.enter_context(jsonl_path.open("wb")) if usage_format == "jsonl" else None
        for chunk, lo in enumerate(range(0, n_calls, CHUNK_ROWS)):
            hi = min(n_calls, lo + CHUNK_ROWS)
            frame = generate_chunk(ChunkSpec(seed, day, offset, chunk, hi - lo, lo / n_calls, hi / n_calls), con)
            totals.append(token_totals(frame))
            unlogged.append(token_totals(_never_logged(frame, np.random.default_rng([seed, 3, offset, chunk]))))
            vector_queries += int((frame["operation"] == "vector_query").sum())
            parts = frame.with_columns(_route=route(frame)).partition_by("_route", as_dict=True, include_key=False)
            part = {name: parts.get((name,), frame.clear()) for name in ROUTE_COUNTS}
            if jsonl is not None:
                write_usage_jsonl(part["usage"], jsonl)
            else:
                parquet = usage_dir / f"part-{chunk:04d}.parquet"
                write_usage_parquet(part["usage"], parquet)
                written.append(parquet)
            write_lines(otlp_lines(part["otlp"], np.random.default_rng([seed, 2, offset, chunk])), out["otlp"])
            write_litellm_csv(part["litellm"], out["litellm"], header=chunk == 0)
            write_langfuse_jsonl(part["langfuse"], out["langfuse"])
            written += write_bedrock_logs(part["bedrock"], out_dir, day, chunk)
            for name, key in ROUTE_COUNTS.items():
                counts[key] += part[name].height
    if usage_format == "jsonl":
        written.append(jsonl_path)

    day_totals, day_unlogged = (
        pl.concat(parts).group_by("provider", "model", "api_key_id").agg(pl.all().sum()) for parts in (totals, unlogged)
    )
    activity = DayActivity(day_totals, day_unlogged, vector_queries, n_calls - vector_queries)
    return activity, {"logged": n_calls, **counts}, written


def _never_logged(frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Calls the vendors served on `UNLOGGED_KEY` that no log holds: copies of a `UNLOGGED_SHARE` of that key's
    OpenAI and Anthropic calls."""
    own = frame.filter((pl.col("api_key_id") == u.UNLOGGED_KEY) & pl.col("provider").is_in(list(VENDORS)))
    return own.filter(pl.Series(rng.random(own.height) < u.UNLOGGED_SHARE))


def _write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    write_focus_csv(rows, path)
    return path


def _billed(rows: list[dict[str, str]]) -> Decimal:
    return Decimal(money(sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))))
