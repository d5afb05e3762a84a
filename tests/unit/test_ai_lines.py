"""AI-line rules: validated config, compiled to one SQL statement over cost lines, and bill models matched to the
price catalog."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from assets.ai_lines import ai_lines_sql
from assets.catalog import catalog_model_id, resolve_catalog_models
from assets.config import AiLineRule, AllocationConfig, ConfigError, default_ai_lines, parse_yaml
from assets.matching import Params
from assets.schemas import COST_LINES

READ = ("x_Provider", "x_Model", "x_TokenType", "x_ServiceTier", "x_Tokens", "x_CostCategory", "x_ApiKeyId")

LINES: list[dict[str, Any]] = [
    {  # FOCUS 1.3+ with SkuPriceDetails (FOCUS AI billing example)
        "ServiceProviderName": "Solora AI",
        "ServiceSubcategory": "Generative AI",
        "SkuMeter": "Cache Read Input Tokens",
        "SkuPriceDetails": '{"ModelId":"solora-neptune-5.0","TokenCacheAction":"Read","TokenDirection":"Input"}',
        "ConsumedQuantity": Decimal(50_000_000),
        "ConsumedUnit": "Tokens",
        "PricingQuantity": Decimal(50),
        "PricingUnit": "1000000 Tokens",
    },
    {  # FOCUS without the token direction: SkuMeter says it; Microsoft sells it → azure
        "ServiceProviderName": "Microsoft",
        "SkuMeter": "Output Tokens",
        "SkuPriceDetails": '{"ModelFamily": "GPT 4o"}',
        "PricingQuantity": Decimal(3),
        "PricingUnit": "1K tokens",
    },
    {  # CUR: Bedrock batch usage type; the reader already set provider and model, which stay
        "x_Provider": "aws",
        "x_Model": "Claude3.5Sonnet",
        "SkuId": "USE1-Claude3.5Sonnet-batch-output-tokens",
        "PricingQuantity": Decimal("0.5"),
        "PricingUnit": "1M tokens",
        "x_ApiKeyId": "arn:aws:iam::1:role/search",
    },
    {  # Azure OpenAI meter: quantity already in tokens (unit "Units"), the rule's tokens_per_unit
        "ServiceName": "Cognitive Services",
        "SkuMeter": "gpt-4o-mini-0718-cchd-Inp-rgnl Tokens",
        "PricingQuantity": Decimal(4_000_000),
        "PricingUnit": "Units",
    },
    {  # Azure's FOCUS export: the meter as SkuMeter, a quantity in blocks of its unit
        "ServiceProviderName": "Microsoft",
        "ServiceName": "Azure OpenAI",
        "SkuMeter": "gpt-4o-0513-Outp-glbl Tokens",
        "PricingQuantity": Decimal(200),
        "PricingUnit": "1K Tokens",
    },
    {  # no AI: nothing is set
        "ServiceName": "Virtual Machines",
        "SkuMeter": "D2s v3",
        "PricingQuantity": Decimal(24),
        "PricingUnit": "Hour",
    },
]


def _apply(rules: list[AiLineRule], lines: list[dict[str, Any]] = LINES) -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"create table l ({', '.join(f'{c.name} {c.type}' for c in COST_LINES)}, n integer)")
    for n, line in enumerate(lines):
        con.execute(
            f"insert into l (n, {', '.join(line)}) values ($n, {', '.join('$' + k for k in line)})", {"n": n, **line}
        )
    params = Params()
    con.execute(f"create table out as {ai_lines_sql(rules, params, 'l')}", params.values)
    return con.execute(f"select {', '.join(READ)} from out order by n").fetchall()


def test_shipped_rules_read_provider_model_token_type_tier_tokens_and_consumer() -> None:
    assert _apply(default_ai_lines()) == [
        ("solora-ai", "solora-neptune-5.0", "cache_read", None, Decimal(50_000_000), "inference", None),
        ("azure", "gpt-4o", "output", None, Decimal(3000), "inference", None),
        ("aws", "Claude3.5Sonnet", "output", "batch", Decimal(500_000), "inference", "arn:aws:iam::1:role/search"),
        ("azure", "gpt-4o-mini", "cache_read", None, Decimal(4_000_000), "inference", None),
        ("azure", "gpt-4o", "output", None, Decimal(200_000), "inference", None),
        (None, None, None, None, None, None, None),
    ]


def test_a_users_rule_comes_before_the_shipped_ones_and_the_defaults_can_be_turned_off(tmp_path: Path) -> None:
    base = "rules: [{name: r, priority: 1, match: {}, method: even, targets: [{team: a}]}]\n"
    mine = (
        "ai_lines:\n"
        "  - name: self_hosted_llama\n"
        "    match: {ServiceName: Virtual Machines}\n"
        "    provider: self-hosted\n"
        "    model: {from: 'tag:model'}\n"
        "    consumer: {from: 'tag:app', lower: true}\n"
        "    category: gpu\n"
    )
    (tmp_path / "a.yaml").write_text(base + mine)
    (tmp_path / "b.yaml").write_text(base + mine + "ai_line_defaults: false\n")
    with_defaults = parse_yaml(tmp_path / "a.yaml", AllocationConfig).ai_line_rules()
    alone = parse_yaml(tmp_path / "b.yaml", AllocationConfig).ai_line_rules()
    assert [r.name for r in with_defaults] == ["self_hosted_llama", *(r.name for r in default_ai_lines())]
    assert [r.name for r in alone] == ["self_hosted_llama"]
    vm = {**LINES[5], "Tags": {"model": "llama-3.1-70b", "app": "Search Bot"}}
    assert _apply(alone, [LINES[0], vm]) == [
        (None, None, None, None, None, None, None),
        ("self-hosted", "llama-3.1-70b", None, None, None, "gpu", "search-bot"),
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("token_type: cached", "a.yaml:3: ai_lines.0: unknown token type 'cached'"),
        ("model: {from: SkuMeter, regex: 'a', cases: {x: b}}", "a.yaml:4: ai_lines.0.model.0: give regex or cases"),
        ("model: {from: Nope}", "a.yaml:4: ai_lines.0.model.0: unknown attribute 'Nope'"),
        ("model: {from: SkuMeter, regex: '('}", "a.yaml:4: ai_lines.0.model.0: regex '(': missing ), unterminated"),
        ("category: chat", "a.yaml:4: ai_lines.0.category: unknown cost category 'chat'"),
        ("tokens_per_unit: 0", "a.yaml:4: ai_lines.0.tokens_per_unit: Input should be greater than 0"),
    ],
)
def test_a_bad_ai_line_rule_is_refused_naming_file_line_and_field(tmp_path: Path, rule: str, message: str) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(f"rules: []\nai_lines:\n  - name: r\n    {rule}\n")
    with pytest.raises(ConfigError) as error:
        parse_yaml(path, AllocationConfig)
    assert message in str(error.value).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize(
    ("provider", "model", "catalog"),
    [
        ("aws", "Claude3.5Sonnet", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("aws", "Claude3.5SonnetV2", "regional.anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("aws", "Claude4.6Sonnet", "global.anthropic.claude-sonnet-4-6-v1:0"),
        ("aws", "NovaPro", "amazon.nova-pro-v1:0"),
        ("aws", "anthropic.claude-3-5-sonnet-20240620-v1:0", "regional.anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("azure", "gpt-4o-0513", "gpt-4o"),
        ("azure", "gpt-4o-mini", "gpt-4o-mini"),
        ("google", "gemini-1.5-flash", "gemini-1.5-flash"),
        ("aws", "TitanEmbeddingsV2-Text", None),  # "embeddings" is not a word of amazon.titan-embed-text-v2:0
        ("solora-ai", "solora-saturn-4.8", None),  # a provider the catalog does not know
    ],
)
def test_bill_models_are_matched_to_the_price_catalog(provider: str, model: str, catalog: str | None) -> None:
    assert catalog_model_id(provider, model) == catalog


def test_catalog_models_are_resolved_once_per_pair_and_joined_back() -> None:
    con = duckdb.connect()
    con.execute("create table t (x_Provider varchar, x_Model varchar, x_CatalogModel varchar)")
    con.execute(
        "insert into t values ('aws', 'Claude3.5Sonnet', null), ('aws', 'Claude3.5Sonnet', null), "
        "('azure', 'gpt-4o', 'kept'), ('solora-ai', 'solora-saturn-4.8', null), (null, 'gpt-4o', null)"
    )
    resolve_catalog_models(con, "t")
    assert [r[0] for r in con.execute("select x_CatalogModel from t").fetchall()] == [
        "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "kept",
        None,
        None,
    ]
