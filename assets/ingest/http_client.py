"""The AI vendors' admin APIs (OpenAI, Anthropic) as raw pages: a small GET client that retries, pages to the end
and lands every page as a file, and the SQL that reads a landed page back as one record per bucket result.

The client is stdlib `urllib`: four GETs a night need no connection pool, and the retry rules (Retry-After on 429,
full-jitter backoff on 5xx, an error that names the endpoint but never the key) are a few lines of our own rather
than a dependency (`requests`/`httpx` are only here transitively, through the cloud SDKs) configured to match.

Both vendors answer `{"data": [bucket, …], "has_more": …, "next_page": …}` with `bucket = {<start>, <end>,
"results": [result, …]}`, oldest bucket first, empty buckets included (`results: []`).

Saved pages: a source whose `path` has `{date}` in it is a folder of pages saved from the API (by a previous fetch
or a vendor export), named as a fetch names them (`costs-0001.json`, …); the kinds read the day's folder instead of
calling the API. Any other path (`api`) calls the API.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from glob import escape as glob_escape
from pathlib import Path
from typing import Annotated, Any, TypeVar

import duckdb
from pydantic import Field

from assets.ingest.base import Fetched
from assets.ingest.options import KindOptions, options_as
from assets.ingest.readers import MALFORMED_JSON, NOT_AN_OBJECT, sql_string

NO_DATA_ARRAY = "not an API page: no data array"
INCOMPLETE_PAGE_SET = "incomplete page set"
"""Quarantine reason (prefix) of a day whose last saved page says more pages follow: reconciliation marks the source's
day incomplete."""

_KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_*\-]{4,}")
"""What an API key looks like in a vendor's error message (OpenAI echoes a masked key on a 401)."""

_QUOTE_NUMBER = r'"\1":"\2"'
"""Replacement of a `"key": number` match: the number as a JSON string."""

OptionsT = TypeVar("OptionsT", bound="ApiOptions")


class AdminApiError(RuntimeError):
    """A vendor admin API request failed; the message names the endpoint and the status, never the key."""


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
BaseUrl = Annotated[str, Field(pattern=r"^https?://[^?#]+$")]


class ApiOptions(KindOptions):
    """`options` of an admin API source. The key is read from the environment variable `api_key_env`; `base_url`
    points the source at another host (a proxy, or a test server). Each vendor sets the defaults."""

    api_key_env: EnvName
    base_url: BaseUrl
    max_attempts: int = Field(default=6, ge=1, le=20)
    timeout_seconds: float = Field(default=60, gt=0, le=600)


def parse_options(model: type[OptionsT], source: Any) -> OptionsT:
    """The source's `options` as `model`, with an error naming the source and the option."""
    return options_as(model, source.options, source.name)


