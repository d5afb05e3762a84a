"""Amazon Bedrock model invocation logs, fetched from S3 or read from a local copy, as `usage_events`.

Bedrock delivers one gzipped JSON Lines object per batch under
`<prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/yyyy/mm/dd/hh/`; a source's `path` is
`s3://bucket/prefix` (the logging configuration's bucket and key prefix), or a local folder with the same layout below
it (absolute, or relative to the config file's folder), whose files are read where they are. `fetch` finds the accounts
and regions under the prefix (or takes them from options `accounts` and `regions`), lists the 24 hour folders of the day
one prefix each, and downloads their `*.json.gz` objects (not the `data/` sub-folders Bedrock writes large bodies to);
each file's modified time is the object's `LastModified`. boto3 finds credentials by its default chain; option `region`
names the client's region and `endpoint_url` another endpoint (tests, S3-compatible stores).

Each line is one invocation (FORMATS-AI §4): `timestamp` is the event time, `requestId` the request id, provider is
`aws`, `modelId` the model — a foundation model, a cross-region profile, or an application inference profile ARN, kept
as it is: `aliases` in the prices file price an ARN as its foundation model. Bedrock's token counts exclude the cache
(FORMATS-AI §1.1), so `input_tokens` = `inputTokenCount` + `cacheReadInputTokenCount` + `cacheWriteInputTokenCount`, the
two cache counts being its parts; `output_tokens` = `outputTokenCount`. A failed invocation has no counts but an
`errorCode`: status error, error type the code. The operation is `embeddings` for a model id containing `embed`, else
`chat`. `identity.arn` (the calling principal) is the API key id. Dimensions come from the caller's `requestMetadata`
keys of the same name (team, feature, customer, agent, workflow); option `fields` maps any text column to other paths
(syntax in `assets.ingest.records`), e.g. `{team: requestMetadata.cost_center}`. Bedrock logs no try number: a caller
that retries can pass it in `requestMetadata` and map it, `{attempt: requestMetadata.attempt}` (a whole number ≥ 1).
The prompt and response bodies (`input.inputBodyJson`, `output.outputBodyJson`) are never read, and raw keeps a copy
of each object without them (`redact`). The log has no latency and no service tier.

Duplicates: `requestId` identifies an invocation, and S3 delivery is at least once, so the same record may arrive twice,
in two objects and even two hour folders. A `RowCheck` sees one row and cannot dedupe, and `read` sees one day's files
(staging may pass them one at a time), so duplicates are staged as delivered: the dedupe belongs in staging, over the
source's staged rows of the day and of the lookback days before it, keyed on `request_id`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import duckdb
from pydantic import Field

from assets.ingest.base import Fetched, SourceKind
from assets.ingest.options import options_as
from assets.ingest.readers import create_view
from assets.ingest.records import (
    LogOptions,
    RecordPaths,
    configured_paths,
    counts_text,
    provider_id,
)
from assets.ingest.redact import redact_copy
from assets.ingest.usage_canonical import USAGE_EVENT_CHECKS
from assets.schemas import DIMENSIONS, USAGE_EVENTS

ROOT = "AWSLogs/"
LOG_FOLDER = "BedrockModelInvocationLogs"
SUFFIXES = (".json.gz", ".json", ".jsonl", ".jsonl.gz")
"""File names read: what Bedrock writes (`.json.gz`), and the same unzipped or named as JSON Lines."""

DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "request_id": ("requestId",),
    "model": ("modelId",),
    "api_key_id": ("identity.arn",),
    "error_type": ("errorCode",),
    **{dimension: (f"requestMetadata.{dimension}",) for dimension in DIMENSIONS},
}

CONTENT: tuple[tuple[str, ...], ...] = (("input", "inputBodyJson"), ("output", "outputBodyJson"))

FolderName = Annotated[str, Field(pattern=r"^[^/]+$")]


class BedrockOptions(LogOptions):
    """`fields` and `provider` as every log kind, `accounts` and `regions` (the folders to read, else every one
    there), `region` and `endpoint_url` (boto3's, for a bucket in S3 or an S3-compatible server)."""

    defaults = DEFAULT_FIELDS
    content = CONTENT
    accounts: list[FolderName] | None = None
    regions: list[FolderName] | None = None
    region: str | None = None
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")


def s3_location(path: str) -> tuple[str, str]:
    """(bucket, key prefix ending in `/` or empty) of an `s3://bucket/prefix` source path."""
    if not path.startswith("s3://") or not path[5:].split("/", 1)[0]:
        raise ValueError(f"{path!r}: a Bedrock invocation log source path is s3://bucket/prefix")
    bucket, _, prefix = path[5:].partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class _S3Logs:
    """The log folders in S3: keys under the bucket's prefix, downloaded into the work folder."""

    def __init__(self, path: str, options: BedrockOptions, workdir: Path) -> None:
        import boto3  # the SDK loads only when a bucket is read

        self.bucket, self.prefix = s3_location(path)
        self.client = boto3.client("s3", region_name=options.region, endpoint_url=options.endpoint_url)
        self.workdir = workdir

    def _pages(self, folder: str) -> Iterator[dict[str, Any]]:
        """Pages of one folder level (objects in `Contents`, sub-folders in `CommonPrefixes`)."""
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + folder, Delimiter="/")

    def folders(self, folder: str) -> list[str]:
        return sorted(
            p["Prefix"][len(self.prefix) :] for page in self._pages(folder) for p in page.get("CommonPrefixes", [])
        )

    def files(self, folder: str) -> Iterator[Fetched]:
        for page in self._pages(folder):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(SUFFIXES):
                    local = self.workdir / key[len(self.prefix) + len(ROOT) :].replace("/", "_")
                    self.client.download_file(self.bucket, key, str(local))
                    yield Fetched(local, f"s3://{self.bucket}/{key}", item["LastModified"].astimezone(UTC))


