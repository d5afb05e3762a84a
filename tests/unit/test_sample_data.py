"""The sample-data generator: deterministic, the promised shares and quirks, and bills that reconcile."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import itertools
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal
from functools import cache
from pathlib import Path

import polars as pl
import pytest
import yaml
from genai_prices import Usage, calc_price

import sample_data as sample_data
from assets.ingest.bedrock_logs import BEDROCK_INVOCATION_LOGS
from assets.ingest.langfuse import LANGFUSE_OBSERVATIONS
from assets.schemas import USAGE_EVENTS, column_names
from sample_data import generate
from sample_data.bills import invoice_lines
from sample_data.calls import ChunkSpec, generate_chunk
from sample_data.universe import UNLOGGED_KEY
from tests.unit.test_ingest_readers import stage

REPO = Path(__file__).resolve().parents[2]
START = dt.date(2026, 11, 2)
DAYS = 7
CALLS = 20_000
DATES = [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
HEX16, HEX32, HEX64 = (re.compile(f"^[0-9a-f]{{{n}}}$") for n in (16, 32, 64))
BUCKETS = ("uncached_input", "cache_read", "cache_write_5m", "cache_write_1h", "output")


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("week")
    return out, generate(out, start=START, days=DAYS, calls_per_day=CALLS, seed=7)


@cache
def _usage(out: Path, date: str) -> pl.DataFrame:
    return pl.read_ndjson(out / "usage" / date / "calls.jsonl", infer_schema_length=None)


def _value(v: dict) -> object:
    ((kind, raw),) = v.items()
    return int(raw) if kind == "intValue" else raw


@cache
def _otlp(out: Path, date: str) -> tuple[list[dict], list[dict]]:
    """(batches as parsed, spans flattened to their fields with attributes merged in)."""
    batches = [json.loads(line) for line in (out / "otlp" / date / "spans.jsonl").read_text().splitlines()]
    spans = []
    for batch in batches:
        for scope in batch["resourceSpans"][0]["scopeSpans"]:
            for span in scope["spans"]:
                attrs = {a["key"]: _value(a["value"]) for a in span["attributes"]}
                spans.append({**{k: v for k, v in span.items() if k != "attributes"}, **attrs})
    return batches, spans


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@cache
def _rate(provider: str, model: str, bucket: str, date: str) -> Decimal:
    """Base-tier list price per token, straight from genai-prices."""
    n = 100_000
    usage = {
        "uncached_input": Usage(input_tokens=n),
        "cache_read": Usage(input_tokens=n, cache_read_tokens=n),
        "cache_write_5m": Usage(input_tokens=n, cache_write_tokens=n),
        "cache_write_1h": Usage(input_tokens=n, cache_write_tokens=n, cache_write_1h_tokens=n),
        "output": Usage(output_tokens=n),
    }[bucket]
    when = dt.datetime.fromisoformat(f"{date}T12:00:00+00:00")
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price / n


BEDROCK_DIR = "bedrock_logs/AWSLogs/011111111111/BedrockModelInvocationLogs/us-east-1"
CALL_COLUMNS = (
    "source", "event_time", "trace_id", "span_id", "parent_span_id", "provider", "model", "operation", "status",
    "attempt", "agent", "workflow", "prompt_hash", "uncached_input", "cache_read", "cache_write", "cache_write_1h",
    "output",
)  # fmt: skip
"""One row per logged call, whatever format logged it. `attempt` is null where the format has no retry count
(Langfuse, Bedrock) and `cache_write_1h` null where it has no 5-minute / 1-hour split (OTLP, Bedrock)."""


def _iso_ms(column: str) -> pl.Expr:
    return pl.col(column).str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="ms", time_zone="UTC")


def _from_usage(out: Path, date: str) -> pl.DataFrame:
    return _usage(out, date).select(
        source=pl.lit("usage"),
        event_time=_iso_ms("event_time"),
        trace_id="trace_id", span_id="span_id", parent_span_id="parent_span_id", provider="provider",
        model="model", operation="operation", status="status", attempt=pl.col("attempt").cast(pl.Int64),
        agent="agent", workflow="workflow", prompt_hash="prompt_hash",
        uncached_input=pl.col("input_tokens") - pl.col("cache_read_tokens") - pl.col("cache_write_tokens"),
        cache_read="cache_read_tokens", cache_write="cache_write_tokens", cache_write_1h="cache_write_1h_tokens",
        output="output_tokens",
    )  # fmt: skip


def _from_otlp(out: Path, date: str) -> pl.DataFrame:
    _, spans = _otlp(out, date)
    frame = pl.DataFrame(
        [
            {
                "event_time": int(s["startTimeUnixNano"]) // 1_000_000,
                "trace_id": s["traceId"],
                "span_id": s["spanId"],
                "parent_span_id": s.get("parentSpanId"),
                "provider": s.get("gen_ai.provider.name", s.get("gen_ai.system")),
                "model": s.get("gen_ai.request.model"),
                "operation": s["gen_ai.operation.name"],
                "status": "error" if s["status"]["code"] == 2 else "ok",
                "attempt": s["app.attempt"],
                "agent": s.get("gen_ai.agent.name"),
                "workflow": s.get("gen_ai.workflow.name"),
                "prompt_hash": s.get("app.prompt_hash"),
                "input": s.get("gen_ai.usage.input_tokens"),
                "cache_read": s.get("gen_ai.usage.cache_read.input_tokens"),
                "cache_write": s.get("gen_ai.usage.cache_creation.input_tokens"),
                "output": s.get("gen_ai.usage.output_tokens"),
            }
            for s in spans
        ],
        infer_schema_length=None,
    )
    return frame.select(
        *CALL_COLUMNS[2:13],
        source=pl.lit("otlp"),
        event_time=pl.col("event_time").cast(pl.Datetime("ms", "UTC")),
        uncached_input=pl.col("input") - pl.col("cache_read") - pl.col("cache_write"),
        cache_read="cache_read", cache_write="cache_write", cache_write_1h=pl.lit(None, pl.Int64), output="output",
    )  # fmt: skip


LITELLM_COLUMNS = [
    "request_id", "call_type", "api_key", "prompt_tokens", "completion_tokens", "total_tokens", "startTime",
    "endTime", "model", "custom_llm_provider", "metadata", "cache_hit", "team_id", "end_user", "status",
]  # fmt: skip


@cache
def _litellm(out: Path, date: str) -> pl.DataFrame:
    raw = pl.read_csv(out / "litellm" / date / "spendlogs.csv", infer_schema_length=0)
    assert raw.columns == LITELLM_COLUMNS
    meta = [json.loads(m) for m in raw["metadata"]]
    return raw.with_columns(
        pl.col("prompt_tokens", "completion_tokens", "total_tokens").cast(pl.Int64),
        _meta=pl.Series(meta, strict=False),
    )


def _from_litellm(out: Path, date: str) -> pl.DataFrame:
    raw = _litellm(out, date)
    meta, usage = pl.col("_meta").struct.field("spend_logs_metadata"), pl.col("_meta").struct.field("usage_object")
    details = usage.struct.field("prompt_tokens_details")
    cache_read = details.struct.field("cached_tokens")
    cache_write = usage.struct.field("cache_creation_input_tokens")
    return raw.select(
        source=pl.lit("litellm"),
        event_time=_iso_ms("startTime"),
        trace_id=meta.struct.field("trace_id"), span_id=meta.struct.field("span_id"),
        parent_span_id=meta.struct.field("parent_span_id"), provider="custom_llm_provider",
        model=pl.col("model").str.strip_prefix(pl.col("custom_llm_provider") + "/"),
        operation=pl.col("call_type").replace_strict({"aembedding": "embeddings", "acompletion": "chat"}),
        status=pl.col("status").replace_strict({"success": "ok", "failure": "error"}),
        attempt=pl.col("_meta").struct.field("attempted_retries").cast(pl.Int64) + 1,
        agent=meta.struct.field("agent"), workflow=meta.struct.field("workflow"),
        prompt_hash=meta.struct.field("prompt_hash"),
        uncached_input=pl.col("prompt_tokens") - cache_read - cache_write, cache_read=cache_read,
        cache_write=cache_write,
        cache_write_1h=details.struct.field("cache_creation_token_details").struct.field("ephemeral_1h_input_tokens"),
        output="completion_tokens",
    )  # fmt: skip


@cache
def _langfuse(out: Path, date: str) -> pl.DataFrame:
    return pl.read_ndjson(out / "langfuse" / date / "observations.jsonl", infer_schema_length=None)


def _from_langfuse(out: Path, date: str) -> pl.DataFrame:
    usage, meta = pl.col("usageDetails"), pl.col("metadata")
    write_5m = usage.struct.field("cache_creation_input_tokens")
    write_1h = usage.struct.field("cache_creation_1h_input_tokens")
    return _langfuse(out, date).select(
        source=pl.lit("langfuse"),
        event_time=_iso_ms("startTime"),
        trace_id="traceId", span_id="id", parent_span_id="parentObservationId",
        provider=meta.struct.field("provider"), model="model", operation="name",
        status=pl.col("level").replace_strict({"DEFAULT": "ok", "ERROR": "error"}), attempt=pl.lit(None, pl.Int64),
        agent=meta.struct.field("agent"), workflow=meta.struct.field("workflow"),
        prompt_hash=meta.struct.field("prompt_hash"),
        uncached_input=usage.struct.field("input"), cache_read=usage.struct.field("input_cached_tokens"),
        cache_write=write_5m + write_1h, cache_write_1h=write_1h,
        output=usage.struct.field("output") + usage.struct.field("output_reasoning_tokens"),
    )  # fmt: skip


@cache
def _bedrock(out: Path, date: str) -> pl.DataFrame:
    paths = sorted((out / BEDROCK_DIR / date.replace("-", "/")).glob("*/*.json.gz"))
    return pl.concat(
        [pl.read_ndjson(gzip.decompress(p.read_bytes()), infer_schema_length=None) for p in paths],
        how="diagonal_relaxed",
    )


def _from_bedrock(out: Path, date: str) -> pl.DataFrame:
    inp, meta = pl.col("input"), pl.col("requestMetadata")
    return _bedrock(out, date).select(
        source=pl.lit("bedrock"),
        event_time=_iso_ms("timestamp"),
        trace_id=meta.struct.field("trace_id"), span_id=meta.struct.field("span_id"),
        parent_span_id=meta.struct.field("parent_span_id"), provider=pl.lit("aws"), model="modelId",
        operation=pl.lit("chat"),
        status=pl.when(pl.col("errorCode").is_null()).then(pl.lit("ok")).otherwise(pl.lit("error")),
        attempt=pl.lit(None, pl.Int64), agent=meta.struct.field("agent"), workflow=meta.struct.field("workflow"),
        prompt_hash=meta.struct.field("prompt_hash"),
        uncached_input=inp.struct.field("inputTokenCount"), cache_read=inp.struct.field("cacheReadInputTokenCount"),
        cache_write=inp.struct.field("cacheWriteInputTokenCount"), cache_write_1h=pl.lit(None, pl.Int64),
        output=pl.col("output").struct.field("outputTokenCount"),
    )  # fmt: skip


@cache
def _calls(out: Path, date: str) -> pl.DataFrame:
    """Every logged call of a day from all five usage formats, in one frame of `CALL_COLUMNS`."""
    parts = [read(out, date) for read in (_from_usage, _from_otlp, _from_litellm, _from_langfuse, _from_bedrock)]
    frames = [p.select(pl.col(c).cast(t) for c, t in zip(CALL_COLUMNS, _CALL_TYPES, strict=True)) for p in parts]
    return pl.concat(frames)


_CALL_TYPES = (
    pl.String, pl.Datetime("ms", "UTC"), *[pl.String] * 7, pl.Int64, *[pl.String] * 3, *[pl.Int64] * 5,
)  # fmt: skip


def _logged_tokens(out: Path, date: str, unsplit_writes_1h: bool = False) -> pl.DataFrame:
    """Token buckets per (provider, model) of all logged calls of a day, from every usage format.

    OTLP (and Bedrock) have no 5-minute / 1-hour split of cache writes: `unsplit_writes_1h` says which way to
    count them all.
    """
    unsplit = pl.col("cache_write") if unsplit_writes_1h else pl.lit(0, pl.Int64)
    return (
        _calls(out, date)
        .filter(pl.col("model").is_not_null())
        .with_columns(cache_write_1h=pl.coalesce("cache_write_1h", unsplit))
        .group_by("provider", "model")
        .agg(
            uncached_input=pl.col("uncached_input").sum(),
            cache_read=pl.col("cache_read").sum(),
            cache_write_5m=(pl.col("cache_write") - pl.col("cache_write_1h")).sum(),
            cache_write_1h=pl.col("cache_write_1h").sum(),
            output=pl.col("output").sum(),
        )
    )


def test_layout_and_counts(week: tuple[Path, dict]) -> None:
    out, summary = week
    expected = sorted(
        f"{kind}/{d}/{name}"
        for d in DATES
        for kind, name in [
            ("usage", "calls.jsonl"),
            ("otlp", "spans.jsonl"),
            ("focus", "cloud_bill.csv"),
            ("openai_api", "costs-0001.json"),
            ("openai_api", "completions-0001.json"),
            ("openai_api", "embeddings-0001.json"),
            ("anthropic_api", "cost_report-0001.json"),
            ("anthropic_api", "messages-0001.json"),
            ("litellm", "spendlogs.csv"),
            ("langfuse", "observations.jsonl"),
        ]
    )
    expected += [f"invoices/{START:%Y-%m}.csv"]
    bedrock = [f for f in summary["files"] if f.startswith("bedrock_logs/AWSLogs/")]
    assert bedrock and all(f.endswith(".json.gz") for f in bedrock)
    expected = sorted(expected + bedrock)
    assert summary["files"] == expected
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == expected
    for d in DATES:
        counts = summary["calls_per_day"][d]
        assert sum(v for k, v in counts.items() if k != "logged") == counts["logged"] == CALLS
        assert _usage(out, d).height == counts["usage_rows"]
        assert len(_otlp(out, d)[1]) == counts["otlp_spans"]


@pytest.mark.parametrize("usage_format", ["jsonl", "parquet"])
def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, usage_format: str) -> None:
    runs = {name: tmp_path / name for name in ("a", "b", "c")}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        generate(runs[name], start=START, days=2, calls_per_day=5_000, seed=seed, usage_format=usage_format)
    files = sorted(p.relative_to(runs["a"]) for p in runs["a"].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(runs["b"]) for p in runs["b"].rglob("*") if p.is_file())
    for f in files:
        assert (runs["a"] / f).read_bytes() == (runs["b"] / f).read_bytes(), f
        assert (runs["a"] / f).read_bytes() != (runs["c"] / f).read_bytes(), f


def test_usage_events_follow_the_schema(week: tuple[Path, dict]) -> None:
    out, _ = week
    first = json.loads((out / "usage" / DATES[0] / "calls.jsonl").open().readline())
    assert list(first) == column_names(USAGE_EVENTS)
    df = _usage(out, DATES[3])
    times = df["event_time"]
    assert times.str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").all()
    assert (times.str.slice(0, 10) == DATES[3]).all()
    assert df["trace_id"].str.contains(HEX32.pattern).all()
    assert df["span_id"].str.contains(HEX16.pattern).all()
    assert df["span_id"].n_unique() == df.height
    assert (df["request_count"] == 1).all()
    tokens = df.filter(pl.col("operation") != "vector_query")
    assert (tokens["cache_read_tokens"] + tokens["cache_write_tokens"] <= tokens["input_tokens"]).all()
    assert (tokens["cache_write_1h_tokens"] <= tokens["cache_write_tokens"]).all()
    assert (tokens["reasoning_tokens"] <= tokens["output_tokens"]).all()
    assert tokens.filter(pl.col("provider") == "openai")["cache_read_tokens"].sum() > 0
    anthropic = tokens.filter(pl.col("provider") == "anthropic")
    assert anthropic["cache_write_tokens"].sum() > anthropic["cache_write_1h_tokens"].sum() > 0
    vectors = df.filter(pl.col("operation") == "vector_query")
    assert (vectors["provider"] == "pinecone").all() and vectors["model"].is_null().all()
    assert vectors["input_tokens"].is_null().all()
    # Bedrock calls are only in the invocation logs, the routed agents' model calls in their own formats
    assert set(df["provider"]) == {"openai", "anthropic", "self-hosted", "pinecone"}
    assert set(df["agent"].drop_nulls()) == {"research_agent", "sales_agent", "search_agent"}
    routed = df.filter(pl.col("agent").is_in(["research_agent", "sales_agent"]))
    assert (routed["operation"] == "vector_query").all()
    assert (df.filter(pl.col("provider") == "self-hosted")["model"] == "llama-3.1-70b").all()
    medians = df.group_by("model").agg(pl.col("latency_ms").median()).sort("model")
    assert medians["latency_ms"].is_between(10, 20_000).all()


def test_other_usage_formats_follow_their_schemas(week: tuple[Path, dict]) -> None:
    out, _ = week
    d = DATES[3]
    litellm = _litellm(out, d)
    assert set(litellm["custom_llm_provider"]) == {"openai", "self-hosted"}
    assert (litellm["total_tokens"] == litellm["prompt_tokens"] + litellm["completion_tokens"]).all()
    assert set(litellm["call_type"]) == {"acompletion", "aembedding"} and set(litellm["cache_hit"]) == {"False"}
    assert (litellm["model"].str.split("/").list.first() == litellm["custom_llm_provider"]).all()
    assert set(litellm["status"]) == {"success", "failure"} and set(litellm["api_key"]) == {"key_sales"}

    langfuse = _langfuse(out, d)
    assert langfuse.columns == [
        "id", "traceId", "parentObservationId", "type", "name", "startTime", "endTime", "model", "userId", "level",
        "statusMessage", "usageDetails", "metadata",
    ]  # fmt: skip
    assert set(langfuse["type"]) == {"GENERATION", "EMBEDDING"} and set(langfuse["level"]) == {"DEFAULT", "ERROR"}
    assert set(langfuse["metadata"].struct.field("provider")) == {"openai", "self-hosted"}
    usage = langfuse["usageDetails"].struct.unnest()
    assert all((usage[c] >= 0).all() for c in usage.columns)

    day_dir = out / BEDROCK_DIR / d.replace("-", "/")
    paths = sorted(day_dir.glob("*/*.json.gz"))
    assert {p.parent.name for p in paths} <= {f"{h:02d}" for h in range(24)}
    for path in paths:
        stamp = f"{d.replace('-', '')}T{path.parent.name}00Z"
        assert path.name == f"011111111111_BedrockModelInvocationLogs_us-east-1_{stamp}_0000.json.gz"
        assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    bedrock = _bedrock(out, d)
    assert bedrock.columns == [
        "schemaType", "schemaVersion", "timestamp", "accountId", "identity", "region", "requestId", "operation",
        "modelId", "errorCode", "input", "output", "requestMetadata",
    ]  # fmt: skip
    assert set(bedrock["schemaType"]) == {"ModelInvocationLog"} and set(bedrock["operation"]) == {"Converse"}
    assert set(bedrock["modelId"]) == {m for m in _all_models(out, d) if m.startswith("anthropic.")}
    hours = bedrock["timestamp"].str.slice(11, 2)
    assert len(set(hours)) == len(paths)

    calls = _calls(out, d)
    assert calls.height == CALLS and calls["span_id"].n_unique() == CALLS
    assert (calls["event_time"].dt.strftime("%Y-%m-%d") == d).all()
    assert calls.filter(pl.col("operation") != "vector_query")["prompt_hash"].str.contains(HEX64.pattern).all()
    assert (calls.filter(pl.col("provider") == "aws")["source"] == "bedrock").all()
    tokens = calls.filter(pl.col("operation") != "vector_query")
    for column in ("uncached_input", "cache_read", "cache_write", "output"):
        assert (tokens[column] >= 0).all(), column
    assert (tokens["cache_write_1h"].fill_null(0) <= tokens["cache_write"]).all()


def _all_models(out: Path, date: str) -> set[str]:
    return set(_calls(out, date)["model"].drop_nulls())


def test_workflow_traces(week: tuple[Path, dict]) -> None:
    """Every agent's workflow is whole once the formats it is split over are put together."""
    out, _ = week
    calls = _calls(out, DATES[0])
    formats = calls.filter(pl.col("agent").is_not_null()).group_by("agent").agg(pl.col("source").unique().sort())
    assert dict(formats.iter_rows()) == {
        "support_agent": ["otlp"],
        "research_agent": ["langfuse", "usage"],
        "sales_agent": ["bedrock", "litellm", "usage"],
        "search_agent": ["usage"],
    }
    # Langfuse and Bedrock keep no attempt number: a retry is the call right after a failed one of the same
    # model and prompt in the trace
    calls = calls.sort("trace_id", "event_time")
    df = calls.with_columns(
        _prev_status=pl.col("status").shift(1).over("trace_id"),
        _prev_model=pl.col("model").shift(1).over("trace_id"),
        _prev_prompt=pl.col("prompt_hash").shift(1).over("trace_id"),
    ).with_columns(
        derived_attempt=pl.when(
            (pl.col("_prev_status") == "error")
            & (pl.col("_prev_model") == pl.col("model"))
            & (pl.col("_prev_prompt") == pl.col("prompt_hash"))
        )
        .then(2)
        .otherwise(1)
    )
    known = df.filter(pl.col("attempt").is_not_null())
    assert (known["attempt"] == known["derived_attempt"]).all()
    assert (df.filter(pl.col("source") == "bedrock")["derived_attempt"] == 2).any()
    df = df.with_columns(attempt=pl.coalesce("attempt", "derived_attempt"))

    agents = df.filter(pl.col("agent").is_not_null())
    per_trace = agents.group_by("trace_id").agg(
        agents=pl.col("agent").n_unique(),
        parents=pl.col("parent_span_id").n_unique(),
        parent=pl.col("parent_span_id").first(),
        steps=(pl.col("attempt") == 1).sum(),
        embeddings=((pl.col("operation") == "embeddings") & (pl.col("attempt") == 1)).sum(),
        vectors=(pl.col("operation") == "vector_query").sum(),
        first_op=pl.col("operation").sort_by("event_time").first(),
        second_op=pl.col("operation").sort_by("event_time").get(1),
    )
    assert (per_trace["agents"] == 1).all() and (per_trace["parents"] == 1).all()
    assert per_trace["parent"].str.contains(HEX16.pattern).all()
    assert not set(per_trace["parent"]) & set(df["span_id"])
    assert per_trace["steps"].is_between(6, 9).all()
    assert set(per_trace["steps"]) == {6, 7, 8, 9}
    assert (per_trace["embeddings"] == 1).all() and (per_trace["vectors"] == 1).all()
    assert (per_trace["first_op"] == "chat").all()
    assert per_trace.filter(pl.col("second_op") != "chat")["second_op"].unique().to_list() == ["embeddings"]
    assert agents.group_by("agent").agg(pl.col("trace_id").n_unique())["trace_id"].min() > 100
    singles = df.filter(pl.col("agent").is_null())
    assert set(singles["source"]) == {"usage", "bedrock"}
    assert singles["parent_span_id"].is_null().all() and singles["workflow"].is_null().all()


