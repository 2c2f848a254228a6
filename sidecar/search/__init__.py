"""Ranked search over datasets: BM25 full-text (tantivy), vectors (usearch) and both fused.

A dataset with a `search:` block gets an index when it loads, rebuilt after each refresh and
swapped in whole, so a search never sees half an index. The index keeps the rows it was built
from, so a hit carries the dataset's columns plus `score`, `snippet` and `chunk`. SQL reaches
it through the table functions `text_search`, `vector_search` and `search` (`functions`), and
HTTP's `/v1/search` and the model's `search` tool are SQL underneath.

tantivy and usearch are imported only when an index is built or opened, so configurations
without `search:` never pay for them.
"""
