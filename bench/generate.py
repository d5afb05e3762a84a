"""Benchmark data for one day, written by DuckDB from `range()` in seconds: N calls as canonical usage Parquet
(with a SimHash on a share of them and planted near-duplicate prompts) and M cost lines as a FOCUS Parquet bill
(LLM vendor lines per model and key, tagged and untagged cloud lines).
Deterministic: every value is a hash of the row number."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from assets.sql import connect

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-4-5"),
    ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
]
TEAMS = ["search", "support", "sales", "platform", "research", "growth"]
PROMPTS = 50_000
"""Distinct prompts (hashes) of the calls."""
NEAR_PROMPTS = 5_000
"""The last of them are each a near duplicate of one of the first: its SimHash with one bit flipped."""
SIMHASH_TENTHS = 4
"""Tenths of the calls whose source writes a SimHash."""


def _list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def write_usage(path: Path, day: date, calls: int, files: int = 4) -> None:
    """`calls` calls over the day in `files` Parquet files."""
    path.mkdir(parents=True, exist_ok=True)
    providers = _list([p for p, _ in MODELS])
    models = _list([m for _, m in MODELS])
    with connect(threads=2) as con:
        for part in range(files):
            lo, hi = part * calls // files, (part + 1) * calls // files
            con.execute(
                f"""
                copy (
                    with r as (select i, hash(i) as h from range({lo}, {hi}) t(i))
                    select
                        $day::timestamptz + to_microseconds((h % 86400000000)::bigint) as event_time,
                        'req-' || i as request_id,
                        md5((i // 6)::varchar) as trace_id,
                        substr(md5(i::varchar), 1, 16) as span_id,
                        null::varchar as parent_span_id,
                        {providers}[(1 + (h >> 8) % {len(MODELS)})::bigint] as provider,
                        {models}[(1 + (h >> 8) % {len(MODELS)})::bigint] as model,
                        'chat' as operation,
                        null::varchar as service_tier,
                        (200 + (h >> 16) % 6000)::bigint as input_tokens,
                        ((h >> 16) % 6000 // 3)::bigint as cache_read_tokens,
                        0::bigint as cache_write_tokens,
                        0::bigint as cache_write_1h_tokens,
                        (20 + (h >> 24) % 800)::bigint as output_tokens,
                        0::bigint as reasoning_tokens,
                        1::bigint as request_count,
                        case when (h >> 32) % 100 < 5 then 'error' else 'ok' end as status,
                        case when (h >> 32) % 100 < 5 then 'rate_limit' end as error_type,
                        case when (h >> 32) % 100 < 7 then 2 else 1 end::integer as attempt,
                        'key_' || {_list(TEAMS)}[(1 + (h >> 40) % {len(TEAMS)})::bigint] as api_key_id,
                        {_list(TEAMS)}[(1 + (h >> 40) % {len(TEAMS)})::bigint] as team,
                        'feature_' || (h >> 44) % 12 as feature,
                        'cust_' || lpad(((h >> 48) % 150)::varchar, 4, '0') as customer,
                        'agent_' || (h >> 52) % 4 as agent,
                        'workflow_' || (h >> 52) % 4 as workflow,
                        md5(((h >> 12) % {PROMPTS})::varchar) as prompt_hash,
                        case when (h >> 36) % 10 < {SIMHASH_TENTHS} then
                            case when (h >> 12) % {PROMPTS} >= {PROMPTS - NEAR_PROMPTS}
                                -- a near duplicate of prompt p - NEAR_PROMPTS: its SimHash with one bit flipped
                                then xor(
                                    hash((h >> 12) % {PROMPTS} - {PROMPTS - NEAR_PROMPTS}),
                                    1::ubigint << ((h >> 12) % 64)::ubigint
                                )
                                else hash((h >> 12) % {PROMPTS})
                            end
                        end as prompt_simhash,
                        (100 + (h >> 20) % 4000)::double as latency_ms
                    from r
                ) to '{path / f"part-{part:04d}.parquet"}' (format parquet, compression zstd)
                """,
                {"day": day},
            )


def write_bill(path: Path, day: date, lines: int) -> None:
    """`lines` FOCUS cost lines for the day: one per (model, key, meter) for the LLM vendors, the rest cloud
    resources, two thirds of them tagged with a team."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = _list(["key_" + t for t in TEAMS])
    with connect(threads=2) as con:
        con.execute(
            f"""
            copy (
                with llm as (
                    select m.provider, m.model, k.key, meter.meter
                    from (select unnest({_list([p for p, _ in MODELS])}) as provider,
                                 unnest({_list([m for _, m in MODELS])}) as model) m
                    cross join (select unnest({keys}) as key) k
                    cross join (select unnest(['Input Tokens', 'Output Tokens']) as meter) meter
                ),
                cloud as (select i, hash(i) as h from range({lines} - (select count(*) from llm)) t(i))
                select
                    (1 + hash(model || key || meter) % 500000 / 100.0)::decimal(38, 10)::varchar as BilledCost,
                    (1 + hash(model || key || meter) % 500000 / 100.0)::decimal(38, 10)::varchar as EffectiveCost,
                    'USD' as BillingCurrency, 'Usage' as ChargeCategory,
                    $day::varchar || 'T00:00:00Z' as ChargePeriodStart,
                    ($day + 1)::varchar || 'T00:00:00Z' as ChargePeriodEnd,
                    provider as ServiceProviderName, provider || ' API' as ServiceName, meter as SkuMeter,
                    '044444444444' as SubAccountId, null as Tags,
                    provider as x_Provider, model as x_Model, case when provider <> 'aws' then key end as x_ApiKeyId
                from llm
                union all
                select
                    ((h % 100000) / 10000.0)::decimal(38, 10)::varchar,
                    ((h % 100000) / 10000.0)::decimal(38, 10)::varchar,
                    'USD', 'Usage', $day::varchar || 'T00:00:00Z', ($day + 1)::varchar || 'T00:00:00Z',
                    'AWS', ['Amazon EC2', 'Amazon S3', 'AWS Data Transfer'][(1 + (h >> 8) % 3)::bigint],
                    'meter-' || (h >> 12) % 40,
                    ['011111111111', '022222222222', '033333333333'][(1 + (h >> 16) % 3)::bigint],
                    case when (h >> 20) % 3 < 2
                        then '{{"team": "' || {_list(TEAMS)}[(1 + (h >> 24) % {len(TEAMS)})::bigint] || '"}}' end,
                    null, null, null
                from cloud
            ) to '{path}' (format parquet, compression zstd)
            """,
            {"day": day},
        )
