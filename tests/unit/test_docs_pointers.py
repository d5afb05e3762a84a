"""Every pointer to `docs/…` in the code, SQL, config and Markdown names a file that exists (issue 15: the code
pointed to a design note that was never written)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("assets", "pipelines", "sql", "sample_data", "bench", "config", "docs", "tests", ".ci")
ROOT_FILES = ("README.md", "pyproject.toml", "Makefile", "apportion.yaml")
SUFFIXES = {".py", ".sql", ".md", ".yaml", ".yml", ".toml", ".j2", ".html", ".txt"}
POINTER = re.compile(r"(?<![\w/.-])docs/[\w./-]*\w")
"""`docs/<path>` not inside a URL or another path (`https://…/docs/en/api` is not one of ours)."""


def pointers() -> dict[str, list[str]]:
    """Each `docs/…` path referred to, with the files that refer to it."""
    files = [REPO / name for name in ROOT_FILES if (REPO / name).exists()]
    for folder in FOLDERS:
        files += [p for p in (REPO / folder).rglob("*") if p.suffix in SUFFIXES and "__pycache__" not in p.parts]
    found: dict[str, list[str]] = {}
    for path in files:
        for pointer in POINTER.findall(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(pointer.rstrip("."), []).append(str(path.relative_to(REPO)))
    return found


def test_every_docs_pointer_names_an_existing_file() -> None:
    found = pointers()
    missing = {pointer: sorted(set(users)) for pointer, users in found.items() if not (REPO / pointer).is_file()}
    assert missing == {}
    assert {"docs/focus-export.md", "docs/warehouse.md"} <= found.keys()


def test_a_pointer_inside_a_url_is_not_one_of_ours() -> None:
    text = "see docs/focus-export.md, and https://docs.example.com/en/docs/api or assets/docs/x.md"
    assert POINTER.findall(text) == ["docs/focus-export.md"]