def test_retries_and_failures(week: tuple[Path, dict]) -> None:
    out, _ = week
    df = pl.concat([_usage(out, d) for d in DATES]).sort("trace_id", "event_time")
    df = df.with_columns(
        pl.all().shift(1).over("trace_id").name.prefix("prev_"),
        next_attempt=pl.col("attempt").shift(-1).over("trace_id"),
    )
    retried = df.filter(pl.col("attempt") == 2)
    first_tries = df.filter(pl.col("attempt") == 1)
    assert 0.05 <= retried.height / first_tries.height <= 0.10
    assert (retried["status"] == "ok").all()
    # attempt 2 follows its failed attempt 1 directly: same trace, parent, model and prompt, a new span
    assert (retried["prev_attempt"] == 1).all() and (retried["prev_status"] == "error").all()
    assert (retried["prev_model"] == retried["model"]).all()
    assert (retried["prev_prompt_hash"] == retried["prompt_hash"]).all()
    assert retried["prev_parent_span_id"].eq_missing(retried["parent_span_id"]).all()
    assert (retried["prev_span_id"] != retried["span_id"]).all()
    errors = df.filter(pl.col("status") == "error")
    assert set(errors["error_type"]) == {"rate_limit", "timeout", "server_error"}
    assert (errors["output_tokens"] == 0).all() and (errors["input_tokens"] > 0).all()
    assert (errors["attempt"] == 1).all()
    assert df.filter(pl.col("status") == "ok")["error_type"].is_null().all()
    unretried = errors.filter(pl.col("next_attempt").ne_missing(2))
    assert errors.height - unretried.height == retried.height
    assert 0.01 <= unretried.height / first_tries.height <= 0.04
    assert (errors.filter(pl.col("error_type") == "timeout")["latency_ms"] >= 30_000).all()


