"""Azure cost columns as `cost_lines`: the one mapping both Azure kinds use (`azure_export`, `azure_cost_query`).

Column names are lower-cased and mapped to one set of fields by `FIELD_ALIASES`: EA (PascalCase;
`CostInBillingCurrency`, or `Cost` in the newer layout), MCA (camelCase; `costInBillingCurrency`, with
`SubscriptionId`/`ResourceId` still PascalCase), the legacy usage files (`subscriptionGuid`, `usageDateTime`,
`preTaxCost`) and the Query API's columns.

Both datasets hold the same money seen two ways; configure one of them per billing scope:

- **ActualCost** (reconciles with the invoice): a reservation or savings plan purchase is a one-off `Purchase` row
  on its purchase day, and the usage it covers costs 0. The purchase keeps its cost as `EffectiveCost` too: FOCUS
  would set 0 there and expect amortized rows elsewhere, but this dataset has none, so 0 would lose the money.
- **AmortizedCost** (for allocation): no commitment purchases; their cost is spread over the usage they cover
  (`PricingModel` Reservation or SavingsPlan) and the part nobody used is an `UnusedReservation` /
  `UnusedSavingsPlan` row. Those rows were billed at purchase, so their `BilledCost` is 0, and they carry
  `CommitmentDiscountStatus` 'Used' / 'Unused'; a cost-category rule makes an unused GPU reservation `gpu_idle`.

In both, `EffectiveCost` is the row's cost, so the staged `EffectiveCost` sums to the file's cost column.
`ListCost` is `PayGPrice × Quantity`; Azure writes a PayGPrice of 0 where it gives none (purchases, some reserved
usage), and those rows have no ListCost. `PricingQuantity` is `Quantity` times the block size that
`UnitOfMeasure` starts with ("1K", "10 Hours"), `PricingUnit` the rest ("Units", "Hours").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from assets.ingest.focus import FOCUS, tags_text
from assets.ingest.readers import column_text, project, quote_name, sql_string
from assets.ingest.validate import RowCheck
from assets.schemas import COST_LINES

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "usagedatetime", "usagedate"),
    "cost": ("costinbillingcurrency", "cost", "pretaxcost", "totalcost"),
    "billingcurrency": ("billingcurrencycode", "billingcurrency", "currency"),
    "billingaccountid": ("billingaccountid",),
    "billingaccountname": ("billingaccountname",),
    "billingperiodstartdate": ("billingperiodstartdate",),
    "billingperiodenddate": ("billingperiodenddate",),
    "subscriptionid": ("subscriptionid", "subscriptionguid"),
    "subscriptionname": ("subscriptionname",),
    "resourceid": ("resourceid", "instancename"),
    "resourcename": ("resourcename",),
    "resourcetype": ("resourcetype",),
    "resourcelocation": ("resourcelocation",),
    "productname": ("productname", "product"),
    "servicefamily": ("servicefamily",),
    "metercategory": ("metercategory",),
    "metersubcategory": ("metersubcategory",),
    "metername": ("metername", "meter"),
    "meterid": ("meterid",),
    "unitofmeasure": ("unitofmeasure",),
    "quantity": ("quantity", "usagequantity"),
    "paygprice": ("paygprice",),
    "chargetype": ("chargetype",),
    "pricingmodel": ("pricingmodel",),
    "frequency": ("frequency",),
    "reservationid": ("reservationid",),
    "reservationname": ("reservationname", "benefitname"),
    "benefitid": ("benefitid",),
    "invoiceid": ("invoiceid",),
    "publishertype": ("publishertype",),
    "publishername": ("publishername",),
    "tags": ("tags",),
}
"""Field → the lower-cased column names Azure has used for it (EA, MCA, legacy, Query API), first found wins."""


@dataclass(frozen=True)
class ChargeType:
    """What an Azure `ChargeType` is in FOCUS. `frequency` is the ChargeFrequency when the row's `Frequency` is
    missing or not one Azure writes; `status` the CommitmentDiscountStatus (a `Usage` row is `Used` when its
    PricingModel is a commitment, see `cost_line_exprs`)."""

    category: str
    charge_class: str | None
    frequency: str
    status: str | None = None


CHARGE_TYPES: dict[str, ChargeType] = {
    "usage": ChargeType("Usage", None, "Usage-Based"),
    "unusedreservation": ChargeType("Usage", None, "Usage-Based", "Unused"),
    "unusedsavingsplan": ChargeType("Usage", None, "Usage-Based", "Unused"),
    "purchase": ChargeType("Purchase", None, "One-Time"),
    "refund": ChargeType("Purchase", "Correction", "One-Time"),
    "roundingadjustment": ChargeType("Adjustment", None, "One-Time"),
    "tax": ChargeType("Tax", None, "One-Time"),
    "credit": ChargeType("Credit", None, "One-Time"),
}
"""Azure `ChargeType` (lower-cased) → FOCUS. A file without the column (the legacy usage files) holds usage only.
Another value is rejected ("unknown ChargeType")."""

CHARGE_FREQUENCIES = {"usagebased": "Usage-Based", "onetime": "One-Time", "recurring": "Recurring"}
"""Azure `Frequency` (lower-cased) → FOCUS ChargeFrequency; a missing or other value takes the charge type's."""

