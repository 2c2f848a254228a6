"""Texts longer than an embedding model's context, embedded whole for the search indexes.

llama.cpp cuts an input at the context (512 tokens for MiniLM), so the vector of a long
runbook said nothing of its end, and a question about that end could not find it. A text past
the context is embedded a window at a time instead, and its vector is the mean of the windows'
unit vectors, weighted by their tokens: every part counts as much as its length, and a text
that fits is embedded exactly as before. /v1/embeddings does not use this: an OpenAI client
expects a too-long input refused (context_length_exceeded), not averaged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# tokens left for what the model adds around an input (BOS, or BERT's CLS and SEP) and for
# a window's text tokenizing a little longer than its tokens did at a cut
MARGIN = 8


def embed_whole(embedder: Any, texts: Sequence[str], context: int) -> list[list[float]]:
    """One vector per text, from `embedder` (a llama_cpp.Llama with embeddings on) whose
    inputs hold `context` tokens."""
    size = max(1, context - MARGIN)
    pieces: list[str] = []
    weights: list[list[int]] = []
    for text in texts:
        encoded = text.encode("utf-8")
        # a token spans a byte at least: a text of fewer bytes than a window fits untokenized
        tokens = embedder.tokenize(encoded, add_bos=False) if len(encoded) >= size else []
        if len(tokens) <= size:
            pieces.append(text)
            weights.append([1])
            continue
        windows = [tokens[start : start + size] for start in range(0, len(tokens), size)]
        pieces.extend(embedder.detokenize(w).decode("utf-8", errors="ignore") for w in windows)
        weights.append([len(window) for window in windows])
    vectors = iter(embedder.embed(pieces, truncate=True))
    return [_mean([next(vectors) for _ in each], each) for each in weights]


def _mean(vectors: list[Sequence[float]], weights: list[int]) -> list[float]:
    """The windows' unit vectors weighted by their tokens (a lone vector as it is: cosine
    similarity does not see its length)."""
    if len(vectors) == 1:
        return list(vectors[0])
    total = [0.0] * len(vectors[0])
    for vector, weight in zip(vectors, weights, strict=True):
        scale = weight / (math.sqrt(sum(x * x for x in vector)) or 1.0)
        total = [t + x * scale for t, x in zip(total, vector, strict=True)]
    return total
