"""Search indexes through the engine: ranking on small known corpora, snippets, Unicode, the
query language's errors, the SQL table functions and rebuilds that never leave a gap."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from policies.access import unrestricted
from policies.identity import Identity
from sidecar.engine import Engine
from sidecar.errors import ErrorCode, SidecarError
from sidecar.search import chunking, query
from sidecar.search.fusion import reciprocal_rank_fusion
from tests.engines import loaded_engine, rows

DOCS = {
    "pool.md": "# Payment pool exhaustion\n\nCheckout requests hang while they wait for a "
    "connection from the payment pool. The pool is exhausted.\n\n## Fix\n\nRestore "
    "PAYMENT_POOL_SIZE=50 and roll back the deploy.\n",
    "leak.md": "# Database connection leaks\n\nConnections stay idle in transaction; the "
    "database pool runs out over days.\n",
    "disk.md": "# Disk full on the log volume\n\nThe node's disk fills with logs. Rotate them "
    "and delete old archives.\n",
    "cafe.md": "# Café résumé\n\nNaïve Über notes about the café: 日本語 の テキスト.\n",
    "dns.md": "# DNS resolution failures\n\nLookups time out; pods cannot resolve service "
    "names. Check CoreDNS.\n",
}


def write_docs(folder: Path, docs: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text)


def engine_for(root: Path, search: dict, **dataset: object) -> Engine:
    return loaded_engine(
        {
            "datasets": [
                {"from": "file:docs", "name": "docs", "search": search, **dataset},
                {"from": "file:deploys.csv", "name": "deploys"},
            ],
            "views": [{"name": "doc_titles", "sql": "SELECT title FROM docs"}],
        },
        root,
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("search")
    write_docs(root / "docs", DOCS)
    (root / "deploys.csv").write_text("path,version\npool.md,v2.14.0\ndisk.md,v1.0.0\n")
    return engine_for(root, {"text": ["title", "content"], "key": "path"})


def failure(engine: Engine, sql: str) -> SidecarError:
    with pytest.raises(SidecarError) as caught:
        rows(engine, sql)
    return caught.value


def test_ranking_puts_the_document_about_it_first(engine: Engine) -> None:
    found = rows(engine, "SELECT path, score FROM text_search('docs', 'pool exhausted', 3)")
    assert [row["path"] for row in found[:2]] == ["pool.md", "leak.md"]
    assert found[0]["score"] > found[1]["score"] > 0
    assert len(found) == 2  # only documents that match at all


def test_stems_phrases_prefixes_and_operators(engine: Engine) -> None:
    def paths(text: str) -> list[str]:
        sql = f"SELECT path FROM text_search('docs', '{text}', 10)"
        return [row["path"] for row in rows(engine, sql)]

    assert paths("exhausting pools")[0] == "pool.md"  # English stems
    assert paths('"payment pool"') == ["pool.md"]
    assert paths('"pool exhausted"') == ["pool.md"]
    assert paths('"exhausted pool"') == []  # word order matters in a phrase
    assert paths("resolv*") == ["dns.md"]
    assert paths('"the payment po"*') == ["pool.md"]
    assert paths('"requests ha"*') == ["pool.md"]  # whole words stemmed, the prefix not
    assert paths("pool -payment") == ["leak.md"]
    assert paths("pool AND database") == ["leak.md"]
    assert paths("title:disk") == ["disk.md"]
    assert sorted(paths("content:(coredns OR archives)")) == ["disk.md", "dns.md"]
    assert paths("PAYMENT_POOL_SIZE") == ["pool.md"]


def test_snippets_mark_the_matched_words(engine: Engine) -> None:
    (hit,) = rows(engine, "SELECT snippet, chunk FROM text_search('docs', 'exhausted', 1)")
    assert "<em>exhausted</em>" in hit["snippet"]
    assert "Checkout requests hang" in hit["chunk"]


def test_unicode_is_folded_and_highlighted(engine: Engine) -> None:
    for text in ("cafe", "café", "CAFÉ", "resume", "naive", "uber", "日本語"):
        found = rows(engine, f"SELECT path, snippet FROM text_search('docs', '{text}', 3)")
        assert [row["path"] for row in found] == ["cafe.md"], text
        assert "<em>" in found[0]["snippet"]
    (hit,) = rows(engine, "SELECT snippet FROM text_search('docs', 'cafe', 1)")
    assert "<em>Café</em>" in hit["snippet"]


def test_results_join_filter_and_sort_like_a_table(engine: Engine) -> None:
    found = rows(
        engine,
        "SELECT g.path, d.version FROM text_search('docs', 'pool disk logs', 5) AS g "
        "JOIN deploys d ON d.path = g.path ORDER BY g.score DESC",
    )
    assert {row["path"]: row["version"] for row in found} == {
        "pool.md": "v2.14.0",
        "disk.md": "v1.0.0",
    }
    filtered = rows(
        engine,
        "SELECT path FROM text_search('docs', 'pool', 5) WHERE path LIKE 'l%' AND score > 0",
    )
    assert filtered == [{"path": "leak.md"}]
    columns = rows(engine, "SELECT * FROM text_search('docs', 'dns', 1)")[0].keys()
    assert list(columns) == ["path", "title", "content", "modified_at", "score", "snippet", "chunk"]


def test_explain_shows_the_search(engine: Engine) -> None:
    text = engine.explain("SELECT title FROM text_search('docs', 'pool', 3) t")
    assert "text_search(docs) AS t: text_search 'pool' limit=3: BM25 over title, content" in text
    assert "5 rows in 5 chunks" in text


def test_search_errors_point_at_the_character(engine: Engine) -> None:
    sql = "SELECT * FROM text_search('docs', 'pool \"exhausted', 3)"
    error = failure(engine, sql)
    assert error.code is ErrorCode.SYNTAX
    assert "unterminated phrase" in error.message
    assert error.position == sql.index('"exhausted') + 1
    for text, position, words in (
        ("pool AND", 6, "AND needs words on both sides"),
        ("(pool OR leak", 1, "unclosed ("),
        ("pool)", 5, "unmatched )"),
        ("*", 1, "a prefix needs at least one character"),
        ("+ pool", 1, "+ must stand right before a word"),
        ("title:", 1, "title: must be followed by"),
    ):
        sql = f"SELECT * FROM text_search('docs', '{text}', 3)"
        error = failure(engine, sql)
        assert words in error.message, text
        assert error.position == sql.index(f"'{text}'") + position + 1, text


def test_empty_and_bad_arguments_are_clear(engine: Engine) -> None:
    assert "search text is empty" in failure(engine, "SELECT * FROM search('docs', '  ')").message
    error = failure(engine, "SELECT * FROM text_search('doc', 'x')")
    assert error.code is ErrorCode.UNDEFINED_TABLE and "did you mean docs" in (error.hint or "")
    assert error.position == len("SELECT * FROM text_search('") + 1
    error = failure(engine, "SELECT * FROM text_search('doc_titles', 'x')")
    assert "not a dataset" in error.message
    error = failure(engine, "SELECT * FROM text_search('deploys', 'x')")
    assert "deploys is not searchable" in error.message
    error = failure(engine, "SELECT * FROM text_search('docs', 'x', 0)")
    assert "limit must be between 1" in error.message
    error = failure(engine, "SELECT * FROM text_search('docs', title, 3)")
    assert "must be a string literal" in error.message
    error = failure(engine, "SELECT * FROM text_search('docs')")
    assert "takes 2 or 3 arguments" in error.message
    error = failure(engine, "SELECT * FROM vector_search('docs', 'pool', 3)")
    assert "no vector index" in error.message


def test_parameters_bind_into_the_search(engine: Engine) -> None:
    result = engine.query("SELECT path FROM text_search('docs', $1, $2)", ["coredns", 2])
    assert pa.Table.from_batches(list(result)).to_pylist() == [{"path": "dns.md"}]


def test_the_guard_still_refuses_other_table_functions(engine: Engine) -> None:
    error = failure(engine, "SELECT * FROM read_parquet('x.parquet')")
    assert error.code is ErrorCode.FORBIDDEN


def test_search_without_vectors_is_the_text_ranking(engine: Engine) -> None:
    text = [r["path"] for r in rows(engine, "SELECT path FROM text_search('docs', 'pool', 5)")]
    hybrid = [r["path"] for r in rows(engine, "SELECT path FROM search('docs', 'pool', 5)")]
    assert hybrid == text


def test_rebuilt_after_refresh_without_a_gap(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", {"a.md": "# Alpha\n\nalpha words\n"})
    (tmp_path / "deploys.csv").write_text("path,version\n")
    engine = engine_for(tmp_path, {"text": ["title", "content"]})
    errors: list[Exception] = []
    seen: set[tuple[str, ...]] = set()
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                found = rows(engine, "SELECT path FROM text_search('docs', 'alpha beta', 10)")
                seen.add(tuple(sorted(row["path"] for row in found)))
            except Exception as error:
                errors.append(error)

    reader = threading.Thread(target=search)
    reader.start()
    try:
        for round_ in range(6):
            (tmp_path / "docs" / f"b{round_}.md").write_text(f"# Beta {round_}\n\nbeta words\n")
            engine.refresh("docs")
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert ("a.md",) in seen or len(seen) > 1
    final = rows(engine, "SELECT path FROM text_search('docs', 'beta', 10)")
    assert len(final) == 6
    assert engine.search.entries["docs"].builds == 7


def test_accelerated_index_follows_the_copy(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", {"a.md": "# Alpha\n\nalpha\n"})
    (tmp_path / "deploys.csv").write_text("path,version\n")
    engine = engine_for(
        tmp_path, {"text": ["content"]}, acceleration={"engine": "arrow", "mode": "memory"}
    )
    assert rows(engine, "SELECT path FROM text_search('docs', 'gamma', 5)") == []
    (tmp_path / "docs" / "c.md").write_text("# Gamma\n\ngamma\n")
    engine.refresh("docs")
    assert rows(engine, "SELECT path FROM text_search('docs', 'gamma', 5)") == [{"path": "c.md"}]


def test_file_mode_survives_a_restart_without_the_source(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", DOCS)
    (tmp_path / "deploys.csv").write_text("path,version\n")
    settings = {"text": ["title", "content"], "mode": "file"}
    first = engine_for(tmp_path, settings)
    expected = rows(first, "SELECT path, score FROM text_search('docs', 'pool', 5)")
    first.close()
    stored = tmp_path / ".sidecar" / "search" / "docs"
    assert (stored / "CURRENT").is_file()
    for path in (tmp_path / "docs").iterdir():
        path.unlink()
    (tmp_path / "docs").rmdir()
    second = engine_for(tmp_path, settings)
    assert rows(second, "SELECT path, score FROM text_search('docs', 'pool', 5)") == expected
    builds = [p for p in stored.iterdir() if p.is_dir()]
    assert len(builds) == 1  # the failed background rebuild left the kept index in place
    changed = engine_for(tmp_path, {**settings, "text": ["content"]})
    error = failure(changed, "SELECT * FROM text_search('docs', 'pool', 5)")
    assert error.code is ErrorCode.NOT_READY  # other settings: the kept index is not reused


def test_columns_that_do_not_exist_fail_the_index_not_the_sidecar(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", DOCS)
    (tmp_path / "deploys.csv").write_text("path,version\n")
    engine = engine_for(tmp_path, {"text": ["body"]})
    status = engine.search.entries["docs"].status(unrestricted())
    assert status["state"] == "error" and "'body' is not a column of docs" in status["last_error"]
    assert rows(engine, "SELECT count(*) AS n FROM docs") == [{"n": 5}]


def test_chunks_follow_markdown_headings() -> None:
    text = (
        "# Title\n\nintro words\n\n## One\n\n" + "alpha " * 30 + "\n\n```\n# not a heading\n```\n"
    )
    text += "## Two\n\n" + "beta " * 30
    pieces = chunking.chunks(text, "heading", 45)
    assert [piece.split("\n")[0] for piece in pieces] == ["# Title", "## Two"]
    assert "# not a heading" in pieces[0]
    assert all(chunking.words(piece) <= 45 for piece in pieces)
    big = chunking.chunks("word " * 100, "size", 30)
    assert [chunking.words(piece) for piece in big] == [30, 30, 30, 10]


def test_query_language_tree() -> None:
    tree = query.parse('+pool "connection po"* -stripe title:leak exhaust*', ["title"])
    occurs = [(c.occur, c.node.text, c.node.prefix, c.node.field) for c in tree.clauses]
    assert occurs == [
        ("must", "pool", False, None),
        ("should", "connection po", True, None),
        ("must_not", "stripe", False, None),
        ("should", "leak", False, "title"),
        ("should", "exhaust", True, None),
    ]
    assert query.parse("http://x:80/y", ["title"]).clauses[0].node.text == "http://x:80/y"


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]])
    assert [item for item, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


def test_policies_hide_datasets_mask_columns_and_filter_rows(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", DOCS)
    (tmp_path / "deploys.csv").write_text("path,version\n")
    engine = loaded_engine(
        {
            "datasets": [
                {"from": "file:docs", "name": "docs", "search": {"text": ["title", "content"]}},
                {"from": "file:deploys.csv", "name": "deploys"},
            ],
            "policies": [
                {"identities": ["sre"], "datasets": ["*"]},
                {
                    "identities": ["intern"],
                    "datasets": ["docs"],
                    "columns": {"docs.content": "mask"},
                },
                {
                    "identities": ["auditor"],
                    "datasets": ["docs"],
                    "rows": {"docs": "path <> 'pool.md'"},
                },
                {"identities": ["guest"], "datasets": ["deploys"]},
            ],
        },
        tmp_path,
    )

    def run(who: str, sql: str) -> list[dict]:
        result = engine.query(sql, [], Identity(who))
        return pa.Table.from_batches(list(result), schema=result.schema).to_pylist()

    for function in ("text_search", "vector_search", "search"):
        with pytest.raises(SidecarError) as caught:
            run("guest", f"SELECT * FROM {function}('docs', 'pool', 3)")
        assert caught.value.code is ErrorCode.UNDEFINED_TABLE
        assert "docs" not in (caught.value.hint or "")
    with pytest.raises(SidecarError) as caught:
        run("guest", "SELECT * FROM text_search('deploys', 'x', 3)")
    assert "not searchable" in caught.value.message and "docs" not in (caught.value.hint or "")
    # a masked column is not matched, and neither it nor its passages are shown
    assert run("sre", "SELECT path FROM text_search('docs', 'coredns', 3)") == [{"path": "dns.md"}]
    assert run("intern", "SELECT path FROM text_search('docs', 'coredns', 3)") == []
    (hit,) = run(
        "intern", "SELECT path, content, chunk, snippet FROM text_search('docs', 'dns', 3)"
    )
    assert hit == {
        "path": "dns.md",
        "content": "****",
        "chunk": "****",
        "snippet": "<em>DNS</em> resolution failures",
    }
    # the limit counts the rows the caller may see
    assert run("sre", "SELECT path FROM text_search('docs', 'pool', 1)") == [{"path": "pool.md"}]
    assert run("auditor", "SELECT path FROM text_search('docs', 'pool', 1)") == [
        {"path": "leak.md"}
    ]


def test_refresh_check_interval_rebuilds_an_index(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", {"a.md": "# Alpha\n\nalpha\n"})
    (tmp_path / "deploys.csv").write_text("path,version\n")
    engine = engine_for(tmp_path, {"text": ["content"], "refresh_check_interval": "100ms"})
    try:
        (tmp_path / "docs" / "z.md").write_text("# Zeta\n\nzeta\n")
        deadline = time.monotonic() + 10
        while not rows(engine, "SELECT path FROM text_search('docs', 'zeta', 5)"):
            assert time.monotonic() < deadline, "the index was not rebuilt"
            time.sleep(0.05)
    finally:
        engine.close()
