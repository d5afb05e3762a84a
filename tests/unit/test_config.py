"""Config files are validated before any data is touched, with errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.config import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, app: str, allocation: str = "rules: []\n") -> Path:
    (tmp_path / "allocation.yaml").write_text(allocation)
    (tmp_path / "apportion.yaml").write_text(app)
    return tmp_path / "apportion.yaml"


SOURCES = "sources:\n  - {name: bill, kind: focus, path: bill.csv}\n"


def test_repository_example_config_is_valid():
    settings = load_settings(REPO / "apportion.yaml")
    assert [s.name for s in settings.app.sources][:1] == ["cloud_bill"]
    assert settings.app.warehouse == REPO / "data" / "warehouse.duckdb"
    assert {o.name for o in settings.allocation.owners} == {"accounts", "api_keys"}


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    settings = load_settings(write(tmp_path, "allocation: allocation.yaml\nprices: null\n" + SOURCES))
    assert settings.app.lake == tmp_path / "data" / "lake"
    assert settings.app.allocation == tmp_path / "allocation.yaml"


def test_unknown_field_names_file_and_line(tmp_path):
    path = write(tmp_path, "allocation: allocation.yaml\nwarehose: x.duckdb\n" + SOURCES)
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert f"{path}:2: warehose: Extra inputs are not permitted" in str(error.value)


def test_unknown_source_kind_lists_the_known_ones(tmp_path):
    path = write(tmp_path, "allocation: allocation.yaml\nsources:\n  - name: x\n    kind: csv_of_dreams\n    path: a\n")
    with pytest.raises(ConfigError, match=r":4: sources\.0\.kind: unknown source kind 'csv_of_dreams': one of .*focus"):
        load_settings(path)


def test_fixed_weights_not_summing_to_one_name_the_rule_line(tmp_path):
    allocation = """rules:
  - name: ok
    priority: 1
    method: even
    targets: [{team: a}]
  - name: split
    priority: 2
    method: fixed
    targets: [{team: a, weight: 0.6}, {team: b, weight: 0.3}]
"""
    path = write(tmp_path, "allocation: allocation.yaml\n" + SOURCES, allocation)
    with pytest.raises(ConfigError, match=r"allocation\.yaml:6: rules\.1: weights of a fixed rule must sum to 1"):
        load_settings(path)


def test_rule_cycle_is_rejected_with_the_cycle(tmp_path):
    allocation = """rules:
  - {name: a, priority: 1, method: cost, basis: [b]}
  - {name: b, priority: 2, method: cost, basis: [a]}
"""
    with pytest.raises(ConfigError, match="cost rules form a cycle: a -> b -> a"):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SOURCES, allocation))


def test_unknown_dimension_and_unknown_owner_are_rejected(tmp_path):
    allocation = """rules:
  - {name: a, priority: 1, method: tags, dimensions: {squad: [tag:squad]}}
"""
    with pytest.raises(ConfigError, match="unknown dimension 'squad'"):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SOURCES, allocation))
    allocation = """rules:
  - {name: a, priority: 1, method: tags, dimensions: {team: [owner:accounts]}}
"""
    with pytest.raises(ConfigError, match="owner 'accounts' is not declared"):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SOURCES, allocation))


def test_missing_owner_file_fails_before_any_data_is_read(tmp_path):
    allocation = "owners: [{name: accounts, file: nowhere.csv, key: SubAccountId}]\nrules: []\n"
    with pytest.raises(ConfigError, match=r"owners\.accounts: file .*nowhere\.csv does not exist"):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SOURCES, allocation))


def test_yaml_syntax_error_and_missing_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "sources: [\n"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.yaml")


def test_condition_needs_exactly_one_operator(tmp_path):
    allocation = """rules:
  - name: a
    priority: 1
    method: even
    targets: [{team: x}]
    match: {ServiceName: {like: "%GPU%", regex: "GPU"}}
"""
    with pytest.raises(ConfigError, match="exactly one of in, not_in, like, regex, exists"):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SOURCES, allocation))


def test_fx_rates_file_errors_name_the_line_and_column(tmp_path):
    (tmp_path / "fx.csv").write_text("date,currency,rate\n2026-11-01,EUR,1.08\n2026-11-02,EUR,-1\n")
    path = write(tmp_path, "allocation: allocation.yaml\nfx_rates: fx.csv\n" + SOURCES)
    with pytest.raises(ConfigError, match=r"fx\.csv:3: rate: must be a positive number, got '-1'"):
        load_settings(path)
    (tmp_path / "fx.csv").write_text("date,currency,rate\n01/11/2026,EUR,1.08\n")
    with pytest.raises(ConfigError, match=r"fx\.csv:2: date: expected YYYY-MM-DD"):
        load_settings(path)


SPREAD_SOURCES = """sources:
  - name: invoices
    kind: invoice_lines
    path: invoices.csv
    spread: {spread}
  - {{name: app, kind: usage_jsonl, path: usage.jsonl}}
