"""The day's cost files as FOCUS 1.3 rows: the cloud bill and the OpenAI / Anthropic cost reports.

Token-priced lines are list price (genai-prices, base tier) times a negotiated factor, computed from the token
totals of the calls each vendor served, so the pipeline can reconcile its own per-call pricing against them; the
vendors served more than the telemetry saw (calls never logged, the orphan key), and their usage reports count it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import numpy as np
import polars as pl
from genai_prices import Usage, calc_price

from sample_data import universe as u

TEN_PLACES = Decimal("1e-10")
ZERO = Decimal(0)
PRICE_PROBE_TOKENS = 100_000
"""Below every long-context tier: unit prices are the base tier."""
TOKEN_TYPES = {
    "uncached_input": "Input Tokens",
    "cache_read": "Cached Input Tokens",
    "cache_write_5m": "Cache Write Tokens",
    "cache_write_1h": "Cache Write 1h Tokens",
    "output": "Output Tokens",
}
"""Billable token bucket (a column of `calls.token_totals`) -> SkuMeter."""
VENDORS = {
    "openai": ("OpenAI", "OpenAI API", "org-acme", "Acme Corp", "proj_prod", "production"),
    "anthropic": ("Anthropic", "Anthropic API", "org_acme", "Acme Corp", "wrkspc_prod", "production"),
}
"""provider id -> (provider name, service name, billing account id and name, sub account id and name)."""
AWS = "AWS"
AWS_ISSUER = "Amazon Web Services, Inc."
RowFactory = Callable[..., dict[str, str]]
"""Builds a cloud bill row in a sub account: `factory(sub_account, **columns)`."""


def money(value: Decimal) -> str:
    return format(value.quantize(TEN_PLACES), "f")


@cache
def unit_price(provider: str, model: str, token_type: str, day: dt.date) -> Decimal:
    """List price of one token of `token_type`, from genai-prices at noon UTC of `day`."""
    n = PRICE_PROBE_TOKENS
    usage = {
        "uncached_input": Usage(input_tokens=n),
        "cache_read": Usage(input_tokens=n, cache_read_tokens=n),
        "cache_write_5m": Usage(input_tokens=n, cache_write_tokens=n),
        "cache_write_1h": Usage(input_tokens=n, cache_write_tokens=n, cache_write_1h_tokens=n),
        "output": Usage(output_tokens=n),
    }[token_type]
    when = dt.datetime.combine(day, dt.time(12), dt.UTC)
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price / n


@dataclass
class VendorSpend:
    """What one vendor report bills, split by where the usage came from (all after the negotiated factor)."""

    logged_list: Decimal = ZERO
    logged: Decimal = ZERO
    unlogged: Decimal = ZERO
    orphan: Decimal = ZERO

    @property
    def billed(self) -> Decimal:
        return self.logged + self.unlogged + self.orphan

    def add(self, other: VendorSpend) -> None:
        self.logged_list += other.logged_list
        self.logged += other.logged
        self.unlogged += other.unlogged
        self.orphan += other.orphan


def _periods(day: dt.date) -> dict[str, str]:
    month = day.replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    return {
        "BillingCurrency": "USD",
        "BillingPeriodStart": f"{month.isoformat()}T00:00:00Z",
        "BillingPeriodEnd": f"{next_month.isoformat()}T00:00:00Z",
        "ChargePeriodStart": f"{day.isoformat()}T00:00:00Z",
        "ChargePeriodEnd": f"{(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z",
    }


def _costs(billed: Decimal, effective: Decimal, list_: Decimal, contracted: Decimal) -> dict[str, str]:
    return {
        "BilledCost": money(billed),
        "EffectiveCost": money(effective),
        "ListCost": money(list_),
        "ContractedCost": money(contracted),
    }


def _quantity(quantity: Decimal | int, unit: str) -> dict[str, str]:
    return {
        "PricingQuantity": str(quantity),
        "PricingUnit": unit,
        "ConsumedQuantity": str(quantity),
        "ConsumedUnit": unit,
    }


def served_totals(provider: str, activity: DayActivity, rng: np.random.Generator) -> pl.DataFrame:
    """What `provider` served in the day per (model, api key): token buckets and requests of the logged calls, the
    calls never logged, and `key_orphan`'s calls (a share of each model's logged usage)."""
    columns = [*TOKEN_TYPES, "requests"]
    logged = activity.totals.filter(pl.col("provider") == provider)
    unlogged = activity.unlogged.filter(pl.col("provider") == provider)
    orphan_share = rng.uniform(*u.ORPHAN_SHARE)
    orphan = (
        logged.group_by("model")
        .agg(pl.col(c).sum() for c in columns)
        .with_columns(
            *(pl.col(c).mul(orphan_share).round().cast(pl.Int64) for c in columns), api_key_id=pl.lit(u.ORPHAN_KEY)
        )
    )
    return (
        pl.concat([logged.select("model", "api_key_id", *columns), unlogged.select("model", "api_key_id", *columns)])
        .group_by("model", "api_key_id")
        .agg(pl.col(c).sum() for c in columns)
        .pipe(lambda frame: pl.concat([frame, orphan.select(frame.columns)]))
        .sort("model", "api_key_id")
    )


def vendor_rows(
    provider: str, day: dt.date, activity: DayActivity, served: pl.DataFrame
) -> tuple[list[dict[str, str]], VendorSpend]:
    """One Usage line per (model, api key, token type) that `provider` served (`served_totals`)."""
    name, service, account_id, account_name, sub_id, sub_name = VENDORS[provider]
    factor = Decimal(u.VENDOR_FACTORS[provider])
    common = {
        **_periods(day),
        "BillingAccountId": account_id,
        "BillingAccountName": account_name,
        "SubAccountId": sub_id,
        "SubAccountName": sub_name,
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "InvoiceIssuerName": name,
        "ServiceProviderName": name,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceSubcategory": "Generative AI",
        "ServiceName": service,
        "InvoiceId": f"INV-{provider.upper()}-{day:%Y%m}",
        "x_Provider": provider,
    }
    rows: list[dict[str, str]] = []
    for rec in served.iter_rows(named=True):  # one per (model, key): a few dozen a day
        for token_type in TOKEN_TYPES:
            if quantity := rec[token_type]:
                list_cost = quantity * unit_price(provider, rec["model"], token_type, day)
                meter = TOKEN_TYPES[token_type]
                billed = list_cost * factor
                rows.append(
                    {
                        **common,
                        **_costs(billed, billed, list_cost, billed),
                        "ChargeDescription": f"{rec['model']} {meter}",
                        "SkuId": f"{rec['model']}:{token_type}",
                        "SkuMeter": meter,
                        **_quantity(quantity, "Tokens"),
                        "x_Model": rec["model"],
                        "x_ApiKeyId": rec["api_key_id"],
                    }
                )

    def list_cost(totals: pl.DataFrame, keys: set[str] | None = None) -> Decimal:
        return sum(
            (
                rec[t] * unit_price(provider, rec["model"], t, day)
                for rec in totals.filter(pl.col("provider") == provider).iter_rows(named=True)
                if keys is None or rec["api_key_id"] in keys
                for t in TOKEN_TYPES
            ),
            ZERO,
        )

    logged_list = list_cost(activity.totals)
    orphan = served.filter(pl.col("api_key_id") == u.ORPHAN_KEY).with_columns(provider=pl.lit(provider))
    spend = VendorSpend(
        logged_list=logged_list,
        logged=logged_list * factor,
        unlogged=list_cost(activity.unlogged) * factor,
        orphan=list_cost(orphan) * factor,
    )
    return rows, spend


@dataclass(frozen=True)
class DayActivity:
    """What the day's logged calls drive on the cloud bill."""

    totals: pl.DataFrame
    """`calls.token_totals` of all the day's logged calls."""
    unlogged: pl.DataFrame
    """`calls.token_totals` of the calls the vendors served that were never logged."""
    vector_queries: int
    llm_spans: int


