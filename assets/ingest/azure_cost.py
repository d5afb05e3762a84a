"""Azure Cost Management as `cost_lines`: Cost Management exports (`azure_export`) and the Query API
(`azure_cost_query`). The FOCUS export (`FocusCost`) has FOCUS columns and is read by kind `focus`.

**Exports.** ActualCost and AmortizedCost exports, CSV, CSV.gz or Parquet, in every column set Azure has written:
EA (PascalCase; `CostInBillingCurrency`, or `Cost` in the newer layout), MCA (camelCase; `costInBillingCurrency`,
with `SubscriptionId`/`ResourceId` still PascalCase) and the legacy usage files (`subscriptionGuid`,
`usageDateTime`, `preTaxCost`). Column names are lower-cased and mapped to one set of fields by `FIELD_ALIASES`.

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

The path of an `azure_export` source is the export's folder, the one that holds the `YYYYMMDD-YYYYMMDD` month
folders: `https://<account>.blob.core.windows.net/<container>/<dir>/<export>` (read with DefaultAzureCredential) or
a local folder with the same layout. Each run of an export writes a complete copy of its month under a new run
folder, so `fetch` takes only the latest run's `manifest.json` (by last-modified) for the month of the day and
exactly the blobs it lists, checking their byte and row counts. The manifest is landed in raw with the data and
skipped when reading.

**Query API.** `azure_cost_query` sources have a path `azure://<scope>` (`azure://subscriptions/<id>`,
`azure://providers/Microsoft.Billing/billingAccounts/<id>`, …). `fetch` asks for the day's cost, daily, grouped
by `QUERY_DIMENSIONS` and the tag keys in `options.tags`, and lands every page unchanged as JSON; `read` maps
the positional rows by the page's own column list, amounts parsed exactly from the JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import duckdb
from azure.core.pipeline.policies import RetryPolicy
from pydantic import BaseModel, ConfigDict, ValidationError

from assets.ingest.base import Fetched, SourceKind
from assets.ingest.focus import FOCUS, tags_text
from assets.ingest.readers import (
    column_text,
    create_view,
    csv_records,
    file_format,
    parquet_records,
    project,
    quote_name,
    relation_columns,
    sql_string,
)
from assets.ingest.validate import RowCheck
from assets.schemas import COST_LINES
from assets.sql import connect

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

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
    "benefitid": ("benefitid",),
    "invoiceid": ("invoiceid",),
    "publishertype": ("publishertype",),
    "publishername": ("publishername",),
    "tags": ("tags",),
}
"""Field → the lower-cased column names Azure has used for it (EA, MCA, legacy, Query API), first found wins."""

CHARGE_TYPES: dict[str, tuple[str, str | None, str | None]] = {
    "usage": ("Usage", None, None),
    "unusedreservation": ("Usage", None, "Unused"),
    "unusedsavingsplan": ("Usage", None, "Unused"),
    "purchase": ("Purchase", None, None),
    "refund": ("Purchase", "Correction", None),
    "roundingadjustment": ("Adjustment", None, None),
    "tax": ("Tax", None, None),
    "credit": ("Credit", None, None),
}
"""Azure `ChargeType` (lower-cased) → FOCUS (ChargeCategory, ChargeClass, CommitmentDiscountStatus)."""

CHARGE_FREQUENCIES = {"usagebased": "Usage-Based", "onetime": "One-Time", "recurring": "Recurring"}

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

MANIFEST = "manifest.json"

_MONTH_FOLDER = re.compile(r"^(\d{8})-(\d{8})$")
"""An export's period folder, `YYYYMMDD-YYYYMMDD` (both days included)."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
"""Hosts that plain http may go to (an emulator, recorded responses): never with a token for blobs."""


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
        lower(trim(chargetype)) as _charge_type,
        lower(replace(pricingmodel, ' ', '')) in ('reservation', 'savingsplan') as _commitment,
        regexp_matches(concat_ws(' ', metercategory, metersubcategory), {sql_string(_AZURE_OPENAI)}) as _openai,
        {uom} as _uom
      from {inner})"""


def cost_line_exprs(fields: Mapping[str, str]) -> dict[str, str | None]:
    """SQL over `_fields_relation` for each `cost_lines` column. A required column whose field the file lacks is
    None, so every row is rejected with "required column missing from file"."""
    unused = "_charge_type in ('unusedreservation', 'unusedsavingsplan')"
    covered = "(_charge_type = 'usage' and _commitment)"
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
        "SubAccountId": f"coalesce(subscriptionid, {subscription})",
        "SubAccountName": "subscriptionname",
        "BillingPeriodStart": _iso_day(_day("billingperiodstartdate"), "billingperiodstartdate"),
        "BillingPeriodEnd": _iso_day(_day("billingperiodenddate"), "billingperiodenddate", days_after=1),
        "ChargePeriodStart": _iso_day("_day", '"date"'),
        "ChargePeriodEnd": _iso_day("_day", '"date"', days_after=1),
        "ChargeCategory": (
            _case("_charge_type", {k: v[0] for k, v in CHARGE_TYPES.items()}, "chargetype")
            if "chargetype" in fields
            else "'Usage'"
        ),
        "ChargeClass": _case("_charge_type", {k: v[1] for k, v in CHARGE_TYPES.items()}, "null"),
        "ChargeDescription": "productname",
        "ChargeFrequency": _case("lower(frequency)", CHARGE_FREQUENCIES, "frequency"),
        "InvoiceIssuerName": "'Microsoft'",
        "ServiceProviderName": f"coalesce({seller}, 'Microsoft')",
        "HostProviderName": "'Microsoft'",
        "ServiceCategory": "servicefamily",
        "ServiceSubcategory": "metersubcategory",
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
        "CommitmentDiscountId": f"case when _commitment or {unused} then lower(coalesce(benefitid, reservationid)) end",
        "CommitmentDiscountStatus": (f"case when {unused} then 'Unused' when {covered} then 'Used' end"),
        "InvoiceId": "invoiceid",
        "Tags": tags_text("case when starts_with(ltrim(tags), '{') then tags else '{' || tags || '}' end"),
        "x_Provider": "case when _openai then 'azure' end",
        "x_Model": f"case when _openai and regexp_matches(metername, '(?i)\\btokens?\\b') then nullif({model}, '') end",
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


# --- exports ------------------------------------------------------------------------------------------------------


def is_manifest(path: Path) -> bool:
    """A run's `manifest.json` (landed in raw as `<checksum>-manifest.json`)."""
    return path.name == MANIFEST or path.name.endswith(f"-{MANIFEST}")