"""


@pytest.mark.parametrize(
    ("spread", "message"),
    [
        ("{method: usage, driver: list_cost}", "driver list_cost is not available to a spread: calls are priced after"),
        ("{method: usage, driver: queries}", "a usage spread needs a driver: one of requests, tokens, input_tokens"),
        ("{method: usage}", "a usage spread needs a driver"),
        ("{method: usage, driver: requests, match: {region: eu}}", "match key 'region' is not a column of the driver"),
        ("{method: usage, driver: 'metric:gb', match: {model: x}}", "match key 'model' is not a column of the driver"),
        ("{method: even, driver: requests}", "an even spread takes no driver, match or lines"),
        ("{method: weekly}", "Input should be 'even' or 'usage'"),
        ("{method: usage, driver: tokens, lines: {Vendor: x}}", "unknown attribute 'Vendor': use tag:<key> or one of"),
    ],
)
def test_a_bad_spread_names_the_file_and_line(tmp_path, spread, message):
    path = write(tmp_path, "allocation: allocation.yaml\n" + SPREAD_SOURCES.format(spread=spread))
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert f"{path}:6: sources.0.spread" in str(error.value)
    assert message in str(error.value)


def test_a_spread_needs_a_cost_source_and_a_source_of_its_driver(tmp_path):
    usage_spread = (
        "sources:\n  - name: app\n    kind: usage_jsonl\n    path: u.jsonl\n"
        "    spread: {method: usage, driver: tokens}\n"
    )
    with pytest.raises(ConfigError, match=r":3: sources\.0: .*only cost sources are spread over days"):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + usage_spread))
    no_metrics = SPREAD_SOURCES.format(spread="{method: usage, driver: 'metric:read_units'}")
    with pytest.raises(
        ConfigError, match="spread driver metric:read_units is read from usage_metrics, but no configured"
    ):
        load_settings(write(tmp_path, "allocation: allocation.yaml\n" + no_metrics))


def test_a_usage_spread_binds_its_match_values_as_lists(tmp_path):
    spread = "{method: usage, driver: requests, match: {provider: pinecone, team: [search, support]}}"
    settings = load_settings(write(tmp_path, "allocation: allocation.yaml\n" + SPREAD_SOURCES.format(spread=spread)))
    (invoices, app) = settings.app.sources
    assert invoices.spread.match == {"provider": ["pinecone"], "team": ["search", "support"]}
    assert (invoices.spread.usage_table, app.spread.method, app.spread.usage_table) == ("usage_events", "even", None)


def test_source_role_defaults_to_driver_and_coverage_sources_are_listed(tmp_path):
    sources = (
        "sources:\n  - {name: logs, kind: usage_jsonl, path: a.jsonl}\n"
        "  - {name: vendor_usage, kind: openai_usage, path: api, role: coverage}\n"
    )
    settings = load_settings(write(tmp_path, "allocation: allocation.yaml\n" + sources))
    assert [s.role for s in settings.app.sources] == ["driver", "coverage"]
    assert settings.app.coverage_sources == ["vendor_usage"]


def test_coverage_role_on_a_cost_source_or_an_unknown_role_names_the_line(tmp_path):
    head = "allocation: allocation.yaml\nsources:\n"
    path = write(tmp_path, head + "  - {name: b, kind: focus, path: b, role: coverage}\n")
    with pytest.raises(ConfigError, match=r":3: sources\.0: role coverage needs a usage source \(kind focus"):
        load_settings(path)
    path = write(tmp_path, head + "  - {name: u, kind: usage_jsonl, path: u, role: x}\n")
    with pytest.raises(ConfigError, match=r":3: sources\.0\.role: Input should be 'driver' or 'coverage'"):
        load_settings(path)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{kind: langfuse_observations, path: o.jsonl, options: {provder: openai}}",
            "options.provder: not an option of kind langfuse_observations; it reads fields, provider",
        ),
        (
            "{kind: litellm_spendlogs, path: s.jsonl, options: {fields: {team: messages.0.content}}}",
            "options.fields.team: messages.0.content reads message content",
        ),
        ("{kind: otlp_json, path: s.jsonl, options: {attributes: {team: [1]}}}", "options.attributes.team: expected"),
        (
            "{kind: bedrock_invocation_logs, path: /logs, options: {regions: us-east-1}}",
            "options.regions: Input should",
        ),
        ("{kind: usage_jsonl, path: u.jsonl, options: {fields: {tem: team_name}}}", "options.fields: not columns of"),
        (
            "{kind: openai_usage, path: 'pages/{date}', options: {endpoints: [images]}}",
            r"options\.endpoints\.0: Input should be 'completions'",
        ),
        (
            "{kind: focus, path: f.csv, options: {layout: files}}",
            "options.layout: not an option of kind focus; it reads none",
        ),
    ],
)
def test_each_kind_checks_its_options_before_any_data_is_read_naming_file_and_line(
    tmp_path: Path, source: str, message: str
) -> None:
    path = write(
        tmp_path, "allocation: allocation.yaml\nprices: null\nsources:\n  - {name: calls, " + source[1:] + "\n"
    )
    with pytest.raises(ConfigError, match=rf"{path}:4: sources\.0\.{message}"):
        load_settings(path)


def test_a_langfuse_source_needs_no_provider_option_any_more(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "allocation: allocation.yaml\nprices: null\n"
        "sources:\n  - {name: calls, kind: langfuse_observations, path: o.jsonl}\n",
    )
    assert [s.options for s in load_settings(path).app.sources] == [{}]