def test_otlp_holds_only_the_support_agent(week: tuple[Path, dict]) -> None:
    out, _ = week
    for d in DATES:
        assert "support_agent" not in set(_usage(out, d)["agent"].drop_nulls())
    lines = (out / "otlp" / DATES[0] / "spans.jsonl").read_text().splitlines()
    assert '"intValue":"' in "".join(lines) and re.search(r'"intValue":\d', "".join(lines))
    batches, spans = _otlp(out, DATES[0])
    provider_keys = Counter()
    for batch in batches:
        (resource,) = batch["resourceSpans"]
        assert resource["resource"]["attributes"] == [{"key": "service.name", "value": {"stringValue": "support-bot"}}]
        (scope,) = resource["scopeSpans"]
        assert 0 < len(scope["spans"]) <= 500
        keys = {a["key"] for s in scope["spans"] for a in s["attributes"]}
        provider_keys[("gen_ai.system" in keys, "gen_ai.provider.name" in keys)] += 1
    assert set(provider_keys) == {(True, False), (False, True)}
    assert {s["gen_ai.agent.name"] for s in spans} == {"support_agent"}
    assert {s["gen_ai.workflow.name"] for s in spans} == {"resolve_ticket"}
    assert {s["app.team"] for s in spans} == {"support"} and {s["app.api_key_id"] for s in spans} == {"key_support"}
    for s in spans:
        assert HEX32.match(s["traceId"]) and HEX16.match(s["spanId"]) and HEX16.match(s["parentSpanId"])
        assert s["kind"] == 3 and int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"])
        model = s.get("gen_ai.request.model")
        assert s["name"] == (f"{s['gen_ai.operation.name']} {model}" if model else "vector_query")
        if s["status"]["code"] == 2:
            assert s["error.type"] in {"rate_limit", "timeout", "server_error"} and s["status"]["message"]
        else:
            assert s["status"] == {"code": 1} and "error.type" not in s
    assert {s["gen_ai.request.model"] for s in spans if "gen_ai.request.model" in s} == {
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
        "text-embedding-3-small",
        "llama-3.1-70b",
    }
    assert any(s["app.attempt"] == 2 for s in spans)