PRICING_CATEGORIES = {
    "ondemand": "Standard",
    "spot": "Dynamic",
    "reservation": "Committed",
    "savingsplan": "Committed",
}
"""Azure `PricingModel` (lower-cased, spaces removed: "On Demand" = "OnDemand") → FOCUS PricingCategory, on usage
rows (ChargeCategory Usage, unused commitments included) only: one without a PricingModel is `Standard` (billed at
its list or negotiated rate), a value not listed here `Other`. Purchases, refunds and adjustments have none."""

COMMITMENT_MODELS = ("reservation", "savingsplan")
"""PricingModels whose usage a commitment covers: its BilledCost is 0 (billed at purchase), its status `Used`."""

SERVICE_CATEGORIES: tuple[tuple[str, str, str | None], ...] = (
    (r"\bopenai\b", "AI and Machine Learning", "Generative AI"),
    (r"machine learning", "AI and Machine Learning", "Machine Learning"),
    (r"bot service", "AI and Machine Learning", "Bots"),
    (r"cognitive services|\bai\b", "AI and Machine Learning", None),
    (r"virtual machines", "Compute", "Virtual Machines"),
    (r"kubernetes|container", "Compute", "Containers"),
    (r"\bfunctions\b", "Compute", "Serverless Compute"),
    (r"virtual desktop", "Compute", "End User Computing"),
    (r"app service|static web apps", "Web", "Application Platforms"),
    (r"cosmos", "Databases", "NoSQL Databases"),
    (r"redis", "Databases", "Caching"),
    (r"\bsql\b|mysql|postgres|mariadb", "Databases", "Relational Databases"),
    (r"backup", "Storage", "Backup Storage"),
    (r"storage.*\bblob", "Storage", "Object Storage"),
    (r"storage.*\bdisks?\b", "Storage", "Block Storage"),
    (r"storage.*\bfiles?\b", "Storage", "File Storage"),
    (r"storage", "Storage", None),
    (r"content delivery|\bcdn\b|front door", "Networking", "Content Delivery"),
    (r"load balancer|application gateway", "Networking", "Application Networking"),
    (r"\bdns\b|traffic manager", "Networking", "Network Routing"),
    (r"bandwidth|virtual network|vpn|expressroute|nat gateway|ip address", "Networking", "Network Connectivity"),
    (
        r"log analytics|azure monitor|application insights|insight and analytics",
        "Management and Governance",
        "Observability",
    ),
    (r"key vault", "Security", "Secret Management"),
    (r"defender|security center|sentinel", "Security", "Threat Detection and Response"),
    (r"api management", "Integration", "API Management"),
    (r"event hubs|service bus|event grid", "Integration", "Messaging"),
    (r"logic apps|data factory", "Integration", "Workflow Orchestration"),
    (r"synapse|databricks|hdinsight|stream analytics|data explorer", "Analytics", "Data Processing"),
)
"""(regex over "MeterCategory MeterSubCategory", case-insensitive, → FOCUS ServiceCategory, ServiceSubcategory),
first match wins. Without a match the category comes from `ServiceFamily` (`SERVICE_FAMILIES`), else `Other`; a
subcategory of None is left for the FOCUS export to write as `Other (<category>)`. The meter category stays the
`ServiceName` and the meter the `SkuMeter`."""

