"""The FinOps Foundation's focus-validator as the project runs it: how its report is read, and that every rule the
project allows it to fail is one it also fails on a reference file that follows the spec (so it is the validator's
bug, not the export's). The demo's and a real sample's exports are validated in `tests/e2e`."""

from __future__ import annotations

from pathlib import Path

import duckdb

from assets.ingest.readers import sql_string
from tests.focus_validator.reference import COLUMNS, ROWS, write_reference
from tests.focus_validator.runner import ALLOWED, parse, validate

REPORT = """
=== Validation Results ===
Total: 578 | Pass: 560 | Fail: 4 | Skipped: 14
✅ BilledCost-C-001-M: PASS  (violations=0, 2.9ms)
❌ InvoiceId-C-004-C: FAIL  (violations=2, msg=InvoiceId MUST be NULL., 15.8ms)
❌ InvoiceId-C-000-O: FAIL  (violations=0, msg=InvoiceId-C-000-O: AND failed - failed child rules: [InvoiceId-C-004-C])
❌ BillingAccountName-C-003-C: FAIL  (violations=7, msg=BillingAccountName MUST NOT be NULL., 7.8ms)
❌ CostAndUsage-D-002-M: FAIL  (violations=1, msg=CostAndUsage-D-002-M: AND failed - failed child rules: \
[InvoiceId-C-000-O, BillingAccountName-C-003-C])
⏭️ ColumnHandling-A-001-M: SKIPPED  (violations=0, reason=Rule skipped - validation is dynamic)
"""


def test_the_report_is_read_from_its_summary_and_fail_lines_and_composites_of_allowed_rules_are_allowed():
    report = parse(REPORT)
    assert (report.total, report.passed, report.failed, report.skipped) == (578, 560, 4, 14)
    assert report.summary == "Total: 578 | Pass: 560 | Fail: 4 | Skipped: 14"
    assert set(report.failures) == {
        "InvoiceId-C-004-C",
        "InvoiceId-C-000-O",
        "BillingAccountName-C-003-C",
        "CostAndUsage-D-002-M",
    }
    # InvoiceId-C-000-O fails only through an allowed rule; the dataset rule also through a real finding
    assert set(report.findings()) == {"BillingAccountName-C-003-C", "CostAndUsage-D-002-M"}
    assert "violations=7" in report.findings()["BillingAccountName-C-003-C"]


def test_the_reference_file_fails_every_allow_listed_rule_and_nothing_else(tmp_path: Path):
    assert len(COLUMNS) == 57, "FOCUS 1.2 Cost and Usage has 57 columns"
    report = validate(write_reference(tmp_path / "reference.parquet"))
    assert report.total == 578
    assert set(ALLOWED) <= set(report.failures), report.failures
    assert report.findings() == {}, report.failures
    assert report.passed > 350


def test_a_file_breaking_the_spec_gives_findings(tmp_path: Path):
    """The gate is not blind: a missing billing account name and a billed cost on a charge paid to a third party
    (ProviderName differs from InvoiceIssuerName) are findings."""
    reference = write_reference(tmp_path / "reference.parquet")
    broken = tmp_path / "broken.parquet"
    con = duckdb.connect()
    con.execute(
        f"copy (select * replace (null::varchar as BillingAccountName, "
        f"case when ChargeCategory = 'Usage' then 'Marketplace Seller' else ProviderName end as ProviderName) "
        f"from read_parquet({sql_string(str(reference))})) to {sql_string(str(broken))} (format parquet)"
    )
    con.close()
    findings = validate(broken).findings()
    assert {"BillingAccountName-C-003-C", "BilledCost-C-005-C"} <= set(findings), findings
    assert "violations=3" in findings["BillingAccountName-C-003-C"]
    assert sum(1 for row in ROWS if row["ChargeCategory"] == "Usage" and row["BilledCost"] != "0.0000000000") == 1
    assert "violations=1" in findings["BilledCost-C-005-C"]
