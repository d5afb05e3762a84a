"""The FinOps Foundation's focus-validator 2.2.1 run on a FOCUS 1.2 export, as a FOCUS tool importing it would.

It needs Python 3.12 (on 3.11 pip quietly installs its 1.0.0), so it lives in its own venv, `.venv-focus-validator/`
at the repository root (git-ignored), created on first use from the pinned `constraints.txt` (PyPI). It must run from
its package folder: it opens its offline 1.2 rule model and currency list there by relative path. It exits 0 whatever
it finds, so the result is read from its console report: the summary line (`Total: 578 | Pass: … | Fail: … |
Skipped: …`) and one line per failed rule (`❌ <RuleId>: FAIL  (violations=…, msg=…)`).

`ALLOWED` lists the rules the validator fails on files that follow the spec (each with why: a bug of the validator or
of its rule model); a composite rule that fails only because such rules fail is allowed too. Anything else is a
finding. Command line (the export folder of one version, or Parquet files):

    .venv/bin/python -m tests.focus_validator.runner <lake>/export/focus_1.2
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from assets.ingest.readers import sql_string

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-focus-validator"
CONSTRAINTS = Path(__file__).with_name("constraints.txt")
VERSION = "2.2.1"
PYTHON = os.environ.get("FOCUS_VALIDATOR_PYTHON", "python3.12")
"""The Python 3.12 interpreter the venv is made with (pyenv: `PYENV_VERSION=3.12.1` is set unless already set)."""

ALLOWED: dict[str, str] = {
    "CommitmentDiscountStatus-C-004-C": "model 1.2.0.1 inverts the condition: it requires a status on rows WITHOUT a "
    "CommitmentDiscountId (FOCUS_Spec#2394), so it fails every charge no commitment covered",
    "CapacityReservationStatus-C-004-C": "the AND of the condition (CapacityReservationId not null and ChargeCategory "
    "Usage) is dropped (focus_validator#142): it requires a status on every row",
    "InvoiceId-C-004-C": "the model gives no condition for 'MUST be null when the charge is not associated with an "
    "invoice', so it fails every row that has an InvoiceId",
    "InvoiceId-C-005-C": "the model gives no condition for 'MUST NOT be null when the charge is associated with an "
    "invoice', so it fails every row without an InvoiceId (a charge not invoiced yet)",
    "InvoiceId-C-003-C": "the OR of the two rules above over the whole file: a file holding both invoiced charges and "
    "charges no invoice holds yet (which FOCUS allows) fails both",
}
"""Rule → why the validator is wrong to fail it on a FOCUS file (`tests/focus_validator/test_focus_validator.py`
shows each failing on a reference file that follows the spec)."""

SUMMARY = re.compile(r"Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)")
FAILED = re.compile(r"^\S*\s*(\S+): FAIL\s+\((.*)\)\s*$")
CHILDREN = re.compile(r"(?:failed child rules|all child rules failed): \[([^\]]*)\]")


@dataclass(frozen=True)
class Report:
    summary: str
    """The validator's summary line, `Total: 578 | Pass: … | Fail: … | Skipped: …`."""
    total: int
    passed: int
    failed: int
    skipped: int
    failures: dict[str, str]
    """Failed rule → the validator's text for it (violations and message)."""

    def findings(self) -> dict[str, str]:
        """The failed rules that are not allowed: not in `ALLOWED`, nor composites failing only through them."""
        allowed = set(ALLOWED)
        changed = True
        while changed:
            changed = False
            for rule, text in self.failures.items():
                match = CHILDREN.search(text)
                children = {c.strip() for c in match.group(1).split(",")} if match else set()
                # `model_rule_reference#n` names the n-th rule of the composite's own requirement
                children = {c for c in children if not c.startswith("model_rule_reference#")}
                if rule not in allowed and children and children <= allowed:
                    allowed.add(rule)
                    changed = True
        return {rule: text for rule, text in self.failures.items() if rule not in allowed}


def package_dir() -> Path:
    """The installed `focus_validator` package's folder (its site-packages), the validator's working directory."""
    found = sorted(VENV.glob("lib/python3*/site-packages/focus_validator"))
    if not found:
        raise FileNotFoundError(f"focus_validator is not installed in {VENV}")
    return found[0].parent


def ensure_installed() -> Path:
    """Create the validator's venv when it is missing (once, under a file lock); return its `focus-validator`."""
    executable = VENV / "bin" / "focus-validator"
    marker = VENV / f".installed-{VERSION}"
    if marker.exists():
        return executable
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(REPO / ".venv-focus-validator.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            env = {**os.environ, "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.12.1")}
            subprocess.run([PYTHON, "-m", "venv", "--clear", str(VENV)], check=True, env=env)
            pip = [str(VENV / "bin" / "pip"), "install", "--quiet", "-c", str(CONSTRAINTS)]
            subprocess.run([*pip, f"focus-validator=={VERSION}", "pyarrow<26"], check=True)
            marker.touch()
    return executable


def merge(files: list[Path], target: Path) -> Path:
    """The rows of several Parquet files (a day each) as one Parquet file, the way a tool imports a period."""
    names = ", ".join(sql_string(str(f)) for f in files)
    con = duckdb.connect()
    try:
        con.execute(
            f"copy (select * from read_parquet([{names}], hive_partitioning = false)) to {sql_string(str(target))} "
            "(format parquet)"
        )
    finally:
        con.close()
    return target


def parse(output: str) -> Report:
    """The summary line and the failed rules of the validator's console report."""
    summary = SUMMARY.search(output)
    if summary is None:
        raise RuntimeError(f"focus-validator printed no summary line:\n{output[-3000:]}")
    failures = {m.group(1): m.group(2) for m in map(FAILED.match, output.splitlines()) if m}
    total, passed, failed, skipped = (int(g) for g in summary.groups())
    if failed != len(failures):
        raise RuntimeError(f"the summary counts {failed} failed rules, the report lists {len(failures)}")
    return Report(summary.group(0), total, passed, failed, skipped, failures)


def validate(data_file: Path) -> Report:
    """Run focus-validator on one FOCUS 1.2 Parquet (or CSV) file: the 1.2 rules, offline, every conditional rule."""
    executable = ensure_installed()
    command = [
        str(executable),
        "--validate-version",
        "1.2",
        "--block-download",
        "--applicability-criteria",
        "ALL",
        "--data-file",
        str(Path(data_file).resolve()),
    ]
    done = subprocess.run(command, cwd=package_dir(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"focus-validator exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return parse(done.stdout)


def validate_export(paths: list[Path]) -> Report:
    """Validate an export: Parquet files, or folders holding `charge_date=*/data.parquet`, merged into one file."""
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.glob("charge_date=*/data.parquet")))
    if not files:
        raise FileNotFoundError(f"no FOCUS Parquet files in {', '.join(map(str, paths))}")
    with tempfile.TemporaryDirectory() as tmp:
        return validate(merge(files, Path(tmp) / "focus.parquet"))


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    report = validate_export([Path(a) for a in argv])
    print(report.summary)
    findings = report.findings()
    for rule, text in report.failures.items():
        print(f"{'FINDING' if rule in findings else 'allowed'} {rule}: {text}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