def cloud_rows(day: dt.date, day_offset: int, activity: DayActivity, rng: np.random.Generator) -> list[dict[str, str]]:
    """The day's cloud bill: GPU reservation, Bedrock, Datadog, plain resources, tax and credit."""
    account_id, account_name = u.BILLING_ACCOUNT
    base = {**_periods(day), "BillingAccountId": account_id, "BillingAccountName": account_name}

    def aws(sub_account: str, **cols: str) -> dict[str, str]:
        return {
            **base,
            "SubAccountId": u.SUB_ACCOUNTS[sub_account],
            "SubAccountName": sub_account,
            "InvoiceIssuerName": AWS_ISSUER,
            "ServiceProviderName": AWS,
            "HostProviderName": AWS,
            "RegionId": u.REGION,
            "InvoiceId": f"INV-AWS-{day:%Y%m}",
            **cols,
        }

    rows: list[dict[str, str]] = []
    rows.extend(_gpu_rows(aws, rng))
    bedrock = _bedrock_rows(aws, day, activity.totals)
    rows.extend(bedrock)
    marketplace = {"InvoiceIssuerName": AWS_ISSUER, "InvoiceId": f"INV-AWSMP-{day:%Y%m}"}
    datadog_cost = activity.llm_spans * Decimal(u.DATADOG_SPAN_PRICE)
    rows.append(
        aws(
            "shared",
            **marketplace,
            **_costs(datadog_cost, datadog_cost, datadog_cost, datadog_cost),
            RegionId="",
            HostProviderName="",
            ChargeCategory="Usage",
            ChargeFrequency="Usage-Based",
            ChargeDescription="Datadog LLM Observability spans (AWS Marketplace)",
            ServiceProviderName="Datadog",
            ServiceCategory="Management and Governance",
            ServiceSubcategory="Observability",
            ServiceName="Datadog LLM Observability",
            SkuId="datadog-llm-obs-spans",
            SkuMeter="LLM Spans",
            **_quantity(activity.llm_spans, "Requests"),
        )
    )
    rows.extend(_resource_rows(aws, rng))
    if day_offset % 2 == 0:
        subtotal = sum((Decimal(r["BilledCost"]) for r in rows), ZERO)
        tax = subtotal * Decimal(u.TAX_RATE)
        rows.append(
            aws(
                "shared",
                **_costs(tax, tax, tax, tax),
                ChargeCategory="Tax",
                ChargeFrequency="Usage-Based",
                ChargeDescription="Sales tax",
                ServiceCategory="Other",
                ServiceSubcategory="Other (Other)",
                ServiceName="Tax",
                RegionId="",
            )
        )
    if day_offset % 3 == 1:
        credit = -sum((Decimal(r["BilledCost"]) for r in bedrock), ZERO) * Decimal("0.05")
        rows.append(
            aws(
                "ml-prod",
                **_costs(credit, credit, ZERO, ZERO),
                ChargeCategory="Credit",
                ChargeFrequency="One-Time",
                ChargeDescription="Promotional credit applied to Amazon Bedrock",
                ServiceCategory="AI and Machine Learning",
                ServiceSubcategory="Generative AI",
                ServiceName="Amazon Bedrock",
                x_Provider="aws",
            )
        )
    return rows