SERVICE_FAMILIES = {
    "ai + machine learning": "AI and Machine Learning",
    "analytics": "Analytics",
    "compute": "Compute",
    "containers": "Compute",
    "databases": "Databases",
    "developer tools": "Developer Tools",
    "integration": "Integration",
    "internet of things": "Internet of Things",
    "iot": "Internet of Things",
    "management and governance": "Management and Governance",
    "mixed reality": "Media",
    "networking": "Networking",
    "security": "Security",
    "storage": "Storage",
    "web": "Web",
}
"""Azure `ServiceFamily` (lower-cased) → FOCUS ServiceCategory, for meters `SERVICE_CATEGORIES` does not name."""

FOCUS_CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

_DATE_FORMATS = (
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%Y%m%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
)
"""Dates as Azure writes them: `09/21/2023` and unpadded `9/2/2023` (EA), `2020-09-22` (MCA), `20240801` (Query
API `UsageDate`), with a time in some legacy files. Zoned ISO text is read by a plain cast after these."""

_UNIT_OF_MEASURE = r"^\s*(\d+(?:\.\d+)?)([KMB]?)(\s.*|/.*)?$"
"""`<block size>[K|M|B][ unit | /period]`: "10 Hours", "1K", "10K/Month", "1 /Month", "1/10 Days". Text that does
not start with a number ("Hours", "10000s") is a block of 1. Checked against the 383 units of the FinOps toolkit's
PricingUnits table: every block size agrees."""

_BLOCK_MULTIPLIERS = {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000}

_AZURE_OPENAI = r"(?i)\bopenai\b"
"""Azure OpenAI meters: MeterCategory "Azure OpenAI", or "Cognitive Services" with MeterSubCategory "Azure OpenAI"."""

_MODEL_PREFIX = (
    r"(?i)^(.*?)[\s_-]+(?:input|inp|output|outp|cached|cchd|cache|batch|btch|global|glbl|regional|rgnl|"
    r"data\s*zone|dzone|aud|audio|txt|text|img|image|tokens?|\d+[km])\b"
)
"""The model is what an Azure OpenAI token meter says before its first qualifier: "gpt 4o 0513 Input global
Tokens", "gpt-4o-mini-0718 Outp glbl Tokens", "o3 0416 cchd Inp Glbl 1M Tokens"."""

_MODEL_VERSION = r"[\s_-]+(?:\d{4}|\d{4}-\d{2}-\d{2})$"
"""A trailing deployment version (`0513`, `2024-08-06`) is not part of the model name."""


# --- mapping Azure fields to cost_lines ---------------------------------------------------------------------------


def azure_fields(present: Mapping[str, str]) -> dict[str, str]:
    """Field → SQL text of the column that holds it, for the columns a file has (name → DuckDB type)."""
    by_lower = {name.lower(): name for name in present}
    fields = {}
    for field, aliases in FIELD_ALIASES.items():
        column = next((by_lower[a] for a in aliases if a in by_lower), None)
        if column is not None:
            fields[field] = column_text(column, present[column])
    return fields


def _case(expr: str, mapping: Mapping[str, str | None], default: str) -> str:
    whens = " ".join(f"when {sql_string(k)} then {sql_string(v) if v else 'null'}" for k, v in mapping.items())
    return f"case {expr} {whens} else {default} end"


def _day(expr: str) -> str:
    formats = "[" + ", ".join(sql_string(f) for f in _DATE_FORMATS) + "]"
    return f"coalesce(try_strptime({expr}, {formats})::date, try_cast({expr} as timestamptz)::date)"


def _iso_day(day: str, raw: str, days_after: int = 0) -> str:
    """ISO text of the start of `day` (+ `days_after`), or the raw text when it did not parse (the validator then
    rejects it and shows it)."""
    return f"coalesce(strftime({day} + interval {days_after} day, '%Y-%m-%dT%H:%M:%SZ'), {raw})"


def _times(left: str, right: str, scales: tuple[int, int]) -> str:
    """`left × right` as exact text, the operands read with `scales` decimals (the product has their sum, within
    DECIMAL(38)); when either is not a number or the product overflows, text naming both, which the validator
    rejects with the values shown."""
    a, b = (f"try_cast({x} as decimal(38, {s}))" for x, s in zip((left, right), scales, strict=True))
    return f"coalesce(try({a} * {b})::varchar, {left} || ' × ' || ({right})::varchar)"