def test_customers_are_skewed_and_all_present(week: tuple[Path, dict]) -> None:
    out, _ = week
    seen: Counter[str] = Counter()
    per_day = []
    for d in DATES:
        day = Counter(_usage(out, d)["customer"].drop_nulls().to_list())
        day.update(s["app.customer_id"] for s in _otlp(out, d)[1] if "app.customer_id" in s)
        per_day.append(len(day))
        seen.update(day)
    assert set(seen) == {f"cust_{i:04d}" for i in range(1, 151)}
    assert max(per_day) >= 100
    ranked = [n for _, n in seen.most_common()]
    assert ranked[0] > 20 * ranked[75]


def test_prompts_are_hashes_only(week: tuple[Path, dict]) -> None:
    out, _ = week
    df = pl.concat([_usage(out, d) for d in DATES[:2]])
    hashes = df.filter(pl.col("operation") != "vector_query")["prompt_hash"]
    assert hashes.str.contains(HEX64.pattern).all()
    assert df.filter(pl.col("operation") == "vector_query")["prompt_hash"].is_null().all()
    first_tries = df.filter((pl.col("attempt") == 1) & pl.col("prompt_hash").is_not_null())
    repeated = first_tries.filter(pl.col("prompt_hash").is_duplicated()).height / first_tries.height
    assert 0.10 <= repeated <= 0.20
    raw = (out / "usage" / DATES[0] / "calls.jsonl").read_text() + (out / "otlp" / DATES[0] / "spans.jsonl").read_text()
    for needle in (
        "prompt/",
        "pool/",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.prompt",
        "content",
    ):
        assert needle not in raw
    _, spans = _otlp(out, DATES[0])
    assert all(HEX64.match(s["app.prompt_hash"]) for s in spans if "app.prompt_hash" in s)