class _LocalLogs:
    """The log folders copied to local disk with the bucket's layout (e.g. by `aws s3 sync`): read where they are."""

    def __init__(self, path: str) -> None:
        self.root = Path(path)
        if not self.root.is_absolute():
            raise ValueError(f"{path!r}: a Bedrock invocation log source path is s3://bucket/prefix or a folder")

    def folders(self, folder: str) -> list[str]:
        found = self.root / folder
        return sorted(f"{folder}{p.name}/" for p in found.iterdir() if p.is_dir()) if found.is_dir() else []

    def files(self, folder: str) -> Iterator[Fetched]:
        found = self.root / folder
        for path in sorted(found.iterdir()) if found.is_dir() else []:
            if path.is_file() and path.name.endswith(SUFFIXES):
                yield Fetched(path, str(path), datetime.fromtimestamp(path.stat().st_mtime, UTC))


def _sub_folders(logs: _S3Logs | _LocalLogs, folder: str, names: list[str] | None) -> list[str]:
    """Sub-folders of `folder`: those named in `names`, else every one there."""
    return [f"{folder}{name}/" for name in names] if names is not None else logs.folders(folder)


def fetch_invocation_logs(source: Any, day: date, workdir: Path) -> list[Fetched]:
    """The day's log files (24 hour folders per account and region): downloaded from S3, or where they are in a
    local folder."""
    options = options_as(BedrockOptions, source.options, source.name)
    logs = _S3Logs(source.path, options, workdir) if source.path.startswith("s3://") else _LocalLogs(source.path)
    fetched = []
    for account in _sub_folders(logs, ROOT, options.accounts):
        for region in _sub_folders(logs, f"{account}{LOG_FOLDER}/", options.regions):
            for hour in range(24):
                fetched.extend(logs.files(f"{region}{day:%Y/%m/%d}/{hour:02d}/"))
    return sorted(fetched, key=lambda f: f.origin)


def read_invocation_logs(
    con: duckdb.DuckDBPyConnection, files: list[Path], view: str, options: Mapping[str, Any]
) -> None:
    """Option `fields`: column → path(s), replacing `DEFAULT_FIELDS` per column."""
    fields = configured_paths(options, DEFAULT_FIELDS, CONTENT)
    paths = RecordPaths()
    exprs = {column: paths.first(p) for column, p in fields.items()}
    model = exprs["model"]
    reads, writes = paths.value("input.cacheReadInputTokenCount"), paths.value("input.cacheWriteInputTokenCount")
    exprs.update(
        event_time=paths.value("timestamp"),
        provider=provider_id(exprs["provider"]) if "provider" in exprs else "'aws'",
        operation=exprs.get(
            "operation", f"case when contains(lower({model}), 'embed') then 'embeddings' else 'chat' end"
        ),
        input_tokens=counts_text([paths.value("input.inputTokenCount"), reads, writes]),
        cache_read_tokens=reads,
        cache_write_tokens=writes,
        output_tokens=paths.value("output.outputTokenCount"),
        request_count="1",
        status=f"case when {exprs['error_type']} is null then 'ok' else 'error' end",
    )
    for path in files:
        if not path.name.lower().endswith(SUFFIXES):
            raise ValueError(f"{path}: expected Bedrock invocation logs ({', '.join(SUFFIXES)})")
    create_view(con, view, USAGE_EVENTS, [paths.select(con, path, "jsonl", exprs) for path in files])


def redact_invocation_logs(source: Path, target: Path) -> None:
    """The raw copy: invocation logs without the prompt and response bodies."""
    redact_copy(source, target, "jsonl", CONTENT)


BEDROCK_INVOCATION_LOGS = SourceKind(
    "bedrock_invocation_logs",
    "usage_events",
    read_invocation_logs,
    USAGE_EVENT_CHECKS,
    fetch=fetch_invocation_logs,
    redact=redact_invocation_logs,
    options_model=BedrockOptions,
)
