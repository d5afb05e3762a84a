"""AI lines of cloud bills through every layer (`apportion run`: staging, pricing, allocation, marts, FOCUS exports,
insight marts): the FinOps Foundation's published FOCUS AI billing examples (tests/fixtures/real/focus_ai, see
SOURCES.md) and CUR 2.0 / Azure EA / GCP files with AI meters built in the formats of the shared samples
(tests/fixtures/ai_bills). Per line: provider, model, catalog model, token type, tier, tokens, category and
consumer; per source and day: the file's own amount (its lines' shares of the day, computed here with integers)
reconciled to the 1e-10 in reconciliation, fact_cost and both FOCUS exports."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from assets.sql import connect

REPO = Path(__file__).resolve().parents[2]
FOCUS_AI = REPO / "tests" / "fixtures" / "real" / "focus_ai"
AI_BILLS = REPO / "tests" / "fixtures" / "ai_bills"
UNIT = Decimal("1e-10")

# (provider, model, catalog model, token type, tier, tokens on the day, category, consumer) per row of each file
Line = tuple[str | None, str | None, str | None, str | None, str | None, Decimal | None, str, str | None]


def _focus(provider: str, model: str, token_type: str, tokens: int, key: str | None, days: int = 31) -> Line:
    return (provider, model, None, token_type, None, _share(Decimal(tokens), days), "inference", key)


def _share(amount: Decimal, days: int) -> Decimal:
    """The first day's part of an amount spread evenly over `days` (staging's day_share, in units of 1e-10)."""
    return Decimal(int(amount / UNIT) // days) * UNIT


FOCUS_MAY: dict[str, list[Line]] = {
    "per_token_ai_model_api": [
        _focus("solora-ai", "solora-saturn-4.8", "input", 8_400_000, "key_01SOLORAPERSON1"),
        _focus("solora-ai", "solora-saturn-4.8", "output", 2_100_000, "key_01SOLORAPERSON1"),
    ],
    "cached_tokens_via_csp_marketplace": [
        _focus("solora-ai", "solora-neptune-5.0", "cache_read", 50_000_000, "key_03AURACTO"),
        _focus("solora-ai", "solora-neptune-5.0", "cache_write", 15_000_000, "key_03AURACTO"),
    ],
    "csp_served_third_party_model": [
        _focus("aura-web", "aura-web.solora-jupiter-5", "input", 3_000_000, "key_04AURAAP"),
        _focus("aura-web", "aura-web.solora-jupiter-5", "output", 500_000, "key_04AURAAP"),
    ],
    "drawdown_via_prepayment_ai_model_api": [
        ("solora-ai", None, None, None, None, None, "inference", None),  # the token commitment bought
        _focus("solora-ai", "solora-saturn-5.0", "input", 5_000_000, "key_05SOLORASUPPLY"),
        _focus("solora-ai", "solora-saturn-5.0", "output", 1_500_000, "key_05SOLORASUPPLY"),
    ],
    "multi_model_usage": [
        _focus("solora-ai", "solora-atlas-5.5", "input", 10_000_000, "key_02SOLORAATLAS"),
        _focus("solora-ai", "solora-atlas-5.5", "output", 2_000_000, "key_02SOLORAATLAS"),
        _focus("solora-ai", "solora-atlas-5.4-mini", "input", 3_000_000, "key_02SOLORAATLAS"),
        _focus("solora-ai", "solora-atlas-5.4-mini", "output", 500_000, "key_02SOLORAATLAS"),
    ],
    "multi_model_invoice_via_csp_marketplace": [
        _focus("solora-ai", f"solora-atlas-5.6-{m}", t, n, "key_06LATTICEINV")
        for m, t, n in (
            ("jupiter", "input", 100_000_000),
            ("jupiter", "output", 50_000_000),
            ("mars", "input", 5_000_000),
            ("mars", "output", 1_500_000),
            ("venus", "input", 750_000),
            ("venus", "output", 250_000),
            ("venus", "cache_read", 100_000),
            ("venus", "cache_write", 80_000),
        )
    ],
}
FOCUS_JAN: dict[str, list[Line]] = {
    "ai_prompt_caching_a": [
        _focus("solora-ai", "solora-reasoning-pro", t, n, None)
        for t, n in (("input", 500_000), ("cache_write", 2_000_000), ("cache_read", 8_000_000), ("output", 1_500_000))
    ],
    "ai_model_identity_a": [  # no TokenDirection in SkuPriceDetails: the token type comes from SkuMeter
        _focus("solora-ai", "solora-reasoning-pro", "input", 5_000_000, None),
        _focus("solora-ai", "solora-reasoning-pro", "output", 1_500_000, None),
    ],
}

INVOICE = "multi_model_invoice_via_csp_marketplace"
OWNED_KEYS = {"key_01SOLORAPERSON1": "research", "key_06LATTICEINV": "finance"}
"""The owner file of the test maps two of the examples' API keys (CredentialId) to teams."""

