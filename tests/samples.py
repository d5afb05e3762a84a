"""The shared real sample exports (`<repo>/../shared/samples`): tests that use them fail, never skip, without them."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "samples"


def sample(relative: str) -> Path:
    """The sample file at `relative` (e.g. `azure/koku_azure_camelCased.csv`); fails the test when it is missing."""
    path = SAMPLES / relative
    if not path.is_file():
        pytest.fail(
            f"sample {relative} not found in {SAMPLES.resolve()}: the shared samples must sit beside the repository "
            "(<repo>/../shared/samples)"
        )
    return path