def _fields_relation(relation: str, fields: Mapping[str, str]) -> str:
    """Every field as a text column (null when the file lacks it), plus what several columns derive from."""
    columns = ", ".join(f"{fields.get(f, 'null::varchar')} as {quote_name(f)}" for f in FIELD_ALIASES)
    inner = f"(select _row, {columns} from {relation})"
    uom = f"regexp_extract(unitofmeasure, {sql_string(_UNIT_OF_MEASURE)}, ['n', 'suffix', 'unit'])"
    return f"""(select *,
        {_day('"date"')} as _day,
        coalesce(lower(trim(chargetype)), 'usage') as _charge_type,
        nullif(lower(replace(trim(pricingmodel), ' ', '')), '') as _pricing_model,
        concat_ws(' ', metercategory, metersubcategory) as _meter,
        {uom} as _uom
      from {inner})"""


def cost_line_exprs(fields: Mapping[str, str]) -> dict[str, str | None]:
    """SQL over `_fields_relation` for each `cost_lines` column. A required column whose field the file lacks is
    None, so every row is rejected with "required column missing from file"."""
    unused = "_charge_type in ('unusedreservation', 'unusedsavingsplan')"
    commitment = f"_pricing_model in ({', '.join(sql_string(m) for m in COMMITMENT_MODELS)})"
    covered = f"(_charge_type = 'usage' and {commitment})"
    openai = f"regexp_matches(_meter, {sql_string(_AZURE_OPENAI)})"
    token_meter = "regexp_matches(metername, '(?i)\\btokens?\\b')"
    commitment_id = "lower(coalesce(benefitid, reservationid))"
    # which commitment covered (or went unused on) the row: a savings plan commits to spend, a reservation to usage
    plan = "(_pricing_model = 'savingsplan' or _charge_type = 'unusedsavingsplan')"
    kind = f"case when not coalesce({commitment} or {unused}, false) then null when {plan} then 'sp' else 'ri' end"
    charge = {k: v.category for k, v in CHARGE_TYPES.items()}
    default_frequency = _case("_charge_type", {k: v.frequency for k, v in CHARGE_TYPES.items()}, "null")
    pricing = (
        f"case when _pricing_model is null then 'Standard' "
        f"else {_case('_pricing_model', PRICING_CATEGORIES, sql_string('Other'))} end"
    )
    service = " ".join(
        f"when regexp_matches(_meter, {sql_string('(?i)' + pattern)}) then {sql_string(category)}"
        for pattern, category, _ in SERVICE_CATEGORIES
    )
    family = _case("lower(trim(servicefamily))", SERVICE_FAMILIES, "'Other'")
    subservice = " ".join(
        f"when regexp_matches(_meter, {sql_string('(?i)' + pattern)}) then {sql_string(sub) if sub else 'null'}"
        for pattern, _, sub in SERVICE_CATEGORIES
    )
    multiplier = " ".join(f"when {sql_string(k)} then {v}" for k, v in _BLOCK_MULTIPLIERS.items())
    size = "try_cast(_uom.n as decimal(38, 4))"
    block = f"case when {size} > 0 then {size} * case _uom.suffix {multiplier} else 1 end else 1 end"
    unit = (
        "case when _uom.n = '' then nullif(trim(unitofmeasure), '') "
        "when trim(_uom.unit) = '' then 'Units' "
        "when starts_with(trim(_uom.unit), '/') then 'Units' || trim(_uom.unit) "
        "else trim(_uom.unit) end"
    )
    pricing_quantity = f"case when unitofmeasure is null then quantity else {_times('quantity', block, (16, 4))} end"
    model = (
        f"regexp_replace(regexp_replace(lower(regexp_extract(metername, {sql_string(_MODEL_PREFIX)}, 1)), "
        f"{sql_string(_MODEL_VERSION)}, ''), '\\s+', '-', 'g')"
    )
    list_cost = _times("paygprice", "quantity", (12, 12))
    no_list_price = "coalesce(try_cast(paygprice as decimal(38, 12)) = 0, paygprice is null)"
    subscription = "nullif(regexp_extract(lower(resourceid), '^/subscriptions/([^/]+)', 1), '')"
    seller = "case when lower(publishertype) = 'marketplace' then coalesce(publishername, 'Microsoft') end"
    exprs: dict[str, str | None] = {
        "BilledCost": f"case when {unused} or {covered} then '0' else cost end",
        "EffectiveCost": "cost",
        "ListCost": f"case when {no_list_price} or quantity is null then null else {list_cost} end",
        "BillingCurrency": "billingcurrency",
        "BillingAccountId": "billingaccountid",
        "BillingAccountName": "billingaccountname",
        "BillingAccountType": "case when billingaccountid is not null then 'Billing Account' end",
        "SubAccountId": f"coalesce(subscriptionid, {subscription})",
        "SubAccountName": "subscriptionname",
        "SubAccountType": f"case when coalesce(subscriptionid, {subscription}) is not null then 'Subscription' end",
        "BillingPeriodStart": _iso_day(_day("billingperiodstartdate"), "billingperiodstartdate"),
        "BillingPeriodEnd": _iso_day(_day("billingperiodenddate"), "billingperiodenddate", days_after=1),
        "ChargePeriodStart": _iso_day("_day", '"date"'),
        "ChargePeriodEnd": _iso_day("_day", '"date"', days_after=1),
        "ChargeCategory": _case("_charge_type", charge, "chargetype"),
        "ChargeClass": _case("_charge_type", {k: v.charge_class for k, v in CHARGE_TYPES.items()}, "null"),
        "ChargeDescription": "productname",
        "ChargeFrequency": _case("lower(trim(frequency))", CHARGE_FREQUENCIES, default_frequency),
        "PricingCategory": f"case when _charge_type = 'usage' or {unused} then {pricing} end",
        "InvoiceIssuerName": "'Microsoft'",
        "ServiceProviderName": f"coalesce({seller}, 'Microsoft')",
        "HostProviderName": "'Microsoft'",
        "ServiceCategory": f"case {service} else {family} end",
        "ServiceSubcategory": f"case {subservice} end",
        "ServiceName": "metercategory",
        "ResourceId": "lower(resourceid)",
        "ResourceName": "resourcename",
        "ResourceType": "resourcetype",
        "RegionId": "lower(resourcelocation)",
        "SkuId": "meterid",
        "SkuMeter": "metername",
        "PricingQuantity": pricing_quantity,
        "PricingUnit": unit,
        "ConsumedQuantity": f"case when _charge_type = 'usage' then {pricing_quantity} end",
        "ConsumedUnit": f"case when _charge_type = 'usage' then {unit} end",
        "CommitmentDiscountId": f"case when {commitment} or {unused} then {commitment_id} end",
        "CommitmentDiscountStatus": (f"case when {unused} then 'Unused' when {covered} then 'Used' end"),
        "CommitmentDiscountName": f"case when {commitment} or {unused} then reservationname end",
        "CommitmentDiscountCategory": f"case {kind} when 'sp' then 'Spend' when 'ri' then 'Usage' end",
        "CommitmentDiscountType": f"case {kind} when 'sp' then 'Savings Plan' when 'ri' then 'Reservation' end",
        "InvoiceId": "invoiceid",
        "Tags": tags_text("case when starts_with(ltrim(tags), '{') then tags else '{' || tags || '}' end"),
        "x_Provider": f"case when {openai} then 'azure' end",
        "x_Model": f"case when {openai} and {token_meter} then nullif({model}, '') end",
    }
    for column, field in (
        ("BilledCost", "cost"),
        ("EffectiveCost", "cost"),
        ("BillingCurrency", "billingcurrency"),
        ("ChargePeriodStart", "date"),
        ("ChargePeriodEnd", "date"),
    ):
        if field not in fields:
            exprs[column] = None
    return exprs


def azure_select(path: Path, relation: str, present: Mapping[str, str]) -> str:
    """One file's rows (a relation with `_row` and the columns `present`) as the text columns of `cost_lines`."""
    fields = azure_fields(present)
    return project(path, _fields_relation(relation, fields), COST_LINES, cost_line_exprs(fields))


_KNOWN_CHARGE_CATEGORY = RowCheck(
    "ChargeCategory",
    f"{quote_name('ChargeCategory')} in ({', '.join(sql_string(c) for c in FOCUS_CHARGE_CATEGORIES)})",
    "unknown ChargeType (expected " + ", ".join(name for name in CHARGE_TYPES) + ")",
    shown=True,
)

CHECKS = (*FOCUS.checks, _KNOWN_CHARGE_CATEGORY)
"""FOCUS's checks (the charge period ends after it starts) and a known ChargeType."""
