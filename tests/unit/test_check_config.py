"""`apportion check-config` (and `apportion run`, first) validates every config file — apportion.yaml, the allocation
rules and owner files, FX rates, prices.yaml, insights.yaml — and each source's options through its kind's model,
with file:line errors, before any data is read; loading the config loads no Dagster and no cloud SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assets.config import ConfigError
from assets.config_check import load_checked
from assets.ingest import SOURCE_KINDS
from pipelines.cli import app

REPO = Path(__file__).resolve().parents[2]

APP = """\
lake: lake
warehouse: warehouse.duckdb
allocation: allocation.yaml
prices: prices.yaml
insights: insights.yaml
sources:
  - name: bill
    kind: focus
    path: nowhere/{date}/*.csv
"""


def config(tmp_path: Path, app_yaml: str = APP, prices: str = "prices: []\n", insights: str = "budgets: []\n") -> Path:
    (tmp_path / "allocation.yaml").write_text("rules: []\n")
    (tmp_path / "prices.yaml").write_text(prices)
    (tmp_path / "insights.yaml").write_text(insights)
    (tmp_path / "apportion.yaml").write_text(app_yaml)
    return tmp_path / "apportion.yaml"


def squash(text: str) -> str:
    """`text` without white space: the console wraps long lines (and long paths) at its width."""
    return "".join(text.split())


def check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check-config", "--config", str(path)])
    return result.exit_code, squash(result.output)


def test_the_repository_config_checks_whole() -> None:
    checked = load_checked(REPO / "apportion.yaml")
    assert [p.name for p in checked.prices.prices] == ["self-hosted-llama"]
    assert [b.name for b in checked.insights.budgets][:1] == ["search_monthly"]
    code, out = check(REPO / "apportion.yaml")
    assert (code, out.endswith(squash("1 price overrides, 4 budgets"))) == (0, True)


def test_a_bad_prices_file_is_reported_with_its_line(tmp_path: Path) -> None:
    prices = "prices:\n  - name: llama\n    provider: self-hosted\n    model: llama-3\n    input_mtok: -1\n"
    path = config(tmp_path, prices=prices)
    code, out = check(path)
    assert code == 2
    assert (
        squash(f"{tmp_path / 'prices.yaml'}:5: prices.0.input_mtok: Input should be greater than or equal to 0") in out
    )


def test_a_bad_insights_file_is_reported_with_its_line(tmp_path: Path) -> None:
    insights = "history_days: 180\nbudgets:\n  - {name: search, team: search, monthly_usd: 900}\nforcast: {}\n"
    code, out = check(config(tmp_path, insights=insights))
    assert code == 2
    assert squash(f"{tmp_path / 'insights.yaml'}:4: forcast: Extra inputs are not permitted") in out


def test_a_bad_owner_file_header_is_reported_with_the_file(tmp_path: Path) -> None:
    path = config(tmp_path)
    (tmp_path / "owners.csv").write_text("account,team,squad\n1,a,b\n")
    owners = "owners:\n  - {name: accounts, file: owners.csv, key: SubAccountId}\nrules: []\n"
    (tmp_path / "allocation.yaml").write_text(owners)
    with pytest.raises(
        ConfigError, match=r"owners\.csv:1: owners\.accounts: expected the columns key .*: account, squad"
    ):
        load_checked(path)


SOURCE = "sources:\n  - name: cloud\n    kind: {kind}\n    path: {path}\n    options:\n{options}"


def source_config(tmp_path: Path, kind: str, path: str, options: str) -> Path:
    head = APP.split("sources:")[0]
    return config(tmp_path, head + SOURCE.format(kind=kind, path=path, options=options))


@pytest.mark.parametrize(
    ("kind", "path", "options", "line", "message"),
    [
        # an unknown option: named, with the ones the kind reads
        (
            "aws_cur",
            "s3://bucket/cur/ai-costs",
            "      region: us-east-1\n      curency: EUR\n",
            12,
            "sources.0.options.curency: not an option of kind aws_cur; it reads layout, region, endpoint_url, "
            "currency, models",
        ),
        # a fetch option of gcp_bigquery is not one of a file of the same export
        (
            "gcp_billing_file",
            "bills/*.jsonl",
            "      billing_project: finance\n",
            11,
            "sources.0.options.billing_project: not an option of kind gcp_billing_file; it reads project_label_prefix",
        ),
        # a value of the wrong type
        (
            "gcp_bigquery",
            "bq://p.billing.gcp_billing_export_v1_X",
            "      lateness_days: 3\n      page_size: many\n",
            12,
            "sources.0.options.page_size: Input should be a valid integer",
        ),
        (
            "azure_export",
            "exports/ai",
            "      layout: manifest\n",
            11,
            "sources.0.options.layout: Input should be 'auto'",
        ),
        (
            "invoice_lines",
            "invoices/*.csv",
            "      fields:\n        invoice_no: Invoice No\n",
            12,
            "sources.0.options.fields: invoice columns (vendor, invoice_id",
        ),
        # an option the kind needs given the others: an MCA billing profile has no PreTaxCost column
        (
            "azure_cost_query",
            "azure://providers/Microsoft.Billing/billingAccounts/a:b_2019-05-31/billingProfiles/P1",
            "      dataset: ActualCost\n",
            11,
            "sources.0.options: cost_column: Cost is required for a Microsoft Customer Agreement scope",
        ),
        # options that do not fit the path: files downloaded by hand are local, region is S3's
        (
            "aws_cur",
            "s3://bucket/cur/ai-costs",
            "      layout: files\n",
            11,
            "sources.0.options: layout files reads local files; use layout export (or auto) for an s3:// path",
        ),
        (
            "aws_cur",
            "downloads/*.csv.gz",
            "      region: us-east-1\n",
            11,
            "sources.0.options: region apply to an export in S3 (an s3:// path), not to 'downloads/*.csv.gz'",
        ),
        # a log kind's field path and an OTLP attribute, placed at their own line
        (
            "litellm_spendlogs",
            "logs/*.csv",
            "      fields:\n        trace_id: metadata.trace_id\n        team: messages\n",
            13,
            "sources.0.options.fields.team: messages reads message content",
        ),
        (
            "azure_cost_query",
            "azure://subscriptions/x",
            "      endpoint: http://example.com\n",
            11,
            "sources.0.options.endpoint: must be https (plain http only to a loopback address)",
        ),
    ],
)
def test_each_kind_checks_its_options_with_the_line_of_the_option(
    tmp_path: Path, kind: str, path: str, options: str, line: int, message: str
) -> None:
    config_path = source_config(tmp_path, kind, path, options)
    code, out = check(config_path)
    assert code == 2
    assert squash(f"{config_path}:{line}: {message}") in out


def test_an_options_error_in_a_required_given_others_case_passes_once_the_option_is_given(tmp_path: Path) -> None:
    path = "azure://providers/Microsoft.Billing/billingAccounts/a:b_2019-05-31/billingProfiles/P1"
    config_path = source_config(tmp_path, "azure_cost_query", path, "      cost_column: Cost\n")
    assert load_checked(config_path).settings.app.sources[0].options == {"cost_column": "Cost"}


def test_check_config_and_a_refused_run_read_no_data(tmp_path: Path) -> None:
    """Sources name paths that do not exist: checking touches none, and creates no lake or warehouse; a run whose
    prices file is bad stops before any of it too."""
    path = config(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert check(path)[0] == 0
    (tmp_path / "prices.yaml").write_text("prices:\n  - {name: x, provider: p, model: m}\n")
    result = CliRunner().invoke(app, ["run", "--start", "2026-11-01", "--end", "2026-11-01", "--config", str(path)])
    assert result.exit_code == 2
    assert squash(f"{tmp_path / 'prices.yaml'}:2: prices.0: a price override needs at least one of") in squash(
        result.output
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == before


EVERY_KIND_PATH = {
    "aws_cur": "s3://bucket/cur/ai-costs",
    "azure_export": "https://acct.blob.core.windows.net/c/exports/ai",
    "azure_cost_query": "azure://subscriptions/x",
    "gcp_bigquery": "bq://p.billing.gcp_billing_export_v1_X",
    "bedrock_invocation_logs": "s3://logs/bedrock",
}


def test_loading_a_config_with_every_kind_loads_no_dagster_and_no_cloud_sdk(tmp_path: Path) -> None:
    """The config models and the kind registry reach the SDKs only inside the functions that call them."""
    sources = "".join(
        f"  - {{name: s{i}, kind: {kind}, path: '{EVERY_KIND_PATH.get(kind, 'files/*')}'}}\n"
        for i, kind in enumerate(sorted(SOURCE_KINDS))
    )
    path = config(tmp_path, APP.split("sources:")[0] + "sources:\n" + sources)
    script = (
        "import json, sys\n"
        "from assets.config_check import load_checked\n"
        f"kinds = sorted({{s.kind for s in load_checked({str(path)!r}).settings.app.sources}})\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'boto3', 'botocore', 'azure')\n"
        "          or m.startswith(('google.cloud', 'google.api_core'))]\n"
        "print(json.dumps([kinds, loaded]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True).stdout
    kinds, loaded = json.loads(out)
    assert kinds == sorted(SOURCE_KINDS)
    assert loaded == []
