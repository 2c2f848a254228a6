"""BM25 full-text search with tantivy: one document per chunk of each row.

Documents carry the row's position and the chunk's global number (the same numbering the
vector index uses), both as fast fields, so hits map back to rows without reading documents.

Every text column becomes a tantivy field analysed the same way (words lower-cased, accents
folded, English stems), so `Pools` matches `pool` and `cafe` matches `café`. Scores are
tantivy's BM25; a row's score is that of its best chunk, and its snippet is cut from that
chunk around the matched words, which are marked `<em>…</em>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.search.query import Clause, Group, Words

ANALYZER = "sidecar_en"
ROW, CHUNK = "row", "chunk"
SNIPPET_CHARS = 200
MAX_PREFIX_TERMS = 64
WRITER_HEAP = 64 << 20
HIGHLIGHT = ("<em>", "</em>")


@dataclass(frozen=True)
class TextHit:
    row: int
    chunk: int
    score: float
    snippet: str


def _tantivy() -> Any:
    import tantivy

    return tantivy


def _analyzer(stem: bool) -> Any:
    tantivy = _tantivy()
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


def _field(position: int) -> str:
    """Columns are stored under neutral names: column names may be anything SQL allows."""
    return f"t{position}"


class TextIndex:
    """A tantivy index over `columns`; snippets prefer the chunked column, else the last one
    (`text: [title, content]` puts the body last)."""

    def __init__(self, index: Any, columns: Sequence[str], chunked: str | None) -> None:
        tantivy = _tantivy()
        self.index = index
        self.index.register_tokenizer(ANALYZER, _analyzer(stem=True))
        self.columns = list(columns)
        self.fields = {column: _field(i) for i, column in enumerate(self.columns)}
        body = chunked if chunked in self.fields else self.columns[-1]
        self.snippet_order = [body] + [c for c in reversed(self.columns) if c != body]
        self.schema = index.schema
        self.stem = _analyzer(stem=True)
        self.fold = _analyzer(stem=False)
        self.index.reload()
        self.searcher = self.index.searcher()
        self.documents = self.searcher.num_docs
        self._occurs = {
            "should": tantivy.Occur.Should,
            "must": tantivy.Occur.Must,
            "must_not": tantivy.Occur.MustNot,
        }

    @classmethod
    def build(
        cls,
        columns: Sequence[str],
        chunked: str | None,
        documents: Iterable[tuple[int, int, Sequence[str | None]]],
        path: Path | None,
    ) -> TextIndex:
        """Index (row, chunk, texts) triples; `path` None keeps the index in memory."""
        tantivy = _tantivy()
        builder = tantivy.SchemaBuilder()
        builder.add_unsigned_field(ROW, stored=True, indexed=True, fast=True)
        builder.add_unsigned_field(CHUNK, stored=True, fast=True)
        for position in range(len(columns)):
            builder.add_text_field(_field(position), stored=True, tokenizer_name=ANALYZER)
        schema = builder.build()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(schema, path=str(path) if path else None, reuse=False)
        index.register_tokenizer(ANALYZER, _analyzer(stem=True))
        writer = index.writer(WRITER_HEAP, 1)
        for row, chunk, texts in documents:
            document = tantivy.Document()
            document.add_unsigned(ROW, row)
            document.add_unsigned(CHUNK, chunk)
            for position, text in enumerate(texts):
                if text:
                    document.add_text(_field(position), text)
            writer.add_document(document)
        writer.commit()
        writer.wait_merging_threads()
        return cls(index, columns, chunked)

    @classmethod
    def open(cls, path: Path, columns: Sequence[str], chunked: str | None) -> TextIndex:
        return cls(_tantivy().Index.open(str(path)), columns, chunked)

    def search(self, tree: Group, limit: int, columns: Sequence[str]) -> list[TextHit]:
        """The `limit` best rows for the query over `columns` (a subset of the indexed ones)."""
        query = self._group(tree, [c for c in self.columns if c in columns])
        if query is None or limit <= 0:
            return []
        best: dict[int, tuple[float, Any]] = {}
        depth = limit * 4
        while True:
            hits = self.searcher.search(query, depth, count=False).hits
            rows = self.searcher.fast_field_values(ROW, [address for _, address in hits])
            for (score, address), row in zip(hits, rows, strict=True):
                if row not in best:
                    best[row] = (score, address)
            if len(best) >= limit or len(hits) < depth:
                break
            best.clear()
            depth *= 4
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
        return self._hits(query, ranked, columns)

    def _hits(
        self, query: Any, ranked: list[tuple[int, tuple[float, Any]]], columns: Sequence[str]
    ) -> list[TextHit]:
        snippets = _Snippets(self, query, [c for c in self.snippet_order if c in columns])
        chunks = self.searcher.fast_field_values(CHUNK, [address for _, (_, address) in ranked])
        return [
            TextHit(row, chunk, score, snippets.of(self.searcher.doc(address)))
            for (row, (score, address)), chunk in zip(ranked, chunks, strict=True)
        ]

    def _group(self, group: Group, columns: list[str]) -> Any:
        tantivy = _tantivy()
        parts = [(clause.occur, self._clause(clause, columns)) for clause in group.clauses]
        kept = [(self._occurs[occur], query) for occur, query in parts if query is not None]
        if not kept:
            return None
        if all(occur == "must_not" for occur, query in parts if query is not None):
            kept.append((tantivy.Occur.Must, tantivy.Query.all_query()))
        return tantivy.Query.boolean_query(kept)

    def _clause(self, clause: Clause, columns: list[str]) -> Any:
        if isinstance(clause.node, Group):
            return self._group(clause.node, columns)
        return self._words(clause.node, columns)

    def _words(self, words: Words, columns: list[str]) -> Any:
        tantivy = _tantivy()
        targets = [words.field] if words.field else columns
        per_field = [
            query
            for column in targets
            if column in columns
            for query in [self._in_field(words, self.fields[column])]
            if query is not None
        ]
        if not per_field:
            return None
        if len(per_field) == 1:
            return per_field[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in per_field])

    def _in_field(self, words: Words, field: str) -> Any:
        tantivy = _tantivy()
        Query = tantivy.Query
        if words.prefix:
            tokens = self.fold.analyze(words.text)
            if len(tokens) > 1:
                # The whole words are indexed stemmed ("requests" as "request"); only the
                # last, a prefix of a word, is matched unstemmed.
                tokens = [*self.stem.analyze(" ".join(tokens[:-1])), tokens[-1]]
                return Query.phrase_prefix_query(self.schema, field, tokens)
            if not tokens:
                return None
            expansions = self.searcher.terms_with_prefix(field, tokens[0], limit=MAX_PREFIX_TERMS)
            if not expansions:
                return None
            return Query.boolean_query(
                [
                    (tantivy.Occur.Should, Query.term_query(self.schema, field, term))
                    for term, _ in expansions
                ]
            )
        tokens = self.stem.analyze(words.text)
        if not tokens:
            return None
        if len(tokens) == 1:
            return Query.term_query(self.schema, field, tokens[0])
        return Query.phrase_query(self.schema, field, tokens)


class _Snippets:
    """Snippets of one query's hits: from the first column (the chunked one, else the last,
    usually the body) whose text holds a match, cut around the matches; else its opening.
    A column's generator is made only when a hit needs it."""

    def __init__(self, index: TextIndex, query: Any, columns: list[str]) -> None:
        self.index = index
        self.query = query
        self.columns = columns
        self.generators: dict[str, Any] = {}

    def of(self, document: Any) -> str:
        for column in self.columns:
            snippet = self._generator(column).snippet_from_doc(document)
            if snippet.highlighted():
                return _marked(snippet.fragment(), snippet.highlighted())
        values = document.to_dict()
        for column in self.columns:
            text = (values.get(self.index.fields[column]) or [""])[0]
            if text:
                return text[:SNIPPET_CHARS]
        return ""

    def _generator(self, column: str) -> Any:
        if column not in self.generators:
            generator = _tantivy().SnippetGenerator.create(
                self.index.searcher, self.query, self.index.schema, self.index.fields[column]
            )
            generator.set_max_num_chars(SNIPPET_CHARS)
            self.generators[column] = generator
        return self.generators[column]


def _marked(fragment: str, ranges: Sequence[Any]) -> str:
    """Mark the highlighted ranges; tantivy gives them as byte offsets into the fragment."""
    data = fragment.encode()
    out, cursor = [], 0
    for highlight in sorted(ranges, key=lambda r: r.start):
        out.append(data[cursor : highlight.start].decode(errors="ignore"))
        out.append(HIGHLIGHT[0] + data[highlight.start : highlight.end].decode(errors="ignore"))
        out.append(HIGHLIGHT[1])
        cursor = highlight.end
    out.append(data[cursor:].decode(errors="ignore"))
    return "".join(out).strip()
