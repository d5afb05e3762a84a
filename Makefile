# apportion: `make demo` runs the pipeline on generated data, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
START ?= 2026-11-01
DAYS ?= 7
CALLS ?= 20000
END := $(shell $(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 1))")
export DAGSTER_HOME := $(CURDIR)

.PHONY: install demo test lint dev bench bench-peers clean focus-validate

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

demo: install
	$(BIN)/apportion generate --out data/sample --start $(START) --days $(DAYS) --calls-per-day $(CALLS)
	$(BIN)/apportion run --start $(START) --end $(END)
	$(BIN)/apportion sql "select team, cost_category, sum(amount_usd)::decimal(18,2) as cost_usd from fact_cost \
	  group by all order by team, cost_category"
	$(BIN)/apportion sql "select source, sum(source_total)::decimal(18,2) as source_total, \
	  sum(allocated)::decimal(18,2) as allocated, sum(unallocated)::decimal(18,2) as unallocated, \
	  sum(difference) as difference from reconciliation group by all order by source"
	$(BIN)/apportion report --out data/report.html
	@echo "warehouse: data/warehouse.duckdb  (try: $(BIN)/apportion sql \"select * from fact_cost limit 10\")"

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 2 --durations=10

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# focus-converter 1.0.0, measured beside apportion by `make bench BENCH_ARGS="--case cur"`; its own venv (old polars)
bench-peers: bench/.venv-fc/bin/focus-converter

bench/.venv-fc/bin/focus-converter:
	$(PYTHON) -m venv bench/.venv-fc
	bench/.venv-fc/bin/pip install focus-converter==1.0.0 "multimethod<1.11" "click<8.2"

# the FinOps Foundation's focus-validator on the lake's FOCUS 1.2 export (its venv, Python 3.12, is made on first use)
focus-validate: install
	$(BIN)/python -m tests.focus_validator.runner $(or $(FOCUS_EXPORT),data/lake/export/focus_1.2)

dev: install
	mkdir -p var
	$(BIN)/dagster instance migrate >/dev/null
	$(BIN)/dg dev

clean:
	rm -rf data var logs .logs_queue bench/out