SONNET = "regional.anthropic.claude-3-5-sonnet-20240620-v1:0"
ROLE = "arn:aws:iam::444455556666:role/"
M = Decimal(1_000_000)
CLOUD: dict[str, list[Line]] = {
    "cur2_bedrock": [
        ("aws", "Claude3.5Sonnet", SONNET, "input", None, 2 * M, "inference", ROLE + "search-api"),
        ("aws", "Claude3.5Sonnet", SONNET, "output", None, Decimal("0.1") * M, "inference", ROLE + "search-api"),
        ("aws", "Claude3.5Sonnet", SONNET, "cache_read", None, 5 * M, "inference", ROLE + "support-bot"),
        ("aws", "Claude3.5Sonnet", SONNET, "input", "batch", 4 * M, "inference", ROLE + "research-batch"),
        ("aws", "TitanEmbeddingsV2-Text", None, "input", None, 10 * M, "embeddings", ROLE + "search-api"),
        ("aws", "claude-3.5-sonnet", SONNET, "input", None, None, "inference", ROLE + "search-api"),  # Marketplace
        ("aws", None, None, None, None, None, "other", None),  # EC2
    ],
    "azure_openai_ea": [
        ("azure", "gpt-4o", "gpt-4o", "input", None, Decimal(1_500_000), "inference", None),
        ("azure", "gpt-4o", "gpt-4o", "output", None, Decimal(200_000), "inference", None),
        ("azure", "gpt-4o-mini", "gpt-4o-mini", "cache_read", None, Decimal(4_000_000), "inference", None),
        ("azure", "gpt-4o-mini", "gpt-4o-mini", "input", "batch", Decimal(10_000_000), "inference", None),
        ("azure", "text-embedding-3-large", "text-embedding-3-large", "input", None, 5 * M, "embeddings", None),
        ("azure", None, None, None, None, None, "fine_tuning", None),
        (None, None, None, None, None, None, "other", None),  # a VM
    ],
    "gcp_vertex": [
        ("google", "gemini-1.5-flash", "gemini-1.5-flash", "input", None, 2 * M, "inference", None),
        ("google", "gemini-1.5-flash", "gemini-1.5-flash", "output", None, Decimal(500_000), "inference", None),
        ("google", "gemini-2.5-pro", "gemini-2.5-pro", "cache_read", None, M, "inference", None),
        ("google", "gemini-2.0-flash", "gemini-2.0-flash", "input", "batch", 4 * M, "inference", None),
        ("google", "claude-3-5-sonnet-v2", "claude-3-5-sonnet", "output", None, Decimal(100_000), "inference", None),
        ("google", None, None, None, None, None, "embeddings", None),
        ("google", None, None, None, None, None, "data_transfer", None),
    ],
}
CLOUD_KINDS = {"cur2_bedrock": "aws_cur", "azure_openai_ea": "azure_export"}
CALLS = [
    {"provider": "aws", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0", "team": "search", "n": 3},
    {"provider": "azure", "model": "gpt-4o", "team": "support", "n": 2},
    {"provider": "google", "model": "gemini-1.5-flash-002", "team": "research", "n": 1},
]
"""Logged calls of the cloud-bill day: each model's bill lines meet them through the catalog model."""


def _money(text: str) -> Decimal:
    return Decimal(text).quantize(UNIT)


def _day_amount(path: Path, day: date, cost: str, start: str | None, end: str | None) -> Decimal:
    """The file's amount on `day`: each row's `cost` spread evenly over the days of its charge period, the day's
    part in integer units of 1e-10 (through the day minus through the day before, as staging splits it). Without
    `start`, every row is a charge of `day` (the Azure file's `Date`)."""
    total = Decimal(0)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            if start is None or end is None:
                total += _money(row[cost])
                continue
            first, last = (date.fromisoformat(row[c][:10]) for c in (start, end))
            if first <= day < last:
                units, days, k = int(_money(row[cost]) / UNIT), (last - first).days, (day - first).days
                total += Decimal(units * (k + 1) // days - units * k // days) * UNIT
    return total


def _run(root: Path, day: date, sources: list[dict], calls: list[dict] | None = None) -> Path:
    """`apportion run` over `day` with the repo's rules (owner file: OWNED_KEYS) and prices; the lake."""
    alloc = yaml.safe_load((REPO / "config" / "allocation.yaml").read_text())
    (root / "keys.csv").write_text("key,team\n" + "".join(f"{k},{t}\n" for k, t in OWNED_KEYS.items()))
    for owner in alloc["owners"]:
        owner["file"] = str(root / "keys.csv" if owner["name"] == "api_keys" else REPO / "config" / owner["file"])
    (root / "allocation.yaml").write_text(yaml.safe_dump(alloc, sort_keys=False))
    if calls:
        events = [
            {
                "event_time": f"{day}T{10 + i:02d}:00:00Z",
                "request_id": f"{c['provider']}-{i}",
                "provider": c["provider"],
                "model": c["model"],
                "input_tokens": 1000,
                "output_tokens": 100,
                "team": c["team"],
            }
            for c in calls
            for i in range(c["n"])
        ]
        (root / "calls.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        sources = [*sources, {"name": "calls", "kind": "usage_jsonl", "path": str(root / "calls.jsonl")}]
    config = {
        "warehouse": "out/warehouse.duckdb",
        "lake": "out/lake",
        "start_date": "2019-01-01",
        "allocation": "allocation.yaml",
        "prices": str(REPO / "config" / "prices.yaml"),
        "insights": str(REPO / "config" / "insights.yaml"),
        "memory_limit": "1GB",
        "sources": sources,
    }
    (root / "apportion.yaml").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    command = [str(Path(sys.executable).with_name("apportion")), "run", "--start", str(day), "--end", str(day)]
    result = subprocess.run(
        [*command, "--config", str(root / "apportion.yaml")], capture_output=True, text=True, env=env, cwd=root
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "out" / "lake"


def _read(lake: Path, query: str) -> list[tuple]:
    with connect() as con:
        con.execute("set timezone = 'UTC'")
        return con.execute(query.replace("$lake", str(lake))).fetchall()


LINE_COLUMNS = "x_Provider, x_Model, x_CatalogModel, x_TokenType, x_ServiceTier, x_Tokens, x_CostCategory, x_ApiKeyId"


def _assert_lines_and_totals(
    lake: Path, day: date, files: dict[str, tuple[Path, str, str | None, str | None]], lines: dict[str, list[Line]]
) -> None:
    """Each staged line as expected, and each source's day reconciled to the file's own amount everywhere."""
    staged = defaultdict(list)
    for source, _row, *values in _read(
        lake,
        f"select x_Source, x_SourceRow, {LINE_COLUMNS} from "
        "read_parquet('$lake/staging/cost_lines/*/*.parquet') order by x_Source, x_SourceRow",
    ):
        staged[source].append(tuple(values))
    assert {s: staged[s] for s in files} == lines

    def sums(query: str) -> dict[str, tuple]:
        return {r[0]: tuple(r[1:]) for r in _read(lake, query)}

    reconciliation = sums(
        "select source, source_total, difference, complete, rows_quarantined "
        "from read_parquet('$lake/marts/reconciliation/*/*.parquet')"
    )
    facts = sums("select source, sum(amount_usd) from read_parquet('$lake/marts/fact_cost/*/*.parquet') group by all")
    exports = [
        sums(f"select x_Source, sum(EffectiveCost) from read_parquet('{export}/*/*.parquet') group by all")
        for export in ("$lake/export/focus_1.2", "$lake/export/focus_1.3")
    ]
    for source, (path, cost, start, end) in files.items():
        total = _day_amount(path, day, cost, start, end)
        assert reconciliation[source] == (total, 0, True, 0), source
        assert facts[source] == (total,), source
        assert [e[source] for e in exports] == [(total,), (total,)], source


@pytest.mark.slow
def test_focus_ai_billing_examples_of_may_2025_recognised_owned_and_reconciled(tmp_path: Path) -> None:
    day = date(2025, 5, 1)
    files = {n: (FOCUS_AI / f"{n}.csv", "EffectiveCost", "ChargePeriodStart", "ChargePeriodEnd") for n in FOCUS_MAY}
    lake = _run(tmp_path, day, [{"name": n, "kind": "focus", "path": str(p)} for n, (p, *_) in files.items()])
    _assert_lines_and_totals(lake, day, files, FOCUS_MAY)
    # the consumer on the bill: keys an owner file maps go to their team, the others are billed AI with no telemetry
    teams = _read(
        lake,
        "select source, allocation_rule, team, sum(amount_usd) from read_parquet('$lake/marts/fact_cost/*/*.parquet') "
        "where source in ('per_token_ai_model_api', 'multi_model_invoice_via_csp_marketplace', 'multi_model_usage') "
        "group by all order by all",
    )
    total = {n: _day_amount(path, day, *columns) for n, (path, *columns) in files.items()}
    assert teams == [
        ("multi_model_invoice_via_csp_marketplace", "tagged_or_owned", "finance", total[INVOICE]),
        ("multi_model_usage", "unallocated", "unallocated", total["multi_model_usage"]),
        ("per_token_ai_model_api", "tagged_or_owned", "research", total["per_token_ai_model_api"]),
    ]
    assert total[INVOICE] == Decimal("65.7212903221")  # 2037.36 over 31 days, each of its 8 lines floored
    true_up = _read(
        lake,
        "select source, allocation_rule, provider, model, api_key_id, lines, billed_tokens, status "
        "from read_parquet('$lake/marts/true_up/*/*.parquet') where source = 'multi_model_usage' order by model",
    )
    assert true_up == [
        ("multi_model_usage", "unallocated", "solora-ai", m, "key_02SOLORAATLAS", 2, tokens, "no telemetry")
        for m, tokens in (
            ("solora-atlas-5.4-mini", _share(Decimal(3_000_000), 31) + _share(Decimal(500_000), 31)),
            ("solora-atlas-5.5", _share(Decimal(10_000_000), 31) + _share(Decimal(2_000_000), 31)),
        )
    ]


@pytest.mark.slow
def test_focus_ai_billing_examples_of_january_2025_recognised_and_reconciled(tmp_path: Path) -> None:
    day = date(2025, 1, 1)
    files = {n: (FOCUS_AI / f"{n}.csv", "EffectiveCost", "ChargePeriodStart", "ChargePeriodEnd") for n in FOCUS_JAN}
    lake = _run(tmp_path, day, [{"name": n, "kind": "focus", "path": str(p)} for n, (p, *_) in files.items()])
    _assert_lines_and_totals(lake, day, files, FOCUS_JAN)


@pytest.mark.slow
def test_cur_azure_and_gcp_ai_meters_recognised_met_by_telemetry_and_reconciled(tmp_path: Path) -> None:
    day = date(2025, 3, 3)
    files = {
        "cur2_bedrock": (
            AI_BILLS / "cur2_bedrock.csv",
            "line_item_unblended_cost",
            "line_item_usage_start_date",
            "line_item_usage_end_date",
        ),
        "azure_openai_ea": (AI_BILLS / "azure_openai_ea.csv", "Cost", None, None),
        "gcp_vertex": (
            AI_BILLS / "gcp_vertex.csv",
            "cost",
            "usage_start_time",
            "usage_end_time",
        ),
    }
    sources = [
        {"name": n, "kind": CLOUD_KINDS.get(n, "gcp_billing_file"), "path": str(p)} for n, (p, *_) in files.items()
    ]
    lake = _run(tmp_path, day, sources, CALLS)
    _assert_lines_and_totals(lake, day, files, CLOUD)
    # bill lines and logged calls meet through the catalog model: each model's lines go to the team that called it;
    # the lines of a model nobody logged fall through to their tag, or, without one, are billed with no telemetry
    split = _read(
        lake,
        "select source, allocation_rule, model, team, sum(amount_usd) from "
        "read_parquet('$lake/marts/fact_cost/*/*.parquet') where source <> 'calls' and model is not null "
        "group by all order by all",
    )
    usage, tags = "cloud_ai_by_priced_usage", "tagged_or_owned"
    assert split == [
        ("azure_openai_ea", usage, "gpt-4o", "support", Decimal("5.75")),
        ("azure_openai_ea", tags, "gpt-4o-mini", "research", Decimal("0.75")),
        ("azure_openai_ea", tags, "gpt-4o-mini", "support", Decimal("0.33")),
        ("azure_openai_ea", tags, "text-embedding-3-large", "search", Decimal("0.65")),
        ("cur2_bedrock", usage, "Claude3.5Sonnet", "search", Decimal("15")),
        ("cur2_bedrock", usage, "claude-3.5-sonnet", "search", Decimal("3")),
        ("cur2_bedrock", "unallocated", "TitanEmbeddingsV2-Text", "unallocated", Decimal("0.2")),
        ("gcp_vertex", usage, "gemini-1.5-flash", "research", Decimal("0.3")),
        ("gcp_vertex", tags, "claude-3-5-sonnet-v2", "support", Decimal("1.5")),
        ("gcp_vertex", tags, "gemini-2.0-flash", "research", Decimal("0.2")),
        ("gcp_vertex", tags, "gemini-2.5-pro", "support", Decimal("0.31")),
    ]
    true_up = _read(
        lake,
        "select source, model, sum(billed_tokens), sum(billed_usd), status "
        "from read_parquet('$lake/marts/true_up/*/*.parquet') group by all order by all",
    )
    assert true_up == [
        ("azure_openai_ea", "gpt-4o", Decimal(1_700_000), Decimal("5.75"), "scaled to bill"),
        ("cur2_bedrock", "Claude3.5Sonnet", Decimal(11_100_000), Decimal("15"), "scaled to bill"),
        ("cur2_bedrock", "TitanEmbeddingsV2-Text", 10 * M, Decimal("0.2"), "no telemetry"),
        ("cur2_bedrock", "claude-3.5-sonnet", None, Decimal("3"), "scaled to bill"),
        ("gcp_vertex", "gemini-1.5-flash", Decimal(2_500_000), Decimal("0.3"), "scaled to bill"),
    ]
