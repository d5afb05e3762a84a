"""One chunk of model calls, drawn with numpy and assembled with polars: no Python loop per call.

A chunk is a slice of one day's traffic (by the diurnal curve), so chunks written in order give a file
that is roughly in time order. About 55 % of a chunk's rows come from agent workflows (one trace per user
action, steps as child spans of the trace's root span), the rest from single calls of the features.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

import duckdb
import numpy as np
import polars as pl

from assets.schemas import USAGE_EVENTS, column_names
from sample_data import universe as u

WORKFLOW_ROW_SHARE = 0.55
ROWS_PER_TRACE = 8.0
"""Mean rows of a workflow trace (6 fixed steps, 1.3 tool calls, retries)."""
DAY_MS = 86_400_000

_PROVIDER = [m.provider for m in u.MODELS]
_MODEL = [m.name for m in u.MODELS]
_OPERATION = [m.operation for m in u.MODELS]
_TIER = [m.service_tier for m in u.MODELS]
_PREFIX = [m.request_prefix for m in u.MODELS]
_LAT_BASE = np.array([m.latency_base_ms for m in u.MODELS])
_LAT_PER_TOKEN = np.array([m.latency_per_output_token_ms for m in u.MODELS])
_REASONING = np.array([m.reasoning_share for m in u.MODELS])
_OPENAI_CACHE = np.array([m.caching == "openai" for m in u.MODELS])
_ANTHROPIC_CACHE = np.array([m.caching == "anthropic" for m in u.MODELS])
_FEATURE_TEAM = np.array([u.TEAMS.index(f.team) for f in u.FEATURES])
_FEATURE_HAS_CUSTOMER = np.array([f.has_customer for f in u.FEATURES])
_FEATURE_MEANS = np.array([(f.mean_input, f.mean_output) for f in u.FEATURES])
_AGENT_FEATURE = np.array([u.F[a.feature] for a in u.AGENTS])
_AGENT_WEIGHTS = np.array([a.weight for a in u.AGENTS])
_STEP_MODEL = u.step_model_table()
_STEP_MEANS = u.step_means()
# standalone calls draw one (feature, model) option
_OPTIONS = [(u.F[f.name], u.M[m], f.standalone_weight * w) for f in u.FEATURES for m, w in f.models]
_OPTION_FEATURE = np.array([o[0] for o in _OPTIONS])
_OPTION_MODEL = np.array([o[1] for o in _OPTIONS])
_OPTION_P = np.array([o[2] for o in _OPTIONS]) / sum(o[2] for o in _OPTIONS)
_HOUR_CDF = np.concatenate([[0.0], np.cumsum(u.HOURLY_WEIGHTS) / u.HOURLY_WEIGHTS.sum()])
_HOUR_EDGES_MS = np.arange(25) * 3_600_000.0


@dataclass(frozen=True)
class ChunkSpec:
    seed: int
    day: dt.date
    day_offset: int
    """Days since the generator's start: drives context growth and seeds the chunk's random stream."""
    chunk: int
    rows: int
    traffic_from: float
    """The chunk covers this share of the day's traffic curve up to `traffic_to`."""
    traffic_to: float


def _lookup(values: list[str | None], idx: np.ndarray) -> pl.Series:
    """`values[idx]` as a string Series; a negative index gives null."""
    table = pl.Series(values=[*values, None], dtype=pl.String)
    return table.gather(np.where(idx < 0, len(values), idx))


def _hex_ids(rng: np.random.Generator, n: int, nbytes: int) -> pl.Series:
    hexed = rng.bytes(n * nbytes).hex().encode("ascii")
    return pl.Series(values=np.frombuffer(hexed, dtype=f"S{2 * nbytes}")).cast(pl.String)


def _sha256(con: duckdb.DuckDBPyConnection, ids: pl.Series) -> pl.Series:
    con.register("prompt_ids", ids.alias("s").to_frame())
    try:
        return con.sql("select sha256(s) as h from prompt_ids").pl()["h"]
    finally:
        con.unregister("prompt_ids")


