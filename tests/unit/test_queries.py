"""Named Cypher queries: every file parses, every name the code uses exists, values are parameters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provenance_graph.errors import QueryError
from provenance_graph.queries import QueryLibrary, cypher_dir, queries

PACKAGE = Path(__file__).resolve().parents[2] / "provenance_graph"


def test_every_query_file_parses_into_named_documented_queries() -> None:
    library = queries()
    assert len(library.names()) >= 30
    for name in library.names():
        query = library[name]
        assert query.text
        assert not query.text.endswith(";")
        assert "// name:" not in query.text
        assert query.metadata == {"app": "provenance-graph", "query_name": name}


def test_every_query_name_used_in_the_code_exists() -> None:
    library = queries()
    used: set[str] = set()
    pattern = re.compile(r"""\.(?:read|write|write_with|autocommit)\(\s*["']([a-z_]+)["']""")
    for path in PACKAGE.rglob("*.py"):
        used |= set(pattern.findall(path.read_text()))
    assert used, "no query calls found"
    missing = sorted(n for n in used if n not in library)
    assert not missing, f"queries used in code but not defined: {missing}"


def test_no_query_text_is_assembled_from_python_values() -> None:
    """Cypher keywords never appear inside f-strings or %-formatting in the package."""
    suspicious = re.compile(r"""f["'][^"']*\b(MATCH|MERGE|CREATE|SET|WHERE|RETURN|UNWIND)\b""")
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if suspicious.search(p.read_text())]
    assert offenders == []


def test_unknown_names_get_a_suggestion() -> None:
    with pytest.raises(QueryError, match="did you mean 'plan_summary'|did you mean 'plan_list'") as info:
        queries()["plan_lsit"]
    assert "no named query 'plan_lsit'" in str(info.value)


def test_malformed_files_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.cypher").write_text("// name: one\nRETURN 1;\n// name: one\nRETURN 2;\n")
    with pytest.raises(QueryError, match="defined in both"):
        QueryLibrary(tmp_path)
    (tmp_path / "a.cypher").write_text("RETURN 0;\n// name: one\nRETURN 1;\n")
    with pytest.raises(QueryError, match="before the first"):
        QueryLibrary(tmp_path)
    (tmp_path / "a.cypher").write_text("// name: empty\n// nothing here\n")
    with pytest.raises(QueryError, match="has no Cypher text"):
        QueryLibrary(tmp_path)


def test_docs_and_parameters_are_extracted(tmp_path: Path) -> None:
    (tmp_path / "x.cypher").write_text(
        "// file comment\n\n// name: lineage\n// Upstream of a dataset.\n// Second line.\n"
        "MATCH (d:Dataset {id: $dataset_id}) WHERE d.run = $run\nRETURN d;\n"
    )
    q = QueryLibrary(tmp_path)["lineage"]
    assert q.doc == "Upstream of a dataset. Second line."
    assert q.parameters == {"dataset_id", "run"}
    assert q.text.startswith("MATCH")


def test_cypher_dir_is_the_checkout_or_packaged_copy() -> None:
    assert (cypher_dir() / "migrations.cypher").is_file()
