"""Insights over the fact table: why AI costs grow and where to cut them (`marts.py`), their config
(`config.py`) and the self-contained HTML report (`report.py`)."""