def test_contexts_grow_each_day(week: tuple[Path, dict]) -> None:
    out, _ = week
    means = [
        _usage(out, d).filter((pl.col("operation") == "chat") & (pl.col("attempt") == 1))["input_tokens"].mean()
        for d in DATES
    ]
    assert all(b > a for a, b in itertools.pairwise(means))
    assert 1.12 <= means[-1] / means[0] <= 1.27  # 1.03 ** 6 = 1.19


def test_cloud_bill(week: tuple[Path, dict]) -> None:
    out, _ = week
    categories: Counter[str] = Counter()
    for i, d in enumerate(DATES):
        rows = _csv(out / "focus" / d / "cloud_bill.csv")
        assert all(len(r["SubAccountId"]) == 12 and r["SubAccountId"].startswith("0") for r in rows)
        assert {r["SubAccountId"] for r in rows} == {"011111111111", "022222222222", "033333333333"}
        typed = pl.read_csv(out / "focus" / d / "cloud_bill.csv", infer_schema_length=0)
        assert typed["SubAccountId"].str.len_chars().unique().to_list() == [12]
        assert {r["ChargePeriodStart"] for r in rows} == {f"{d}T00:00:00Z"}
        categories.update(r["ChargeCategory"] for r in rows)

        gpu = {r["CommitmentDiscountStatus"]: r for r in rows if r["ResourceId"] == "gpu-cluster-llama"}
        assert set(gpu) == {"Used", "Unused"}
        assert gpu["Used"]["x_Provider"] == "self-hosted" and gpu["Used"]["x_Model"] == "llama-3.1-70b"
        assert "idle" in gpu["Unused"]["ChargeDescription"].lower()
        hours = {k: Decimal(r["ConsumedQuantity"]) for k, r in gpu.items()}
        assert hours["Used"] + hours["Unused"] == 192 and 0.15 <= hours["Unused"] / 192 <= 0.30
        (fee,) = [r for r in rows if r["ChargeCategory"] == "Purchase"]
        effective = sum(Decimal(r["EffectiveCost"]) for r in gpu.values())
        assert effective == Decimal(fee["BilledCost"]) and Decimal(fee["EffectiveCost"]) == 0

        bedrock = [r for r in rows if r["ServiceName"] == "Amazon Bedrock" and r["ChargeCategory"] == "Usage"]
        assert {r["SkuMeter"] for r in bedrock} == {"Input Tokens", "Output Tokens"}
        tokens = _logged_tokens(out, d).filter(pl.col("provider") == "aws")
        expected = sum(
            rec[b] * _rate("aws", rec["model"], b, d) for rec in tokens.iter_rows(named=True) for b in BUCKETS
        )
        assert sum(Decimal(r["BilledCost"]) for r in bedrock) == pytest.approx(
            expected * Decimal("0.97"), abs=Decimal("1e-6")
        )

        # Pinecone is invoiced monthly now (`test_invoices`), never on the cloud bill
        assert {r["ServiceProviderName"] for r in rows} == {"AWS", "Datadog"}
        assert not any(r["x_Provider"] == "pinecone" or "Pinecone" in r["ServiceName"] for r in rows)
        (datadog,) = [r for r in rows if r["ServiceProviderName"] == "Datadog"]
        llm_calls = _calls(out, d).filter(pl.col("operation") != "vector_query").height
        assert datadog["ConsumedQuantity"] == str(llm_calls)
        assert Decimal(datadog["BilledCost"]) == llm_calls * Decimal("0.0005")
        plain = [
            r for r in rows if r["ServiceName"] in {"Amazon EC2", "Amazon S3", "AWS Data Transfer"} and not r["x_Model"]
        ]
        plain = [r for r in plain if r["ChargeCategory"] == "Usage"]
        untagged = [r for r in plain if not r["Tags"]]
        assert len(untagged) / len(plain) == pytest.approx(0.4)
        assert all(set(json.loads(r["Tags"])) == {"team", "feature"} for r in plain if r["Tags"])
        if i % 2 == 0:
            assert any(r["ChargeCategory"] == "Tax" and Decimal(r["BilledCost"]) > 0 for r in rows)
        if i % 3 == 1:
            assert any(r["ChargeCategory"] == "Credit" and Decimal(r["BilledCost"]) < 0 for r in rows)
    assert categories["Tax"] and categories["Credit"] and categories["Purchase"] == DAYS


