"""Every file of `sql/` states its inputs and Python supplies exactly those.

Each file's header (`-- reads:`, `-- params:`, `-- output:`) is read and checked against DuckDB's own parser: the
declared params are the `$names` its statements use, the relations its selects read are declared (or made by the
file itself). Every call site in `assets/` and `pipelines/` that names a SQL file names one that exists and, where
it spells the params out, spells exactly the declared ones; `run_model` refuses anything else at run time. Statement
splitting and parameter finding leave strings and comments alone."""

from __future__ import annotations

import ast
import json
from datetime import date
from fnmatch import fnmatch
from pathlib import Path

import duckdb
import pytest

import assets.sql as sql
from assets.sql import SQL_DIR, load_model, run_model, run_sql, single_statement, split_statements, statements

REPO = SQL_DIR.parent
MODELS = sorted(str(p.relative_to(SQL_DIR).with_suffix("")) for p in SQL_DIR.rglob("*.sql"))
RUNNERS = {"run_model": "", "load_model": "", "load_sql": ""}
"""Functions that take the name of a SQL file (argument 2 of run_model, 1 of the others), with a name prefix."""
REPORT_RUNNER = ("assets/report.py", "_rows", "report/")
"""assets/report.py runs its queries through `_rows(con, "<name>", params)`, a name under sql/report/."""


def _words(text: str) -> list[tuple[duckdb.token_type, str]]:
    """The tokens of `text` (kind, lower-case text), by DuckDB's tokenizer (its positions are byte offsets)."""
    raw, tokens = text.encode(), duckdb.tokenize(text)
    ends = [p for p, _ in tokens[1:]] + [len(raw)]
    return [(kind, raw[p:end].decode().strip().lower()) for (p, kind), end in zip(tokens, ends, strict=True)]


def _created(words: list[tuple[duckdb.token_type, str]]) -> set[str]:
    """What a statement creates: `create [or replace] [temp] table|view|macro <name>`."""
    texts = [w for _, w in words]
    if not texts or texts[0] != "create":
        return set()
    kind = next(i for i, w in enumerate(texts) if w in {"table", "view", "macro"})
    return {texts[kind + 1]}


def _tables(node: object, found: set[str], ctes: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":
            found.add(node["table_name"])
        if isinstance(node.get("cte_map"), dict):
            ctes.update(entry["key"] for entry in node["cte_map"]["map"])
        for value in node.values():
            _tables(value, found, ctes)
    elif isinstance(node, list):
        for value in node:
            _tables(value, found, ctes)


def _select_reads(con: duckdb.DuckDBPyConnection, text: str) -> set[str] | None:
    """The base tables read by the query of a statement (`create … as <query>`, `insert into … <query>`, a query),
    by DuckDB's parser (`json_serialize_sql`); None for a statement it cannot serialize (DDL, update, alter)."""
    raw = text.encode()
    starts = [p for p, kind in duckdb.tokenize(text) if kind == duckdb.token_type.keyword]
    start = next((p for p in starts if raw[p:].split(maxsplit=1)[0].lower() in (b"select", b"with")), None)
    if start is None:
        return None
    parsed = json.loads(con.execute("select json_serialize_sql($q)", {"q": raw[start:].decode()}).fetchall()[0][0])
    if parsed.get("error"):
        return None
    found: set[str] = set()
    ctes: set[str] = set()
    _tables(parsed, found, ctes)
    return found - ctes


@pytest.mark.parametrize("name", MODELS)
def test_every_sql_file_declares_what_it_reads_takes_and_makes(name: str) -> None:
    model = load_model(name)  # raises when a field is missing or the params differ from its statements'
    assert model.description and model.output and model.statements
    assert model.params == frozenset().union(*(s.params for s in statements(model.path.read_text())))
    con = duckdb.connect()
    made: set[str] = set()
    read: set[str] = set()
    for statement in model.statements:
        words = _words(statement.text)
        tables = _select_reads(con, statement.text)
        read |= (tables or set()) - made
        made |= _created(words)
    assert read <= set(model.reads), f"sql/{name}.sql reads {sorted(read - set(model.reads))}, not declared"
    named = {w.strip('"') for s in model.statements for kind, w in _words(s.text) if kind != duckdb.token_type.comment}
    assert set(model.reads) <= named, f"sql/{name}.sql declares reads it never names: {set(model.reads) - named}"


def _call_sites() -> list[tuple[str, int, str, ast.Call, str]]:
    """(file, line, name pattern, call, runner) of every call in assets/ and pipelines/ that names a SQL file."""
    sites = []
    for path in sorted([*(REPO / "assets").rglob("*.py"), *(REPO / "pipelines").rglob("*.py")]):
        relative = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            runner = node.func.id
            if runner in RUNNERS:
                prefix, position = RUNNERS[runner], 1 if runner == "run_model" else 0
            elif (relative, runner) == REPORT_RUNNER[:2]:
                prefix, position = REPORT_RUNNER[2], 1
            else:
                continue
            if len(node.args) <= position:
                continue  # the definition's own recursion or a pass-through (checked where the name is spelt)
            arg = node.args[position]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                pattern = prefix + arg.value
            elif isinstance(arg, ast.JoinedStr):
                pattern = prefix + "".join(v.value if isinstance(v, ast.Constant) else "*" for v in arg.values)
            else:
                continue
            sites.append((relative, node.lineno, pattern, node, runner))
    return sites


SITES = _call_sites()


def test_call_sites_name_existing_files_and_every_file_is_called() -> None:
    assert len(SITES) > 40
    unmatched = [f"{f}:{line} {p}" for f, line, p, _, _ in SITES if not any(fnmatch(m, p) for m in MODELS)]
    assert not unmatched
    called = {m for m in MODELS if any(fnmatch(m, p) for _, _, p, _, _ in SITES)}
    assert set(MODELS) - called == set()


def test_call_sites_that_spell_out_their_params_give_exactly_the_declared_ones() -> None:
    checked, wrong = 0, []
    for relative, line, pattern, call, runner in SITES:
        position = 2 if runner in ("run_model", "_rows") else None
        given = call.args[position] if position is not None and len(call.args) > position else None
        given = given or next((k.value for k in call.keywords if k.arg == "params"), None)
        shared = any(k.arg == "shared" for k in call.keywords) or runner == "_rows"
        names = [m for m in MODELS if fnmatch(m, pattern)]
        if runner == "run_model" and given is None:
            declared = {n: load_model(n).params for n in names}
            wrong += [f"{relative}:{line} {n} takes {sorted(p)}, given none" for n, p in declared.items() if p]
            checked += 1
        elif isinstance(given, ast.Dict) and None not in given.keys:
            keys = {k.value for k in given.keys if isinstance(k, ast.Constant)}
            for name in names:
                declared = set(load_model(name).params)
                if keys != declared and not (shared and keys <= declared):
                    wrong.append(f"{relative}:{line} {name} takes {sorted(declared)}, given {sorted(keys)}")
            checked += 1
    assert checked > 10
    assert not wrong


def test_statements_are_split_and_params_found_by_the_parser_not_in_strings_or_comments() -> None:
    text = (
        "-- header: $in_comment; not a statement\n"
        "select '$in_string; -- not a comment' as a, $real as b /* $in_block; */ -- × $after\n"
        ";\n/* between */ select 'it''s $x' as c, $other where $real = 1 -- trailing\n"
    )
    found = statements(text)
    assert [s.params for s in found] == [frozenset({"real"}), frozenset({"other", "real"})]
    assert [s.text for s in found] == [
        "select '$in_string; -- not a comment' as a, $real as b",
        "select 'it''s $x' as c, $other where $real = 1",
    ]
    assert split_statements(text) == [s.text for s in found]
    con = duckdb.connect()
    assert run_sql(con, text, {"real": 1, "other": 2, "unused": 3}) == [("it's $x", 2)]
    statement, bound = single_statement("select $a -- $b\n;", {"a": 1, "b": 2})
    assert (statement, bound) == ("select $a", {"a": 1})
    with pytest.raises(KeyError, match="real"):
        run_sql(con, text, {"other": 2})


@pytest.fixture
def sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sql, "SQL_DIR", tmp_path)
    load_model.cache_clear()
    yield tmp_path
    load_model.cache_clear()


