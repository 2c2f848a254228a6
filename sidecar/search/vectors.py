"""Vector search: an HNSW graph (usearch) over the embeddings of every chunk.

Vectors come from the sidecar's own embedding model (a `models:` entry with
`params.embedding: true`), so documents and questions are embedded by the same model, on this
machine. Similarity is cosine; a hit's score is 1 - cosine distance (1 is identical).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]
BATCH = 32
EXACT_BELOW = 10_000


def _usearch() -> Any:
    from usearch.index import Index

    return Index


def embed_all(embed: Embed, texts: Sequence[str]) -> np.ndarray:
    """All texts embedded, a batch at a time (a model's context holds a few at once)."""
    vectors: list[Sequence[float]] = []
    for start in range(0, len(texts), BATCH):
        vectors.extend(embed(texts[start : start + BATCH]))
    return np.asarray(vectors, dtype=np.float32)


class VectorIndex:
    def __init__(self, index: Any) -> None:
        self.index = index
        self.dimensions = int(index.ndim)

    @classmethod
    def build(cls, vectors: np.ndarray, path: Path | None) -> VectorIndex:
        """Key i is chunk i; `path` keeps the index in a file."""
        index = _usearch()(ndim=vectors.shape[1], metric="cos", dtype="f32")
        if len(vectors):
            index.add(np.arange(len(vectors), dtype=np.uint64), vectors)
        if path is not None:
            index.save(str(path))
        return cls(index)

    @classmethod
    def open(cls, path: Path) -> VectorIndex:
        return cls(_usearch().restore(str(path), view=True))

    def search(self, vector: Sequence[float], limit: int) -> list[tuple[int, float]]:
        """(chunk, similarity) of the `limit` nearest chunks, nearest first.

        Small indexes are searched exhaustively: exact, and as fast as the graph there."""
        if limit <= 0 or len(self.index) == 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self.dimensions,):
            raise ValueError(
                f"the model gives {query.shape[-1]}-dimensional vectors but the index holds "
                f"{self.dimensions}: rebuild the index (refresh the dataset)"
            )
        matches = self.index.search(
            query, min(limit, len(self.index)), exact=len(self.index) < EXACT_BELOW
        )
        return [
            (int(key), 1.0 - float(distance))
            for key, distance in zip(matches.keys, matches.distances, strict=True)
        ]