def read_azure_export(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    """Files may mix column sets and formats; each is mapped on its own columns. Manifests are skipped."""
    selects = []
    for path in files:
        if is_manifest(path):
            continue
        fmt = file_format(path)
        if fmt == "jsonl":
            raise ValueError(f"{path}: Azure cost exports are CSV, CSV.gz or Parquet")
        relation = csv_records(path) if fmt == "csv" else parquet_records(path)
        selects.append(azure_select(path, relation, relation_columns(con, relation)))
    create_view(con, view, COST_LINES, selects)


@dataclass(frozen=True)
class Entry:
    """A file of an export, named relative to the export's folder (`<month>/<run…>/<file>`)."""

    name: str
    size: int
    modified_at: datetime


class ExportStore(Protocol):
    """Where an export's runs are: the period folders, the files under one, a local copy of a file."""

    def month_folders(self) -> list[str]: ...
    def entries(self, folder: str) -> list[Entry]: ...
    def get(self, name: str, workdir: Path) -> Path: ...
    def origin(self, name: str) -> str: ...
    def close(self) -> None: ...


class LocalExport:
    """An export folder on local disk (or a mounted share): files are read where they are."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: export folder does not exist")
        self.root = root

    def month_folders(self) -> list[str]:
        return [p.name for p in self.root.iterdir() if p.is_dir()]

    def entries(self, folder: str) -> list[Entry]:
        return [
            Entry(p.relative_to(self.root).as_posix(), p.stat().st_size, datetime.fromtimestamp(p.stat().st_mtime, UTC))
            for p in (self.root / folder).rglob("*")
            if p.is_file()
        ]

    def get(self, name: str, workdir: Path) -> Path:
        return self.root / name

    def origin(self, name: str) -> str:
        return str(self.root / name)

    def close(self) -> None:
        pass


class BlobExport:
    """An export folder in a storage container, read with DefaultAzureCredential (the identity needs the Storage
    Blob Data Reader role). A loopback `http://127.0.0.1:<port>/<account>/<container>/…` path (an emulator) is read
    without credentials: a token never travels over plain http."""

    def __init__(self, url: str) -> None:
        from azure.storage.blob import ContainerClient  # the SDK loads only when a container is read

        parts = urlsplit(url)
        if parts.query:
            raise ValueError(
                f"{parts.scheme}://{parts.netloc}{parts.path}: remove the query (a SAS token?) from the path: "
                "the container is read with DefaultAzureCredential"
            )
        segments = [s for s in parts.path.split("/") if s]
        credential = None
        if parts.scheme == "https":
            account_url = f"https://{parts.netloc}"
            credential = credential_chain()
        elif parts.scheme == "http" and parts.hostname in _LOOPBACK and segments:
            account_url = f"http://{parts.netloc}/{segments.pop(0)}"
        else:
            raise ValueError(f"{url}: expected https://<account>.blob.core.windows.net/<container>/<dir>/<export>")
        if len(segments) < 2:
            raise ValueError(f"{url}: expected a container and the export's folder in it")
        self.url = url.rstrip("/")
        self.root = "/".join(segments[1:])
        self.container = ContainerClient(account_url, segments[0], credential=credential)

    def month_folders(self) -> list[str]:
        prefix = f"{self.root}/"
        return [
            item.name[len(prefix) :].rstrip("/")
            for item in self.container.walk_blobs(name_starts_with=prefix, delimiter="/")
            if item.name.endswith("/")
        ]

    def entries(self, folder: str) -> list[Entry]:
        prefix = f"{self.root}/"
        return [
            Entry(b.name[len(prefix) :], b.size, b.last_modified)
            for b in self.container.list_blobs(name_starts_with=f"{prefix}{folder}/")
        ]

    def get(self, name: str, workdir: Path) -> Path:
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            self.container.download_blob(f"{self.root}/{name}").readinto(handle)
        return target

    def origin(self, name: str) -> str:
        return f"{self.url}/{name}"

    def close(self) -> None:
        self.container.close()


def credential_chain() -> TokenCredential:
    """Azure's standard credential chain (environment, workload or managed identity, Azure CLI, …)."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def export_store(path: str) -> ExportStore:
    return BlobExport(path) if urlsplit(path).scheme in ("http", "https") else LocalExport(Path(path))


def _covers(folder: str, day: date) -> bool:
    match = _MONTH_FOLDER.match(folder)
    if not match:
        return False
    start, end = (datetime.strptime(g, "%Y%m%d").date() for g in match.groups())
    return start <= day <= end


def data_rows(path: Path) -> int | None:
    """Data rows of an export file, read the way `read` reads it; None when it cannot be read at all (staging then
    quarantines it whole, as any unreadable file)."""
    relation = csv_records(path) if file_format(path) == "csv" else parquet_records(path)
    con = connect()
    try:
        return int(con.execute(f"select count(*) from {relation}").fetchall()[0][0])
    except duckdb.Error:
        return None
    finally:
        con.close()


def fetch_from_store(store: ExportStore, day: date, workdir: Path) -> list[Fetched]:
    """The latest complete run of the export for the month of `day`: its manifest and every blob it lists, each
    checked against the manifest's byte and row counts."""
    folders = [f for f in store.month_folders() if _covers(f, day)]
    entries = {e.name: e for folder in folders for e in store.entries(folder)}
    manifests = [e for e in entries.values() if e.name.rsplit("/", 1)[-1] == MANIFEST]
    if not manifests:
        if folders:
            raise FileNotFoundError(
                f"{store.origin(folders[0])}: no {MANIFEST} in the month's runs: turn on file partitioning "
                "for the export, so that each run writes a manifest"
            )
        return []
    latest = max(manifests, key=lambda e: (e.modified_at, e.name))
    manifest_path = store.get(latest.name, workdir)
    where = store.origin(latest.name)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8-sig"))
        blobs = [(b["blobName"], int(b["byteCount"]), int(b["dataRowCount"])) for b in manifest["blobs"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not an export manifest ({exc!r})") from exc
    month = latest.name.split("/", 1)[0]
    fetched = [Fetched(manifest_path, where, latest.modified_at)]
    for blob_name, byte_count, row_count in blobs:
        at = blob_name.find(f"{month}/")
        entry = entries.get(blob_name[at:]) if at >= 0 else None
        if entry is None:
            raise FileNotFoundError(f"{where}: lists {blob_name}, which is not in the export")
        path = store.get(entry.name, workdir)
        origin = store.origin(entry.name)
        if path.stat().st_size != byte_count:
            raise ValueError(f"{origin}: {path.stat().st_size} bytes, the manifest says {byte_count}")
        rows = data_rows(path)
        if rows is not None and rows != row_count:
            raise ValueError(f"{origin}: {rows} data rows, the manifest says {row_count}")
        fetched.append(Fetched(path, origin, entry.modified_at))
    expected = manifest.get("dataRowCount")
    if expected is not None and int(expected) != sum(b[2] for b in blobs):
        raise ValueError(f"{where}: blobs hold {sum(b[2] for b in blobs)} rows, the manifest says {expected}")
    return fetched


def fetch_azure_export(source: Any, day: date, workdir: Path) -> list[Fetched]:
    store = export_store(source.path)
    try:
        return fetch_from_store(store, day, workdir)
    finally:
        store.close()


# --- Query API ----------------------------------------------------------------------------------------------------

QUERY_DIMENSIONS = ("ResourceId", "MeterCategory", "MeterSubcategory", "Meter", "ChargeType", "PricingModel")
"""Grouping of a query. `PricingModel` tells amortized commitment usage apart (its BilledCost is 0)."""

ARM_ENDPOINT = "https://management.azure.com"


class QueryOptions(BaseModel):
    """`options` of an `azure_cost_query` source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["AmortizedCost", "ActualCost"] = "AmortizedCost"
    cost_column: Literal["PreTaxCost", "Cost"] = "PreTaxCost"
    """`PreTaxCost` for EA and pay-as-you-go scopes, `Cost` for MCA billing scopes."""
    tags: list[str] = []
    """Tag keys to group by; they come back as `TagKey`/`TagValue` column pairs."""
    endpoint: str = ARM_ENDPOINT
    """Resource Manager endpoint: another cloud's (`https://management.chinacloudapi.cn`), or a loopback
    `http://127.0.0.1:<port>` replaying recorded responses."""


def query_options(source: Any) -> QueryOptions:
    try:
        options = QueryOptions.model_validate(source.options)
    except ValidationError as exc:
        raise ValueError(f"source {source.name}: options: {exc}") from None
    parts = urlsplit(options.endpoint)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise ValueError(
            f"source {source.name}: options.endpoint must be https (plain http only to a loopback address)"
        )
    return options


def query_scope(source: Any) -> str:
    scope = source.path.removeprefix("azure://").strip("/")
    if not source.path.startswith("azure://") or not scope:
        raise ValueError(f"source {source.name}: path must be azure://<scope>, e.g. azure://subscriptions/<id>")
    return scope


def query_definition(options: QueryOptions, day: date) -> Any:
    """The day's cost, daily, grouped by `QUERY_DIMENSIONS` and the tag keys."""
    from azure.mgmt.costmanagement import models

    grouping = [models.QueryGrouping(type="Dimension", name=name) for name in QUERY_DIMENSIONS]
    grouping += [models.QueryGrouping(type="TagKey", name=key) for key in dict.fromkeys(options.tags)]
    return models.QueryDefinition(
        type=options.dataset,
        timeframe="Custom",
        time_period=models.QueryTimePeriod(
            from_property=datetime.combine(day, time.min, UTC), to=datetime.combine(day, time(23, 59, 59), UTC)
        ),
        dataset=models.QueryDataset(
            granularity="Daily",
            aggregation={"totalCost": models.QueryAggregation(name=options.cost_column, function="Sum")},
            grouping=grouping,
        ),
    )


class QueryRetryPolicy(RetryPolicy):
    """Retries throttled queries. The Query API reads with POST, which azure-core retries on 429 only when a
    `Retry-After` header is present; Cost Management may instead send its own
    `x-ms-ratelimit-microsoft.costmanagement-<entity|qpu|tenant>-retry-after` (seconds). A query changes nothing,
    so retrying its POST is safe."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._method_whitelist = self._method_whitelist | {"POST"}

    def get_retry_after(self, response: Any) -> float | None:
        standard = super().get_retry_after(response)
        if standard is not None:
            return standard
        waits = [
            float(value)
            for name, value in response.http_response.headers.items()
            if name.lower().startswith("x-ms-ratelimit-microsoft.costmanagement")
            and name.lower().endswith("retry-after")
        ]
        return max(waits) if waits else None


def _served_at(response: Any) -> datetime:
    stamp = response.headers.get("Date")
    return parsedate_to_datetime(stamp).astimezone(UTC) if stamp else datetime.now(UTC)


def fetch_cost_query(source: Any, day: date, workdir: Path) -> list[Fetched]:
    """Every page of the day's query, as the API wrote it. Paging has no SDK pager: a page's `nextLink` (with a
    `$skiptoken`) is POSTed the same body."""
    from azure.core.rest import HttpRequest
    from azure.mgmt.costmanagement import CostManagementClient

    options, scope = query_options(source), query_scope(source)
    query = query_definition(options, day)
    # a token over plain http is refused by azure-core unless asked for: only to a loopback endpoint (checked above)
    call = {"enforce_https": False} if options.endpoint.startswith("http://") else {}
    fetched: list[Fetched] = []
    seen: set[str] = set()
    with CostManagementClient(
        credential_chain(),
        base_url=options.endpoint,
        credential_scopes=[f"{options.endpoint.rstrip('/')}/.default"],
        retry_policy=QueryRetryPolicy(),
    ) as client:
        response = client.query.usage(scope, query, cls=lambda pipeline, _, __: pipeline.http_response, **call)
        url = response.request.url
        while True:
            page = workdir / f"azure-query-{day.isoformat()}-{len(fetched) + 1:04d}.json"
            page.write_bytes(response.content)
            fetched.append(Fetched(page, url, _served_at(response)))
            next_link = (json.loads(response.content).get("properties") or {}).get("nextLink")
            if not next_link:
                return fetched
            if next_link in seen:
                raise RuntimeError(f"source {source.name}: the Query API repeated a page link: {next_link}")
            seen.add(next_link)
            response = client.send_request(HttpRequest("POST", next_link, json=query.as_dict()), **call)
            response.raise_for_status()
            url = next_link


_MONEY_FIELDS = frozenset(FIELD_ALIASES["cost"])


def _page_select(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """One Query API page as `cost_lines` text columns.

    Rows are positional, ordered like `properties.columns`. The page is parsed twice from its text, once with
    every value as text and once as DECIMAL, so amounts are exact (DuckDB reads JSON numbers as doubles otherwise);
    `TagKey`/`TagValue` column pairs become the tags.
    """
    literal = sql_string(str(path))
    try:
        columns = con.execute(
            f"select json_extract_string(content, '$.properties.columns[*].name') from read_text({literal})"
        ).fetchall()[0][0]
    except duckdb.Error as exc:
        raise ValueError(f"{path}: not a Cost Management query result ({exc})") from exc
    if not columns:
        raise ValueError(f"{path}: not a Cost Management query result (no properties.columns)")
    shape = '{"properties": {"rows": [["%s"]]}}'
    page = (
        f"(select json_transform(content, '{shape % 'VARCHAR'}') as t, "
        f"json_transform(content, '{shape % 'DECIMAL(38, 20)'}') as d from read_text({literal}))"
    )
    rows = (
        "(select unnest(generate_series(1, len(t.properties.rows))) as _row, unnest(t.properties.rows) as _t, "
        f"unnest(d.properties.rows) as _d from {page})"
    )
    named = []
    tag_pairs = []
    for i, name in enumerate(columns, start=1):
        if name.lower() == "tagkey":
            tag_pairs.append(f"{{'k': _t[{i}], 'v': _t[{i + 1}]}}")
        elif name.lower() != "tagvalue":
            source = "_d" if name.lower() in _MONEY_FIELDS else "_t"
            named.append(f"{source}[{i}]::varchar as {quote_name(name)}")
    present = {name: "VARCHAR" for name in columns if name.lower() not in ("tagkey", "tagvalue")}
    if tag_pairs:
        entries = f"list_filter([{', '.join(tag_pairs)}], lambda e: coalesce(e.k, '') <> '')"
        named.append(f"case when len({entries}) > 0 then to_json(map_from_entries({entries}))::varchar end as tags")
        present["tags"] = "VARCHAR"
    relation = f"(select _row, {', '.join(named)} from {rows})"
    return azure_select(path, relation, present)


def read_cost_query(con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]) -> None:
    selects = []
    for path in files:
        if path.suffix.lower() != ".json":
            raise ValueError(f"{path}: expected a Query API page (.json)")
        selects.append(_page_select(con, path))
    create_view(con, view, COST_LINES, selects)


_KNOWN_CHARGE_CATEGORY = RowCheck(
    "ChargeCategory",
    f"{quote_name('ChargeCategory')} in ({', '.join(sql_string(c) for c in FOCUS_CHARGE_CATEGORIES)})",
    "unknown ChargeType (expected " + ", ".join(name for name in CHARGE_TYPES) + ")",
    shown=True,
)

_CHECKS = (*FOCUS.checks, _KNOWN_CHARGE_CATEGORY)
"""FOCUS's checks (the charge period ends after it starts) and a known ChargeType."""

AZURE_EXPORT = SourceKind("azure_export", "cost_lines", read_azure_export, _CHECKS, fetch_azure_export)
AZURE_COST_QUERY = SourceKind("azure_cost_query", "cost_lines", read_cost_query, _CHECKS, fetch_cost_query)