def test_run_model_takes_exactly_the_declared_params_and_needs_what_it_reads(sql_dir: Path) -> None:
    (sql_dir / "m.sql").write_text(
        "-- m: doubles the values of t from $since on\n-- reads: t\n-- params: $since, $factor\n"
        "-- output: (v) rows\nselect v * $factor from t where v >= $since order by 1\n"
    )
    con = duckdb.connect()
    with pytest.raises(ValueError, match=r"reads t, which does not exist"):
        run_model(con, "m", {"since": 1, "factor": 2})
    con.execute("create table t as select unnest([1, 2, 3]) as v")
    assert run_model(con, "m", {"since": 2, "factor": 10}) == [(20,), (30,)]
    with pytest.raises(ValueError, match=r"missing \$factor, not declared none"):
        run_model(con, "m", {"since": 2})
    with pytest.raises(ValueError, match=r"missing none, not declared \$day"):
        run_model(con, "m", {"since": 2, "factor": 1, "day": date(2026, 1, 1)})
    assert run_model(con, "m", {"since": 3, "factor": 1, "day": date(2026, 1, 1)}, shared=True) == [(3,)]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("-- m: x\n-- reads: t\n-- params: $a\n", r"m.sql: the header lacks -- output:"),
        ("-- reads: t\n-- params: $a\n-- output: rows\n", r"m.sql: the header lacks a description line"),
        ("-- m: x\n-- reads: t\n-- params: none\n-- output: rows\n", r"declares params none, its statements use \$a"),
        ("-- m: x\n-- reads: t\n-- params: $a, $b\n-- output: rows\n", r"declares params \$a, \$b, its .* use \$a"),
    ],
)
def test_a_header_that_lacks_a_field_or_declares_other_params_is_refused(sql_dir: Path, header: str, error: str):
    (sql_dir / "m.sql").write_text(header + "select * from t where a = $a -- $b is not a param here\n")
    with pytest.raises(ValueError, match=error):
        load_model("m")


def test_a_header_field_continues_on_indented_lines_and_ends_at_the_first_other_comment(sql_dir: Path) -> None:
    (sql_dir / "m.sql").write_text(
        "-- m: the rows of t\n-- and of u\n-- reads: t,\n--   u\n-- params: $a\n-- output: rows of t\n"
        "-- and u\n-- a comment on the query, not part of the header\nselect * from t, u where t.a = $a\n"
    )
    model = load_model("m")
    assert (model.description, model.reads, model.params, model.output) == (
        "m: the rows of t and of u",
        ("t", "u"),
        frozenset({"a"}),
        "rows of t",
    )