def _cost_results(out: Path, provider: str, date: str, name: str | None = None) -> list[dict]:
    """The results of a day's Admin API pages (the cost report, or the pages `name`), following `next_page` from the
    first page to the last."""
    folder, cost_name = {"openai": ("openai_api", "costs"), "anthropic": ("anthropic_api", "cost_report")}[provider]
    name = name or cost_name
    results, page, n = [], None, 1
    while True:
        page = json.loads((out / folder / date / f"{name}-{n:04d}.json").read_text(), parse_float=Decimal)
        assert page["object"] == "page"
        (bucket,) = page["data"]
        if provider == "openai":
            start = int(dt.datetime.fromisoformat(f"{date}T00:00:00+00:00").timestamp())
            assert (bucket["object"], bucket["start_time"], bucket["end_time"]) == ("bucket", start, start + 86_400)
        else:
            next_day = dt.date.fromisoformat(date) + dt.timedelta(days=1)
            assert (bucket["starting_at"], bucket["ending_at"]) == (f"{date}T00:00:00Z", f"{next_day}T00:00:00Z")
        results += bucket["results"]
        if not page["has_more"]:
            assert page["next_page"] is None
            break
        n += 1
        assert page["next_page"] == f"page_{n:04d}"
    assert sorted((out / folder / date).glob(f"{name}-*.json")) == [
        out / folder / date / f"{name}-{i:04d}.json" for i in range(1, n + 1)
    ]
    return results