def _near_duplicates(
    con: duckdb.DuckDBPyConnection,
    spec: ChunkSpec,
    pooled: np.ndarray,
    pool_key: np.ndarray,
    is_vector: np.ndarray,
    prompt: pl.Series,
) -> tuple[pl.Series, pl.Series]:
    """Planted near duplicates: a share of the recurring prompts come back reworded, as one of a few variants with
    their own prompt hash and a SimHash `u.near_flips` bits from the original's; every other prompt has a random
    SimHash (about 32 bits from any other). Returns the prompt hashes and the SimHashes (null for vector queries).
    Drawn from their own random stream, so the rest of the chunk is the same with or without them."""
    rng = np.random.default_rng([spec.seed, 5, spec.day_offset, spec.chunk])
    n_calls = len(pooled)
    near = np.flatnonzero(pooled & (rng.random(n_calls) < u.NEAR_DUPLICATE_SHARE))
    variant = rng.integers(0, u.NEAR_VARIANTS, size=len(near))
    variant_ids = pl.Series(values=pool_key[near] * u.NEAR_VARIANTS + variant).cast(pl.String)
    prompt = prompt.scatter(near, _sha256(con, "near/" + variant_ids))
    simhash = np.where(pooled, u.pool_simhashes()[pool_key], rng.integers(0, 2**64, size=n_calls, dtype=np.uint64))
    simhash[near] ^= u.near_flips(pool_key[near], variant)
    return prompt, pl.Series(values=simhash, dtype=pl.UInt64).scatter(np.flatnonzero(is_vector), None)


def _lognormal(rng: np.random.Generator, mean: np.ndarray, sigma: float) -> np.ndarray:
    """Draws with the given means (not medians)."""
    return mean * rng.lognormal(-(sigma**2) / 2, sigma, size=mean.shape)


def _retry_flags(rng: np.random.Generator, is_call: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(retried, failed-without-retry) per logical call; only model calls fail, vector queries don't."""
    draw = rng.random(is_call.shape)
    retried = is_call & (draw < u.RETRY_SHARE)
    failed = is_call & ~retried & (draw < u.RETRY_SHARE + u.FAIL_SHARE)
    return retried, failed


@dataclass
class _Logical:
    """Logical calls (a retried call is one logical call, two rows), sorted by trace then step."""

    trace: np.ndarray
    model: np.ndarray
    mean_in: np.ndarray
    mean_out: np.ndarray
    retried: np.ndarray
    failed: np.ndarray

    def __add__(self, other: _Logical) -> _Logical:
        return _Logical(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)))


def _workflows(rng: np.random.Generator, rows: int) -> tuple[_Logical, np.ndarray]:
    """Workflow traces filling about `WORKFLOW_ROW_SHARE` of `rows` and never more than `rows`."""
    n = int(rows * WORKFLOW_ROW_SHARE / ROWS_PER_TRACE)
    agent = rng.choice(len(u.AGENTS), size=n, p=_AGENT_WEIGHTS)
    tools = rng.choice(len(u.TOOL_COUNT_P), size=n, p=u.TOOL_COUNT_P)
    trace_parts, step_parts = [], []
    for s, step in enumerate(u.STEPS):
        has_step = tools >= int(step[-1]) if step.startswith("tool") else np.ones(n, dtype=bool)
        trace_parts.append(np.flatnonzero(has_step))
        step_parts.append(np.full(int(has_step.sum()), s))
    trace, step = np.concatenate(trace_parts), np.concatenate(step_parts)
    order = np.lexsort((step, trace))
    trace, step = trace[order], step[order]
    model = _STEP_MODEL[agent[trace], step]
    retried, failed = _retry_flags(rng, model != u.VECTOR_QUERY)
    kept_traces = int(np.searchsorted(np.cumsum(np.bincount(trace, 1 + retried, n)), rows, side="right"))
    keep = trace < kept_traces
    calls = _Logical(trace[keep], model[keep], *_STEP_MEANS[step[keep]].T, retried[keep], failed[keep])
    return calls, agent[:kept_traces]


def _standalone(rng: np.random.Generator, rows: int, first_trace: int) -> tuple[_Logical, np.ndarray]:
    """Single calls of the features filling exactly `rows` rows (retried calls take two)."""
    option = rng.choice(len(_OPTIONS), size=rows, p=_OPTION_P)
    model = _OPTION_MODEL[option]
    retried, failed = _retry_flags(rng, model != u.VECTOR_QUERY)
    cum = np.cumsum(1 + retried)
    n = int(np.searchsorted(cum, rows, side="right"))
    if (cum[n - 1] if n else 0) < rows:  # one row short: the next call is a retried one, take it unretried
        retried[n] = False
        n += 1
    feature = _OPTION_FEATURE[option[:n]]
    calls = _Logical(first_trace + np.arange(n), model[:n], *_FEATURE_MEANS[feature].T, retried[:n], failed[:n])
    return calls, feature


