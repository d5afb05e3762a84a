"""The demo's FOCUS 1.2 export, all days merged into one Parquet file, checked by the FinOps Foundation's
focus-validator 2.2.1 (FOCUS 1.2 rules, offline, every conditional rule): no failed rule outside the allow-list."""

from __future__ import annotations

from tests.e2e.export.conftest import Export
from tests.focus_validator.runner import ALLOWED, validate_export


def test_the_foundation_validator_finds_nothing_outside_the_allow_list(exports: dict[str, Export]):
    export = exports["1.2/parquet"]
    assert len(export.files) > 1, "every day of the run, merged"
    report = validate_export(export.files)
    print(report.summary)
    assert report.findings() == {}, report.failures
    assert report.total == 578 and report.passed >= 356, report.summary
    # the export's own columns pass: every failure is an allowed rule or a composite of them
    assert {r for r in report.failures if "child rules" not in report.failures[r]} <= set(ALLOWED), report.failures