@pytest.mark.parametrize(("provider", "factor"), [("openai", Decimal("0.92")), ("anthropic", Decimal("0.95"))])
def test_vendor_report_exceeds_logged_spend_by_unlogged_and_orphan(
    week: tuple[Path, dict], provider: str, factor: Decimal
) -> None:
    out, summary = week
    billed, orphan = Decimal(0), Decimal(0)
    logged_list = {False: Decimal(0), True: Decimal(0)}
    for d in DATES:
        results = _cost_results(out, provider, d)
        assert results
        if provider == "openai":
            assert {r["object"] for r in results} == {"organization.costs.result"}
            assert {r["amount"]["currency"] for r in results} == {"usd"} and {r["project_id"] for r in results} == {
                "proj_prod"
            }
            assert all(isinstance(r["amount"]["value"], Decimal) and r["quantity"] > 0 for r in results)
            assert len({(r["line_item"], r["api_key_id"]) for r in results}) == len(results)
            amounts = [(r["amount"]["value"], r["api_key_id"]) for r in results]
        else:  # cents as decimal strings, no API key: the key lines of a (model, token type) are one result
            assert {(r["currency"], r["cost_type"], r["workspace_id"]) for r in results} == {
                ("USD", "tokens", "wrkspc_prod")
            }
            assert all(r["description"] == f"{r['model']} usage - {r['token_type']}" for r in results)
            assert len({(r["model"], r["token_type"]) for r in results}) == len(results)
            amounts = [(Decimal(r["amount"]) / 100, None) for r in results]
        billed += sum(a for a, _ in amounts)
        orphan += sum(a for a, key in amounts if key == "key_orphan")
        for writes_1h in logged_list:
            tokens = _logged_tokens(out, d, writes_1h).filter(pl.col("provider") == provider)
            logged_list[writes_1h] += sum(
                rec[b] * _rate(provider, rec["model"], b, d) for rec in tokens.iter_rows(named=True) for b in BUCKETS
            )
    spend = summary["vendor_spend"][provider]
    assert spend["factor"] == factor
    assert billed == pytest.approx(summary["billed"][provider], abs=Decimal("1e-8"))
    assert billed == pytest.approx(spend["billed"], abs=Decimal("1e-8"))
    # the logged spend as the files show it: exact but for the TTL of the OTLP agent's cache writes
    assert logged_list[False] <= spend["logged_list"] <= logged_list[True]
    assert logged_list[True] - logged_list[False] < Decimal("0.02") * spend["logged_list"]
    if provider == "openai":
        assert logged_list[False] == pytest.approx(spend["logged_list"], abs=Decimal("1e-8"))
    assert spend["logged"] == pytest.approx(spend["logged_list"] * factor, abs=Decimal("1e-8"))
    gap = billed - spend["logged_list"] * factor
    assert gap == pytest.approx(spend["unlogged"] + spend["orphan"], abs=Decimal("1e-8"))
    if provider == "openai":  # Anthropic's cost report has no API key: the orphan share is only in the summary
        assert orphan == pytest.approx(spend["orphan"], abs=Decimal("1e-8"))
    assert 0 < spend["unlogged"] < Decimal("0.01") * billed
    assert 0.007 <= spend["orphan"] / billed <= 0.013


def test_usage_pages_count_every_call_the_vendor_billed(week: tuple[Path, dict]) -> None:
    """OpenAI's usage pages hold, per model and key, the tokens its cost report bills (calls never logged and the
    orphan key included), and about 3 % more key_search calls than were logged; Anthropic's report has no
    request counts but the same tokens as its bill."""
    out, _ = week
    served_requests = logged_requests = 0
    for d in DATES:
        usage = _cost_results(out, "openai", d, "completions") + _cost_results(out, "openai", d, "embeddings")
        billed: dict[tuple, int] = defaultdict(int)
        for r in _cost_results(out, "openai", d):
            model, component = r["line_item"].split(", ")
            billed[(model, r["api_key_id"], "output" if component == "output" else "input")] += r["quantity"]
        counted: dict[tuple, int] = defaultdict(int)
        for r in usage:
            counted[(r["model"], r["api_key_id"], "input")] += r["input_tokens"]
            counted[(r["model"], r["api_key_id"], "output")] += r.get("output_tokens", 0)
        assert {k: v for k, v in counted.items() if v} == billed
        assert {r["project_id"] for r in usage} == {"proj_prod"}
        served_requests += sum(r["num_model_requests"] for r in usage if r["api_key_id"] == UNLOGGED_KEY)
        calls = _usage(out, d).filter((pl.col("api_key_id") == UNLOGGED_KEY) & (pl.col("provider") == "openai"))
        logged_requests += calls.height
        messages = _cost_results(out, "anthropic", d, "messages")
        assert "key_orphan" in {r["api_key_id"] for r in messages}
        assert all("num_model_requests" not in r for r in messages)
    assert 0.015 <= (served_requests - logged_requests) / logged_requests <= 0.045


