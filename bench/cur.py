"""The real-bill case of the benchmark (issue #11): a 1,000,000-row legacy CUR made by repeating the data rows of
the public sample `../shared/samples/aws/focus_converters_legacy_cur_anonymized.csv` (November 2023), measured
against its peers in the same session, each as its own process under `/usr/bin/time -v`:

- the whole `apportion run` over 2023-11-01..14 (every layer, FOCUS exports, insight marts), and its staging step;
- a bare DuckDB scan: `read_csv(all_varchar=true)` + `group by "lineItem/ProductCode"` of the .csv and the .csv.gz
  (median of 3);
- the FinOps Foundation's focus-converter 1.0.0 on the same .csv, when installed (`make bench-peers`).

Targets: the whole run ≥ 3× faster than focus-converter at ≤ 1/4 of its peak RSS; staging ≤ 5× the bare scan.
The rows are repeated byte for byte: `cost_lines` have no duplicate handling, so repeated
identity/LineItemId + identity/TimeInterval pairs are staged as they come (and focus-converter takes them too).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.timing import Timed, timed

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "samples" / "aws" / "focus_converters_legacy_cur_anonymized.csv"
EXPORT = "ai-cur"
PERIOD = "20231101-20231201"
FIRST, LAST = date(2023, 11, 1), date(2023, 11, 14)
FOCUS_CONVERTER = Path(os.environ.get("FOCUS_CONVERTER", REPO / "bench" / ".venv-fc" / "bin" / "focus-converter"))
FOCUS_CONVERTER_INSTALL = "make bench-peers (a venv at bench/.venv-fc; or set FOCUS_CONVERTER to its executable)"


@dataclass(frozen=True)
class Cur:
    csv: Path
    gz: Path
    export: Path


def write_cur(root: Path, rows: int) -> Cur:
    """`rows` data rows (the sample's, repeated in order; the last repetition cut short) under one header, as a
    plain .csv and as a local legacy CUR export (`<export>/<period>/<export>-Manifest.json` listing
    `<export>/<period>/asm-1/<export>-00001.csv.gz`), the manifest written after the data as AWS does."""
    if not SAMPLE.is_file():
        raise FileNotFoundError(f"{SAMPLE}: the public CUR sample is missing (expected in ../shared/samples)")
    header, _, body = SAMPLE.read_bytes().partition(b"\n")
    lines = body.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    whole, rest = divmod(rows, len(lines))
    block, tail = b"".join(lines), b"".join(lines[:rest])
    export = root / EXPORT
    data = export / PERIOD / "asm-1" / f"{EXPORT}-00001.csv.gz"
    data.parent.mkdir(parents=True, exist_ok=True)
    csv = root / "cur.csv"
    with csv.open("wb") as plain, gzip.open(data, "wb", compresslevel=1) as packed:
        for chunk in [header + b"\n", *([block] * whole), tail]:
            plain.write(chunk)
            packed.write(chunk)
    manifest = {"assemblyId": "asm-1", "reportKeys": [f"{EXPORT}/{data.relative_to(export).as_posix()}"]}
    (export / PERIOD / f"{EXPORT}-Manifest.json").write_text(json.dumps(manifest))
    return Cur(csv=csv, gz=data, export=export)


def write_cur_config(root: Path, export: Path) -> Path:
    """A scratch apportion.yaml with the CUR as its only source and the repository's config files."""
    config = root / "apportion.yaml"
    config.write_text(
        f"""warehouse: out/warehouse.duckdb
lake: out/lake
start_date: {FIRST.isoformat()}
allocation: {REPO / "config" / "allocation.yaml"}
prices: {REPO / "config" / "prices.yaml"}
insights: {REPO / "config" / "insights.yaml"}
sources:
  - {{name: aws, kind: aws_cur, path: "{export}"}}
"""
    )
    return config


def bare_scan(path: Path, repeat: int = 3) -> Timed:
    """The median of `repeat` scans of the file, each by DuckDB in a fresh process: the practical floor."""
    query = f"""select "lineItem/ProductCode", count(*) from read_csv('{path}', all_varchar=true) group by 1"""
    command = [sys.executable, "-c", f"import duckdb; duckdb.connect().execute({query!r}).fetchall()"]
    runs = sorted((timed(command) for _ in range(repeat)), key=lambda r: r.seconds)
    return runs[len(runs) // 2]


def focus_converter(csv: Path, out: Path) -> Timed | None:
    """focus-converter 1.0.0 over the whole file (None when it is not installed)."""
    if not FOCUS_CONVERTER.is_file():
        return None
    out.mkdir(parents=True, exist_ok=True)
    options = {"--provider": "aws-cur", "--data-path": str(csv), "--data-format": "csv", "--export-path": str(out)}
    return timed([str(FOCUS_CONVERTER), "convert", *(word for pair in options.items() for word in pair)])


def measure(root: Path, rows: int) -> None:
    """Build the CUR, measure apportion and its peers one after another, and print one Markdown table."""
    shutil.rmtree(root, ignore_errors=True)
    began = time.perf_counter()
    cur = write_cur(root, rows)
    built = time.perf_counter() - began
    config = write_cur_config(root, cur.export)
    load = os.getloadavg()
    apportion = str(Path(sys.executable).parent / "apportion")
    command = [apportion, "run", "--start", FIRST.isoformat(), "--end", LAST.isoformat(), "--config", str(config)]
    run = timed(command)
    staging = re.search(r"raw and staging: done in ([\d.]+)s", run.stdout)
    staging_seconds = float(staging.group(1)) if staging else None
    scan_csv, scan_gz = bare_scan(cur.csv), bare_scan(cur.gz)
    peer = focus_converter(cur.csv, root / "fc-out")

    print(
        f"{rows:,} CUR rows ({cur.csv.stat().st_size / 1e6:,.1f} MB .csv, {cur.gz.stat().st_size / 1e6:,.1f} MB "
        f".csv.gz), built in {built:.1f} s; {os.cpu_count()} cores; load average {load[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end\n"
    )
    print("| measure | seconds | peak RSS | ratio to the peer | target |\n|---|---|---|---|---|")
    if peer is None or peer.returncode:
        versus = "no peer"
    else:
        time_ratio, rss_ratio = run.seconds / peer.seconds, run.rss_gb / peer.rss_gb
        met = "met" if time_ratio <= 1 / 3 and rss_ratio <= 1 / 4 and not run.returncode else "not met"
        met += " (the run failed: not a whole run)" if run.returncode else ""
        versus = f"{time_ratio:.2f} × its time, {rss_ratio:.2f} × its RSS: {met}"
    print(
        f"| `apportion run` {FIRST}..{LAST}, whole (every layer, exports, insights) | {_seconds(run)} | "
        f"{run.rss_gb:.2f} GB | / focus-converter: {versus} | ≤ 0.33 × time, ≤ 0.25 × RSS |"
    )
    if staging_seconds is None:
        print("| staging (its raw and staging step) | no time: the step failed | | | ≤ 5 × bare scan |")
    else:
        ratio = staging_seconds / scan_gz.seconds
        print(
            f"| staging (its raw and staging step; {staging_seconds / run.seconds:.0%} of the run) | "
            f"{staging_seconds:.1f} | | / bare scan of the .csv.gz: {ratio:.1f} × "
            f"({'met' if ratio <= 5 else 'not met'}) | ≤ 5 × bare scan |"
        )
    if peer is None:
        print(f"| focus-converter 1.0.0, the .csv | not installed ({FOCUS_CONVERTER_INSTALL}) | | | |")
    else:
        print(f"| focus-converter 1.0.0, the .csv (all its days) | {_seconds(peer)} | {peer.rss_gb:.2f} GB | | |")
    for name, scan in (("the .csv", scan_csv), ("the .csv.gz", scan_gz)):
        print(f"| bare DuckDB scan + group by of {name} (median of 3) | {_seconds(scan)} | {scan.rss_gb:.2f} GB | | |")
    print(f"\n`apportion run` exit status {run.returncode}; what it printed:\n```\n{run.stdout.strip()}")
    if run.returncode:
        print(_printed(run.stderr)[-3000:])
    print("```")
    if peer is not None and peer.returncode:
        print(f"focus-converter exit status {peer.returncode}:\n```\n{_printed(peer.stderr)[-2000:]}\n```")


def _seconds(result: Timed) -> str:
    failed = f" (failed: exit {result.returncode})" if result.returncode else ""
    return f"{result.seconds:.1f}{failed}"


def _printed(stderr: str) -> str:
    """What the process wrote to stderr, without `/usr/bin/time -v`'s report."""
    printed = stderr.partition("\tCommand being timed:")[0]
    return re.sub(r"Command exited with non-zero status \d+\n?$", "", printed.strip()).strip()
