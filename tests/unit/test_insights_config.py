"""config/insights.yaml: the example validates; mistakes are reported with file, line and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.config import ConfigError
from assets.marts.insights_config import load_insights

REPO = Path(__file__).resolve().parents[2]


def test_the_example_config_validates_with_budgets_and_routing():
    config = load_insights(REPO / "config" / "insights.yaml")
    assert [b.name for b in config.budgets][:2] == ["search_monthly", "support_monthly"]
    assert config.routing[0].to.model == "gpt-4o-mini"
    assert config.forecast.horizons == [30, 90]


def test_no_file_means_the_defaults():
    config = load_insights(None)
    assert (config.budgets, config.routing, config.business_metrics) == ([], [], None)
    assert config.alerts.webhook_url_env == "APPORTION_ALERT_WEBHOOK"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "budgets:\n  - {name: b, team: search, feature: x, monthly_usd: 10}\n",
            r"insights.yaml:2: budgets.0: a budget names exactly one of team or feature",
        ),
        (
            "budgets:\n  - {name: b, team: search, monthly_usd: -1}\n",
            r"insights.yaml:2: budgets.0.monthly_usd: Input should be greater than 0",
        ),
        (
            "routing:\n  - name: r\n    provider: openai\n    models: [gpt-4o]\n"
            "    to: {provider: openai, model: gpt-4o}\n    max_input_tokens: 10\n    max_output_tokens: 10\n",
            r"insights.yaml:2: routing.0: routing target gpt-4o is one of the models it routes from",
        ),
        (
            "duplicates:\n  max_distance: 3\n  blocks: 3\n",
            r"insights.yaml:2: duplicates: blocks must be greater than max_distance",
        ),
        ("forecast:\n  horizons: [30, 30]\n", r"insights.yaml:2: forecast.horizons: horizons are distinct"),
        (
            "alerts:\n  webhook_url_env: https://hooks.example/x\n",
            r"insights.yaml:2: alerts.webhook_url_env: String should match",
        ),
        ("budget: []\n", r"insights.yaml:1: budget: Extra inputs are not permitted"),
    ],
)
def test_mistakes_name_the_file_line_and_what_was_expected(tmp_path, text, message):
    path = tmp_path / "insights.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_insights(path)


def test_a_missing_business_metric_file_is_a_config_error(tmp_path):
    path = tmp_path / "insights.yaml"
    path.write_text("business_metrics:\n  file: metrics.csv\n")
    with pytest.raises(ConfigError, match=r"business_metrics.file: .*metrics.csv does not exist"):
        load_insights(path)
    (tmp_path / "metrics.csv").write_text("date,metric,value\n")
    assert load_insights(path).business_metrics.file == tmp_path / "metrics.csv"