def test_invoices(week: tuple[Path, dict]) -> None:
    """Pinecone bills the week's read units; the human-review vendor and the GPU cloud bill all of November."""
    out, summary = week
    rows = _csv(out / "invoices" / f"{START:%Y-%m}.csv")
    assert list(rows[0]) == [
        "vendor", "invoice_id", "period_start", "period_end", "description", "amount", "currency", "quantity", "unit",
        "category", "provider",
    ]  # fmt: skip
    lines = {r["vendor"]: r for r in rows}
    assert set(lines) == {"Pinecone", "LabelForce", "Nimbus GPU Cloud"} and len(rows) == 3
    assert [(r["period_start"], r["period_end"], r["currency"]) for r in rows] == [
        (DATES[0], DATES[-1], "USD"),
        ("2026-11-01", "2026-11-30", "USD"),
        ("2026-11-01", "2026-11-30", "USD"),
    ]
    assert all(re.fullmatch(r"\d+\.\d\d", r["amount"]) for r in rows)
    queries = sum(_calls(out, d).filter(pl.col("operation") == "vector_query").height for d in DATES)
    read_units = queries * 10  # the week's vector queries
    pinecone = lines["Pinecone"]
    assert (pinecone["provider"], pinecone["category"], pinecone["unit"]) == ("pinecone", "vector_db", "Read Units")
    assert int(pinecone["quantity"]) == read_units
    assert Decimal(pinecone["amount"]) == (read_units * Decimal("0.000016")).quantize(Decimal("0.01"))
    assert (lines["LabelForce"]["amount"], lines["LabelForce"]["category"]) == ("4500.00", "human_review")
    gpu = lines["Nimbus GPU Cloud"]
    assert (gpu["quantity"], gpu["amount"], gpu["provider"]) == ("1440", "3585.60", "self-hosted")
    assert summary["billed"]["invoices"] == sum(Decimal(r["amount"]) for r in rows)


def test_pinecone_bills_week_by_week_within_the_month() -> None:
    days = [dt.date(2026, 11, 20) + dt.timedelta(days=i) for i in range(11)]
    lines = invoice_lines(dt.date(2026, 11, 1), {d: 100 for d in days})
    periods = [(r["period_start"], r["period_end"], r["quantity"]) for r in lines if r["vendor"] == "Pinecone"]
    assert periods == [("2026-11-20", "2026-11-26", "7000"), ("2026-11-27", "2026-11-30", "4000")]


def test_a_large_day_is_written_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day of 2.4 chunks comes out as three Parquet parts, drawn as three frames, never one frame of the day.

    The chunk size is scaled down 100-fold (250k -> 2.5k calls) to keep the test fast; the code path is the same.
    """
    assert sample_data.CHUNK_ROWS == 250_000
    chunk_rows, calls = 2_500, 6_000
    monkeypatch.setattr(sample_data, "CHUNK_ROWS", chunk_rows)
    frames: list[int] = []

    def spy(spec: ChunkSpec, con: object) -> pl.DataFrame:
        frame = generate_chunk(spec, con)
        frames.append(frame.height)
        return frame

    monkeypatch.setattr(sample_data, "generate_chunk", spy)
    summary = generate(tmp_path, start=START, days=1, calls_per_day=calls, usage_format="parquet")
    assert frames == [2_500, 2_500, 1_000]
    date = START.isoformat()
    parts = sorted((tmp_path / "usage" / date).glob("*.parquet"))
    assert [p.name for p in parts] == ["part-0000.parquet", "part-0001.parquet", "part-0002.parquet"]
    rows = [pl.scan_parquet(p).select(pl.len()).collect().item() for p in parts]
    assert all(r < chunk_rows for r in rows)
    spans = (tmp_path / "otlp" / date / "spans.jsonl").read_bytes().count(b'"spanId":')
    bedrock = sorted((tmp_path / BEDROCK_DIR).rglob("*.json.gz"))
    assert {p.name.removesuffix(".json.gz")[-4:] for p in bedrock} == {"0000", "0001", "0002"}  # hour x chunk
    counts = summary["calls_per_day"][date]
    assert (counts["usage_rows"], counts["otlp_spans"]) == (sum(rows), spans)
    logs = sum(len(gzip.decompress(p.read_bytes()).splitlines()) for p in bedrock)
    assert counts["bedrock_logs"] == logs
    assert sum(v for k, v in counts.items() if k != "logged") == counts["logged"] == calls
    schema = pl.read_parquet_schema(parts[0])
    assert list(schema) == column_names(USAGE_EVENTS)
    assert schema["event_time"] == pl.Datetime("ms", "UTC")


def test_langfuse_and_bedrock_records_of_retries_carry_the_attempt_that_the_demo_config_maps(
    week: tuple[Path, dict],
) -> None:
    out, _ = week
    demo = {s["name"]: s for s in yaml.safe_load((REPO / "apportion.yaml").read_text())["sources"]}
    date = DATES[0]
    bedrock_files = sorted((out / BEDROCK_DIR / date.replace("-", "/")).glob("*/*.json.gz"))[:2]  # a buffer per file
    for kind, files, options in (
        (LANGFUSE_OBSERVATIONS, [out / "langfuse" / date / "observations.jsonl"], demo["research_traces"]["options"]),
        (BEDROCK_INVOCATION_LOGS, bedrock_files, demo["bedrock_logs"]["options"]),
    ):
        staged, rejected = stage(kind, files, options)
        attempts = pl.DataFrame(staged)["attempt"]
        assert rejected == [] and set(attempts.drop_nulls()) == {2}, kind.name
        assert 0.03 <= attempts.is_not_null().mean() <= 0.15, kind.name
