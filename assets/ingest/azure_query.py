"""The Azure Cost Management Query API (`azure_cost_query`), mapped by `assets.ingest.azure_columns`.

Sources have a path `azure://<scope>` (`azure://subscriptions/<id>`,
`azure://providers/Microsoft.Billing/billingAccounts/<id>`, …). `fetch` asks for the day's cost, daily, grouped
by `QUERY_DIMENSIONS` and the tag keys in `options.tags`, and lands every page unchanged as JSON; `read` maps
the positional rows by the page's own column list, amounts parsed exactly from the JSON text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import duckdb
from pydantic import Field, ValidationInfo, field_validator, model_validator

from assets.ingest.azure_auth import LOOPBACK, credential_chain
from assets.ingest.azure_columns import CHECKS, FIELD_ALIASES, azure_select
from assets.ingest.base import Fetched, SourceKind
from assets.ingest.options import KindOptions, options_as
from assets.ingest.readers import create_view, quote_name, sql_string
from assets.schemas import COST_LINES

QUERY_DIMENSIONS = ("ResourceId", "MeterCategory", "MeterSubcategory", "Meter", "ChargeType", "PricingModel")
"""Grouping of a query. `PricingModel` tells amortized commitment usage apart (its BilledCost is 0)."""

ARM_ENDPOINT = "https://management.azure.com"


MCA_SCOPE = re.compile(r"(?i)billingAccounts/[^/]*:|/billingProfiles/|/invoiceSections/")
"""A Microsoft Customer Agreement scope: an MCA billing account id is `<guid>:<guid>_<date>`, and only MCA has
billing profiles and invoice sections."""


class QueryOptions(KindOptions):
    """`options` of an `azure_cost_query` source."""

    dataset: Literal["AmortizedCost", "ActualCost"] = "AmortizedCost"
    cost_column: Literal["PreTaxCost", "Cost"] = "PreTaxCost"
    """`PreTaxCost` for EA and pay-as-you-go scopes, `Cost` for MCA billing scopes (required there)."""
    tags: list[str] = Field(default_factory=list)
    """Tag keys to group by; they come back as `TagKey`/`TagValue` column pairs."""
    endpoint: str = ARM_ENDPOINT
    """Resource Manager endpoint: another cloud's (`https://management.chinacloudapi.cn`), or a loopback
    `http://127.0.0.1:<port>` replaying recorded responses."""

    @field_validator("endpoint")
    @classmethod
    def _https(cls, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ValueError("must be https (plain http only to a loopback address)")
        return endpoint

    @model_validator(mode="after")
    def _fits_the_scope(self, info: ValidationInfo) -> QueryOptions:
        path = (info.context or {}).get("path")
        if path is not None and MCA_SCOPE.search(path) and self.cost_column != "Cost":
            raise ValueError(
                "cost_column: Cost is required for a Microsoft Customer Agreement scope (a billing account "
                "<guid>:<guid>_<date>, a billing profile or an invoice section): it has no PreTaxCost"
            )
        return self


def query_options(source: Any) -> QueryOptions:
    return options_as(QueryOptions, source.options, source.name)


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


def query_retry_policy() -> Any:
    """Retries throttled queries. The Query API reads with POST, which azure-core retries on 429 only when a
    `Retry-After` header is present; Cost Management may instead send its own
    `x-ms-ratelimit-microsoft.costmanagement-<entity|qpu|tenant>-retry-after` (seconds). A query changes nothing,
    so retrying its POST is safe. (Built here so that azure-core loads only when a query runs.)"""
    from azure.core.pipeline.policies import RetryPolicy

    class QueryRetryPolicy(RetryPolicy):
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

    return QueryRetryPolicy()


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
        retry_policy=query_retry_policy(),
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


AZURE_COST_QUERY = SourceKind(
    "azure_cost_query", "cost_lines", read_cost_query, CHECKS, fetch_cost_query, options_model=QueryOptions
)