def _gpu_rows(aws: RowFactory, rng: np.random.Generator) -> list[dict[str, str]]:
    """A no-upfront reservation: the day's fee as a Purchase, its amortized cost on Used and Unused lines."""
    hours = Decimal(u.GPU_COUNT * 24)
    used = (hours * Decimal(1 - rng.uniform(*u.IDLE_SHARE))).quantize(Decimal("0.01"))
    idle = hours - used
    effective, list_price = Decimal(u.GPU_HOUR_EFFECTIVE), Decimal(u.GPU_HOUR_LIST)
    fee = hours * effective
    compute = {
        "ServiceCategory": "Compute",
        "ServiceSubcategory": "Virtual Machines",
        "ServiceName": "Amazon EC2",
        "SkuId": "BoxUsage:p5.48xlarge",
        "CommitmentDiscountId": u.GPU_RESERVATION,
        "CommitmentDiscountName": "llama-serving reservation",
        "CommitmentDiscountCategory": "Usage",
        "CommitmentDiscountType": "Reserved Instance",
    }
    cluster = {
        **compute,
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ResourceId": u.GPU_CLUSTER,
        "ResourceName": f"{u.GPU_CLUSTER} ({u.GPU_COUNT}x H100, p5.48xlarge)",
        "ResourceType": "GPU Cluster",
        "SkuMeter": "GPU-Hours",
        "x_Provider": "self-hosted",
        "x_Model": "llama-3.1-70b",
    }
    return [
        aws(
            "ml-prod",
            **compute,
            **_costs(fee, ZERO, fee, fee),
            ChargeCategory="Purchase",
            ChargeFrequency="Recurring",
            ChargeDescription="p5.48xlarge reserved instance, 1 year no upfront: daily fee",
            ResourceId=u.GPU_RESERVATION,
            ResourceName="llama-serving reservation",
            ResourceType="Reserved Instance",
            SkuMeter="GPU-Hours",
            PricingQuantity=str(hours),
            PricingUnit="GPU-Hours",
        ),
        aws(
            "ml-prod",
            **cluster,
            **_costs(ZERO, used * effective, used * list_price, used * list_price),
            ChargeDescription="Reserved GPU-hours used by llama-3.1-70b serving",
            CommitmentDiscountStatus="Used",
            **_quantity(used, "GPU-Hours"),
        ),
        aws(
            "ml-prod",
            **cluster,
            **_costs(ZERO, idle * effective, ZERO, ZERO),
            ChargeDescription="Unused reserved GPU-hours: cluster idle",
            CommitmentDiscountStatus="Unused",
            **_quantity(idle, "GPU-Hours"),
        ),
    ]