def generate_chunk(spec: ChunkSpec, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """`spec.rows` usage events with the columns of `USAGE_EVENTS`, sorted by event time."""
    rng = np.random.default_rng([spec.seed, 0, spec.day_offset, spec.chunk])

    wf, wf_agent = _workflows(rng, spec.rows)
    wf_rows = len(wf.trace) + int(wf.retried.sum())
    sa, sa_feature = _standalone(rng, spec.rows - wf_rows, len(wf_agent))
    calls = wf + sa
    n_traces, n_calls = len(wf_agent) + len(sa_feature), len(calls.trace)

    # per trace
    trace_agent = np.concatenate([wf_agent, np.full(len(sa_feature), -1)])
    trace_feature = np.concatenate([_AGENT_FEATURE[wf_agent], sa_feature])
    trace_customer = rng.choice(u.N_CUSTOMERS, size=n_traces, p=u.CUSTOMER_WEIGHTS)
    trace_customer[~_FEATURE_HAS_CUSTOMER[trace_feature]] = -1
    trace_ids = _hex_ids(rng, n_traces, 16)
    root_spans = _hex_ids(rng, n_traces, 8).scatter(np.flatnonzero(trace_agent < 0), None)

    # per logical call: tokens
    model = calls.model
    is_vector = model == u.VECTOR_QUERY
    growth = u.DAILY_INPUT_GROWTH**spec.day_offset
    inp = np.where(calls.mean_in > 0, np.maximum(1, np.rint(_lognormal(rng, calls.mean_in * growth, 0.6))), 0)
    out = np.where(calls.mean_out > 0, np.maximum(1, np.rint(_lognormal(rng, calls.mean_out, 0.5))), 0)
    share = rng.uniform(0.3, 0.9, size=(3, n_calls))
    draw = rng.random((4, n_calls))
    openai_hit = _OPENAI_CACHE[model] & (inp >= 1024) & (draw[0] < 0.35)
    anthropic_hit = _ANTHROPIC_CACHE[model] & (draw[0] < 0.45)
    cache_read = np.where(openai_hit, np.floor(inp * share[0] / 128) * 128, 0)
    cache_read = np.where(anthropic_hit, np.floor(inp * share[0]), cache_read)
    writes = _ANTHROPIC_CACHE[model] & (draw[1] < 0.12)
    cache_write = np.where(writes, np.floor((inp - cache_read) * share[1]), 0)
    cache_write_1h = np.where(writes & (draw[2] < 0.3), cache_write, 0)
    reasoning = np.where(draw[3] < _REASONING[model], np.floor(out * share[2]), 0)

    # prompts: a recurring one from the pool, a fresh one, or none for vector queries
    pooled = ~is_vector & (rng.random(n_calls) < u.REPEAT_SHARE)
    pool_key = (trace_feature[calls.trace] * len(u.MODELS) + model) * u.POOL_PER_FEATURE_MODEL
    pool_key += rng.integers(0, u.POOL_PER_FEATURE_MODEL, size=n_calls)
    prompt = _lookup(list(u.pool_hashes()), np.where(pooled, pool_key, -1))
    fresh = np.flatnonzero(~is_vector & ~pooled)
    fresh_ids = pl.Series(values=fresh).cast(pl.String)
    prefix = f"prompt/{spec.seed}/{spec.day.isoformat()}/{spec.chunk}/"
    prompt = prompt.scatter(fresh, _sha256(con, prefix + fresh_ids))
    prompt, simhash = _near_duplicates(con, spec, pooled, pool_key, is_vector, prompt)
    error_kind = rng.choice(len(u.ERROR_TYPES), size=n_calls, p=u.ERROR_P)

    # rows: a retried call is attempt 1 (error) then attempt 2 (ok)
    reps = 1 + calls.retried
    c = np.repeat(np.arange(n_calls), reps)
    n_rows = len(c)
    attempt = np.arange(n_rows) - np.repeat(np.cumsum(reps) - reps, reps) + 1
    error = (calls.retried[c] & (attempt == 1)) | calls.failed[c]
    m, trace = model[c], calls.trace[c]
    out_rows = np.where(error, 0, out[c])

    latency = (_LAT_BASE[m] + _LAT_PER_TOKEN[m] * out_rows + 0.01 * inp[c]) * rng.lognormal(0, 0.25, n_rows)
    error_latency = np.choose(
        error_kind[c],
        [rng.uniform(20, 200, n_rows), rng.uniform(30_000, 60_000, n_rows), rng.uniform(200, 3_000, n_rows)],
    )
    latency = np.round(np.where(error, error_latency, latency), 1)

    # times: steps run one after the other; a whole trace ends before midnight
    gap = np.where(calls.retried[c] & (attempt == 1), rng.uniform(500, 3_000, n_rows), rng.uniform(5, 60, n_rows))
    duration = latency + gap
    before = np.cumsum(duration) - duration
    first_row = np.searchsorted(trace, np.arange(n_traces))
    offset = before - before[first_row][trace]
    trace_ms = np.bincount(trace, duration, n_traces)
    start = np.interp(rng.uniform(spec.traffic_from, spec.traffic_to, n_traces), _HOUR_CDF, _HOUR_EDGES_MS)
    start = np.clip(np.minimum(start, DAY_MS - trace_ms - 1), 0, None)
    day_ms = int(dt.datetime.combine(spec.day, dt.time(), dt.UTC).timestamp() * 1000)
    event_ms = day_ms + np.floor(start[trace] + offset).astype(np.int64)

    feature = trace_feature[trace]
    team = _FEATURE_TEAM[feature]
    agent = trace_agent[trace]
    tokens = {
        "input_tokens": inp[c],
        "cache_read_tokens": cache_read[c],
        "cache_write_tokens": cache_write[c],
        "cache_write_1h_tokens": cache_write_1h[c],
        "output_tokens": out_rows,
        "reasoning_tokens": np.where(error, 0, reasoning[c]),
    }
    frame = pl.DataFrame(
        {
            "event_time": pl.Series(values=event_ms).cast(pl.Datetime("ms", "UTC")),
            "request_id": _lookup(_PREFIX, m) + _hex_ids(rng, n_rows, 12),
            "trace_id": trace_ids.gather(trace),
            "span_id": _hex_ids(rng, n_rows, 8),
            "parent_span_id": root_spans.gather(trace),
            "provider": _lookup(_PROVIDER, m),
            "model": _lookup(_MODEL, m),
            "operation": _lookup(_OPERATION, m),
            "service_tier": _lookup(_TIER, m),
            **{
                name: pl.Series(values=v.astype(np.int64)).scatter(np.flatnonzero(is_vector[c]), None)
                for name, v in tokens.items()
            },
            "request_count": np.ones(n_rows, dtype=np.int64),
            "status": _lookup(["ok", "error"], error.astype(np.int64)),
            "error_type": _lookup(list(u.ERROR_TYPES), np.where(error, error_kind[c], -1)),
            "attempt": attempt.astype(np.int32),
            "api_key_id": _lookup([u.API_KEYS[t] for t in u.TEAMS], team),
            "team": _lookup(list(u.TEAMS), team),
            "feature": _lookup([f.name for f in u.FEATURES], feature),
            "customer": _lookup(list(u.CUSTOMERS), trace_customer[trace]),
            "agent": _lookup([a.name for a in u.AGENTS], agent),
            "workflow": _lookup([a.workflow for a in u.AGENTS], agent),
            "prompt_hash": prompt.gather(c),
            "prompt_simhash": simhash.gather(c),
            "latency_ms": latency,
            "model_ref": pl.repeat(None, n_rows, dtype=pl.String, eager=True),
            "web_search_requests": pl.repeat(None, n_rows, dtype=pl.Int64, eager=True),
            "usage_flag": pl.repeat(None, n_rows, dtype=pl.String, eager=True),
        }
    )
    return frame.select(column_names(USAGE_EVENTS)).sort("event_time", maintain_order=True)


def token_totals(frame: pl.DataFrame) -> pl.DataFrame:
    """Billable quantities per (provider, model, api key) in disjoint token buckets, plus request counts."""
    return frame.group_by("provider", "model", "api_key_id").agg(
        uncached_input=(pl.col("input_tokens") - pl.col("cache_read_tokens") - pl.col("cache_write_tokens")).sum(),
        cache_read=pl.col("cache_read_tokens").sum(),
        cache_write_5m=(pl.col("cache_write_tokens") - pl.col("cache_write_1h_tokens")).sum(),
        cache_write_1h=pl.col("cache_write_1h_tokens").sum(),
        output=pl.col("output_tokens").sum(),
        requests=pl.col("request_count").sum(),
    )