@dataclass(frozen=True)
class Backoff:
    """When to try again: Retry-After on a 429 when the server sends one (up to `max_retry_after` seconds), else
    full-jitter exponential backoff, uniform in [0, min(cap, base × 2^(n−1))) before try n + 1."""

    base: float = 1.0
    cap: float = 30.0
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return self.jitter() * min(self.cap, self.base * 2 ** (attempt - 1))


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class AdminApiClient:
    """GET JSON from one vendor's admin API. The headers (with the key) live only in this object; no message,
    repr or exception it produces contains them."""

    def __init__(
        self,
        vendor: str,
        base_url: str,
        headers: Mapping[str, str],
        secret: str,
        *,
        max_attempts: int,
        timeout: float,
        backoff: Backoff,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self._headers = {**headers, "Accept": "application/json", "User-Agent": "apportion"}
        self._secret = secret
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"AdminApiClient({self.vendor}, {self.base_url})"

    def url(self, path: str, query: Sequence[tuple[str, str]]) -> str:
        return f"{self.base_url}{path}?{urllib.parse.urlencode(list(query))}"

    def get(self, path: str, query: Sequence[tuple[str, str]]) -> tuple[str, bytes]:
        """(url, body) of a successful GET; 429, 5xx and network errors are retried, other statuses fail."""
        url = self.url(path, query)
        for attempt in range(1, self.max_attempts + 1):
            retry_after = None
            try:
                with urllib.request.urlopen(
                    urllib.request.Request(url, headers=self._headers), timeout=self.timeout
                ) as response:
                    return url, response.read()
            except urllib.error.HTTPError as exc:
                failure = self._failure(url, f"HTTP {exc.code} {exc.reason}", _body(exc))
                if exc.code != 429 and exc.code < 500:
                    raise AdminApiError(failure) from None
                if exc.code == 429:
                    retry_after = retry_after_seconds(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                failure = self._failure(url, f"no response ({reason})", b"")
            if attempt < self.max_attempts:
                self.backoff.sleep(self.backoff.wait(attempt, retry_after))
        raise AdminApiError(f"{failure} (gave up after {self.max_attempts} attempts)")

    def _failure(self, url: str, status: str, body: bytes) -> str:
        """`<vendor> admin API: GET <url>: <status>: <vendor's message>`, with anything key-like masked."""
        message = ""
        try:
            error = json.loads(body).get("error")
            if isinstance(error, dict):
                message = ": " + " ".join(str(error[k]) for k in ("type", "code", "message") if error.get(k))
        except (ValueError, AttributeError):
            pass
        text = f"{self.vendor} admin API: GET {url}: {status}{message[:500]}"
        return _KEY_LIKE.sub("sk-…", text.replace(self._secret, "…") if self._secret else text)


def _body(error: urllib.error.HTTPError) -> bytes:
    """The body of an error response, or nothing if the connection broke while reading it."""
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""


def api_key(options: ApiOptions, source_name: str) -> str:
    """The admin key from the environment variable the source names."""
    key = os.environ.get(options.api_key_env, "").strip()
    if not key:
        raise AdminApiError(
            f"source {source_name}: environment variable {options.api_key_env} is not set (the admin API key)"
        )
    return key


def open_client(
    vendor: str,
    options: ApiOptions,
    source_name: str,
    auth: Callable[[str], Mapping[str, str]],
    backoff: Backoff,
) -> AdminApiClient:
    """A client for a source, with the key from the environment put into headers by `auth(key)`."""
    key = api_key(options, source_name)
    return AdminApiClient(
        vendor,
        options.base_url,
        auth(key),
        key,
        max_attempts=options.max_attempts,
        timeout=options.timeout_seconds,
        backoff=backoff,
    )


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants that bound `day`: its one daily bucket is `[start, end)`."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def fetch_pages(
    client: AdminApiClient,
    path: str,
    query: Sequence[tuple[str, str]],
    workdir: Path,
    name: str,
    modified_at: datetime,
) -> list[Fetched]:
    """Every page of `path` from the first to the one without `has_more`, each written byte for byte as
    `workdir/<name>-0001.json`, `-0002`, …; `modified_at` is the period's start, so that landing the same
    pages again gives the same manifest. A page that is not the documented envelope stops the fetch."""
    fetched: list[Fetched] = []
    seen: set[str] = set()
    token: str | None = None
    while True:
        url, body = client.get(path, [*query, ("page", token)] if token else query)
        page = _envelope(body, f"{client.vendor} admin API: GET {url}")
        target = workdir / f"{name}-{len(fetched) + 1:04d}.json"
        target.write_bytes(body)
        fetched.append(Fetched(target, url, modified_at))
        if not page.get("has_more"):
            return fetched
        token = page.get("next_page")
        if not isinstance(token, str) or not token or token in seen:
            raise AdminApiError(f"{client.vendor} admin API: GET {url}: has_more without a new next_page ({token!r})")
        seen.add(token)


def saved_pages(source: Any, day: date, names: Sequence[str]) -> list[Fetched] | None:
    """The day's saved pages `<name>-NNNN.json` of each of `names`, in that order, from the folder `source.path`
    with `{date}` filled in; None when the path has no `{date}` (the API is called instead). A page's modified time
    is the day's start, as when fetched, so that the same pages give the same manifest either way."""
    if "{date}" not in source.path:
        return None
    folder = Path(source.path.replace("{date}", day.isoformat()))
    start = day_bounds(day)[0]
    return [
        Fetched(page, str(page), start)
        for name in names
        for page in sorted(folder.glob(f"{glob_escape(name)}-[0-9][0-9][0-9][0-9].json"))
    ]


def unfinished_page_sets(con: duckdb.DuckDBPyConnection, files: list[Path]) -> list[tuple[str, str, str]]:
    """(file, field, reason) for each series of pages (`<name>-NNNN.json`, landed as `<checksum>-<name>-NNNN.json`)
    whose last page says that more follow (`has_more: true`, or a `next_page` and no `has_more`): the pages after it
    were never saved, so the day is incomplete for the source. One query over the day's pages; a page that is not
    UTF-8 JSON says nothing here (it is quarantined when read)."""
    if not files:
        return []
    name = r"^(?:[0-9a-f]{16}-)?(.*)-([0-9]{4,})\.json$"
    rows = con.execute(
        f"""
        with pages as (
            select
                parse_filename(filename) as file,
                regexp_extract(parse_filename(filename), {sql_string(name)}, 1) as series,
                regexp_extract(parse_filename(filename), {sql_string(name)}, 2) as page,
                try(json_extract(try(decode(content)), '$.has_more')) as has_more,
                try(json_extract_string(try(decode(content)), '$.next_page')) as next_page
            from read_blob($files)
        ),

        last_pages as (
            select * from pages
            where page <> ''
            qualify page::bigint = max(page::bigint) over (partition by series)
        )
        select file, page, coalesce(next_page, 'none')
        from last_pages
        where coalesce(has_more::varchar = 'true', has_more is null and next_page is not null)
        order by file
        """,
        {"files": [str(f) for f in files]},
    ).fetchall()
    return [
        (
            file,
            "has_more",
            f"{INCOMPLETE_PAGE_SET}: page {int(page)} is the last saved but says more follow "
            f"(next_page {token}); the day's later pages are missing",
        )
        for file, page, token in rows
    ]


def _envelope(body: bytes, where: str) -> dict[str, Any]:
    """The page as a dict, checked to be `{"data": [{…, "results": [{…}, …]}, …]}`."""
    try:
        page = json.loads(body)
    except ValueError:
        raise AdminApiError(f"{where}: the response is not JSON") from None
    buckets = page.get("data") if isinstance(page, dict) else None
    if not isinstance(buckets, list):
        raise AdminApiError(f"{where}: the response has no data array")
    for i, bucket in enumerate(buckets):
        results = bucket.get("results") if isinstance(bucket, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise AdminApiError(f"{where}: data[{i}] is not a bucket with a list of result objects")
    return page


def page_records(path: Path, bucket_bounds: tuple[str, str], fields: Mapping[str, Any], exact: Sequence[str]) -> str:
    """`(_row, _error, _start, _end, _r)` over one landed page: a row per result of every bucket in page order
    (`_row` numbers them from 1; an empty bucket has none), with the bucket's bounds as text and the result
    `_r` as a struct of `fields` (a `from_json` structure; leave leaves as VARCHAR). A page that is not JSON, not
    an object, or has no data array is one row with `_error`.

    Numbers come back as the text the vendor wrote: DuckDB parses JSON numbers as doubles, so the values of the
    keys in `exact` (money, quantities) are quoted in the text before parsing (`0.8958740000000000` or
    `98765432.123456789` stay as written). Inside a JSON string every quote is escaped, so `"value":` there
    would need its closing quote escaped too (`\\"value\\":`) and does not match: string contents are never touched.
    """
    start, end = bucket_bounds
    structure = {"data": [{start: "VARCHAR", end: "VARCHAR", "results": [fields]}]}
    member = r'"(' + "|".join(re.escape(k) for k in exact) + r')"\s*:\s*(-?[0-9][0-9.eE+\-]*)'
    quoted = f"regexp_replace(content, {sql_string(member)}, {sql_string(_QUOTE_NUMBER)}, 'g')" if exact else "content"
    parsed = (
        f"(select content, try(from_json({quoted}, {sql_string(json.dumps(structure))})) as _p "
        f"from read_text({sql_string(str(path))}))"
    )
    error = (
        f"case when not coalesce(json_valid(content), false) then {sql_string(MALFORMED_JSON)} "
        f"when json_type(content) <> 'OBJECT' then {sql_string(NOT_AN_OBJECT)} "
        f"when _p.data is null then {sql_string(NO_DATA_ARRAY)} end"
    )
    items = (
        "flatten(list_transform(_p.data, lambda b: list_transform(coalesce(b.results, []), "
        f"lambda r: struct_pack(s := b.{start}, e := b.{end}, r := r))))"
    )
    listed = f"(select _error, case when _error is null then {items} else [null] end as _items from " + (
        f"(select _p, {error} as _error from {parsed}))"
    )
    return (
        f"(select _row, _error, _i.s as _start, _i.e as _end, _i.r as _r from "
        f"(select _error, unnest(_items) as _i, generate_subscripts(_items, 1) as _row from {listed}))"
    )