def _bedrock_rows(aws: RowFactory, day: dt.date, totals: pl.DataFrame) -> list[dict[str, str]]:
    factor = Decimal(u.BEDROCK_FACTOR)
    per_model = (
        totals.filter(pl.col("provider") == "aws")
        .group_by("model")
        .agg(pl.col("uncached_input").sum(), pl.col("output").sum())
        .sort("model")
    )
    rows = []
    for rec in per_model.iter_rows(named=True):
        for token_type in ("uncached_input", "output"):
            if not (quantity := rec[token_type]):
                continue
            list_cost = quantity * unit_price("aws", rec["model"], token_type, day)
            meter = TOKEN_TYPES[token_type]
            rows.append(
                aws(
                    "ml-prod",
                    **_costs(list_cost * factor, list_cost * factor, list_cost, list_cost * factor),
                    ChargeCategory="Usage",
                    ChargeFrequency="Usage-Based",
                    ChargeDescription=f"Amazon Bedrock {rec['model']} {meter}",
                    ServiceCategory="AI and Machine Learning",
                    ServiceSubcategory="Generative AI",
                    ServiceName="Amazon Bedrock",
                    ResourceId=f"arn:aws:bedrock:{u.REGION}::foundation-model/{rec['model']}",
                    ResourceName=rec["model"],
                    ResourceType="Foundation Model",
                    SkuId=f"{rec['model']}:{token_type}",
                    SkuMeter=meter,
                    **_quantity(quantity, "Tokens"),
                    x_Provider="aws",
                    x_Model=rec["model"],
                )
            )
    return rows


def _resource_rows(aws: RowFactory, rng: np.random.Generator) -> Iterator[dict[str, str]]:
    jitter = rng.lognormal(0, 0.15, len(u.RESOURCES))
    for r, j in zip(u.RESOURCES, jitter, strict=True):
        quantity = Decimal(r.quantity * j).quantize(Decimal("0.01"))
        cost = quantity * Decimal(r.unit_price)
        tags = json.dumps({"team": r.team, "feature": r.feature}, separators=(",", ":")) if r.team else ""
        yield aws(
            r.sub_account,
            **_costs(cost, cost, cost, cost),
            ChargeCategory="Usage",
            ChargeFrequency="Usage-Based",
            ChargeDescription=f"{r.service} {r.sku_meter} {r.resource_id}",
            ServiceCategory=r.category,
            ServiceSubcategory=r.subcategory,
            ServiceName=r.service,
            ResourceId=r.resource_id,
            ResourceName=r.resource_id,
            ResourceType=r.resource_type,
            SkuId=f"{r.service}:{r.sku_meter}",
            SkuMeter=r.sku_meter,
            **_quantity(quantity, r.unit),
            Tags=tags,
        )


def invoice_lines(month: dt.date, vector_queries: dict[dt.date, int]) -> list[dict[str, str]]:
    """The month's invoices of vendors without a billing export (`period_end` inclusive): Pinecone read units as
    weekly usage statements over the generated days of the month (a week from the month's first generated day,
    cut at the last; apportion spreads them over their days by the day's Pinecone requests), and over the whole
    month a human-review vendor's flat plan and a GPU cloud renting two more GPUs to the self-hosted model."""
    next_month = (month + dt.timedelta(days=32)).replace(day=1)
    days = (next_month - month).days
    month_period = (month, next_month - dt.timedelta(days=1))
    gpu_hours = u.GPU_CLOUD_GPUS * 24 * days
    generated = sorted(vector_queries)
    lines = []
    for week in (generated[i : i + 7] for i in range(0, len(generated), 7)):
        read_units = sum(vector_queries[d] for d in week) * u.PINECONE_READ_UNITS_PER_QUERY
        price = read_units * Decimal(u.PINECONE_READ_UNIT_PRICE)
        lines.append(("Pinecone", (week[0], week[-1]), "Serverless read units", price, read_units, "Read Units",
                      "vector_db", "pinecone"))  # fmt: skip
    lines += [
        (u.REVIEW_VENDOR, month_period, "Human review of AI replies, monthly plan", Decimal(u.REVIEW_MONTHLY), 1,
         "Month", "human_review", ""),
        (u.GPU_CLOUD_VENDOR, month_period, f"{u.GPU_CLOUD_GPUS}x H100 on demand, llama-3.1-70b overflow",
         gpu_hours * Decimal(u.GPU_CLOUD_HOUR), gpu_hours, "GPU-Hours", "gpu", "self-hosted"),
    ]  # fmt: skip
    return [
        {
            "vendor": vendor,
            "invoice_id": f"INV-{vendor.split()[0].upper()}-{first:%Y%m%d}",
            "period_start": first.isoformat(),
            "period_end": last.isoformat(),
            "description": description,
            "amount": format(amount.quantize(Decimal("0.01")), "f"),
            "currency": "USD",
            "quantity": str(quantity),
            "unit": unit,
            "category": category,
            "provider": provider,
        }
        for vendor, (first, last), description, amount, quantity, unit, category, provider in lines
    ]
