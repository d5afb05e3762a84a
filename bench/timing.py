"""A benchmark measure: one process under `/usr/bin/time -v`."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Timed:
    """One process under `/usr/bin/time -v`: exit status, wall seconds, peak RSS and what it printed."""

    returncode: int
    seconds: float
    rss_gb: float
    stdout: str
    stderr: str


def timed(command: list[str], env: dict[str, str] | None = None) -> Timed:
    began = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-v", *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    seconds = time.perf_counter() - began
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    rss_gb = int(rss.group(1)) / 1024 / 1024 if rss else float("nan")
    return Timed(result.returncode, seconds, rss_gb, result.stdout, result.stderr)
